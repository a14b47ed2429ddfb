"""Canary rules: act on a fixed share of matching orders, shadow on the rest, compared."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from fulfillment.models import Rule, ShadowResult
from fulfillment.services.automation import order_automate, order_reprocess, orders_automate
from fulfillment.services.canary import canary_comparison
from fulfillment.services.rules import CompiledRule, OrderFacts, RuleSet, compile_condition
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import order_transition, order_update
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    make_rule,
    stock,
    stocked,
)

S = OrderStatus
YES = compile_condition("presale", "yes")


def canary(share: int, rule_id: int = 9, **actions) -> CompiledRule:
    return CompiledRule(id=rule_id, name="canary", mode="canary", canary_share=share,
                        conditions=(YES,), **actions)


# --- the share ---------------------------------------------------------------------------


@pytest.mark.parametrize("share", [5, 20, 50, 90])
def test_share_is_close_to_the_percentage_over_many_orders(share):
    rule = canary(share)
    picked = sum(rule.in_canary(order_id) for order_id in range(1, 20001))
    assert abs(picked / 20000 - share / 100) < 0.015


def test_share_is_deterministic_and_differs_per_rule():
    first, again, other = canary(30, rule_id=1), canary(30, rule_id=1), canary(30, rule_id=2)
    ids = range(1, 5001)
    mine = [i for i in ids if first.in_canary(i)]
    assert mine == [i for i in ids if again.in_canary(i)]
    # Another rule's 30% is a different set of orders (not always the same customers).
    assert mine != [i for i in ids if other.in_canary(i)]


def test_canary_acts_on_its_group_and_records_both():
    rule = canary(50, carrier="SF", carrier_service="express", tags=("canary",))
    inside = next(i for i in range(1, 1000) if rule.in_canary(i))
    outside = next(i for i in range(1, 1000) if not rule.in_canary(i))
    ruleset = RuleSet([rule])

    acted = ruleset.evaluate(OrderFacts(order_id=inside, presale=True))
    assert acted.carrier == "SF" and acted.tags == ["canary"] and acted.matched == [9]
    assert acted.canary == [(9, True, {"carrier": "SF", "carrier_service": "express",
                                       "tags": ["canary"]})]

    shadowed = ruleset.evaluate(OrderFacts(order_id=outside, presale=True))
    assert shadowed.carrier == "" and shadowed.tags == [] and shadowed.matched == []
    assert shadowed.canary == [(9, False, {"carrier": "SF", "carrier_service": "express",
                                           "tags": ["canary"]})]

    unmatched = ruleset.evaluate(OrderFacts(order_id=inside, presale=False))
    assert unmatched.canary == [] and unmatched.matched == []


def test_canary_keeps_its_position_among_active_rules():
    stopper = CompiledRule(id=1, name="stop", conditions=(YES,), tags=("first",), stop=True)
    rule = canary(99, rule_id=2, tags=("canary",))
    order_id = next(i for i in range(1, 1000) if rule.in_canary(i))
    outcome = RuleSet([stopper, rule]).evaluate(OrderFacts(order_id=order_id, presale=True))
    assert outcome.tags == ["first"] and outcome.canary == []


# --- through automation --------------------------------------------------------------------


def test_automation_applies_the_rule_to_the_canary_group_only(make_order, stocked):
    rule = make_rule("canary tag", mode="canary", canary_share=40, add_tags="canary",
                     conditions=[("province", "in", "上海市")])
    orders = [make_order(S.PAID) for _ in range(30)]
    orders_automate(order_ids=[o.pk for o in orders])
    results = {r.order_id: r for r in ShadowResult.objects.filter(rule=rule)}
    assert set(results) == {o.pk for o in orders}  # every matching order, once
    compiled = CompiledRule(id=rule.pk, name="", mode="canary", canary_share=40)
    for order in Order.objects.filter(pk__in=results).prefetch_related("tags"):
        applied = results[order.pk].applied
        assert applied == compiled.in_canary(order.pk)
        assert ("canary" in {t.name for t in order.tags.all()}) == applied
        assert (rule.pk in order.decision.matched_rules) == applied
    assert 0 < sum(r.applied for r in results.values()) < 30


def test_a_rerun_puts_the_order_in_the_same_group(make_order, stocked):
    rule = make_rule("canary carrier", mode="canary", canary_share=50, carrier="SF",
                     conditions=[("province", "in", "上海市")])
    order = make_order(S.PAID)
    order_automate(order=order)
    order_reprocess(order=order.pk, actor="system:test")
    groups = list(ShadowResult.objects.filter(rule=rule, order=order)
                  .values_list("applied", flat=True))
    assert len(groups) == 2 and len(set(groups)) == 1
    order.refresh_from_db()
    assert (order.carrier == "SF") == groups[0]


# --- the comparison ------------------------------------------------------------------------


def _record(rule, order, applied):
    ShadowResult.objects.create(rule=rule, order=order, matched=True, actions={},
                                applied=applied)


def _shipped(order, hours_after_payment):
    paid = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    Order.objects.filter(pk=order.pk).update(
        paid_at=paid, shipped_at=paid + dt.timedelta(hours=hours_after_payment))


def test_comparison_figures(make_order, make_user):
    rule = make_rule("canary", mode="canary", canary_share=50, carrier="SF",
                     conditions=[("province", "in", "上海市")])
    ops = make_user("ops")
    # applied group: 4 orders: 2 shipped on time, 1 shipped late, 1 out of stock and edited
    on_time = [make_order(S.SHIPPED) for _ in range(2)]
    late = make_order(S.SHIPPED)
    short = make_order(S.OUT_OF_STOCK)
    for order in on_time:
        _shipped(order, 20)
    _shipped(late, 60)
    order_update(order=short, actor=ops, changes={"buyer_message": "call first"},
                 reason="buyer asked")
    for order in [*on_time, late, short]:
        _record(rule, order, True)
        _record(rule, order, True)  # a re-run records again: counted once
    # shadow group: 2 orders: 1 shipped on time, 1 put on hold by a person
    shipped = make_order(S.SHIPPED)
    _shipped(shipped, 47)
    held = make_order(S.PAID)
    order_transition(order=held.pk, name="hold", actor=ops, reason="buyer called")
    _record(rule, shipped, False)
    _record(rule, held, False)
    # an order the rule did not match is in neither group
    ShadowResult.objects.create(rule=rule, order=make_order(S.PAID), matched=False)

    figures = canary_comparison(rule)

    a, s = figures.applied, figures.shadow
    assert (a.orders, a.shipped, a.on_time, a.out_of_stock, a.manual) == (4, 3, 2, 1, 1)
    assert (s.orders, s.shipped, s.on_time, s.out_of_stock, s.manual) == (2, 1, 1, 0, 1)
    assert a.on_time_pct == 66.7 and s.on_time_pct == 100.0
    assert a.out_of_stock_pct == 25.0 and s.manual_pct == 50.0
    assert figures.applied_share == 66.7


def test_empty_comparison(db):
    rule = Rule.objects.create(name="new canary", mode="canary", canary_share=10)
    figures = canary_comparison(rule)
    assert figures.applied.orders == figures.shadow.orders == 0
    assert figures.applied.on_time_pct is None and figures.applied_share is None


def test_rule_admin_page_shows_the_comparison(client, make_user, make_order):
    rule = make_rule("canary", mode="canary", canary_share=25, carrier="SF",
                     conditions=[("province", "in", "上海市")])
    for _ in range(3):
        _record(rule, make_order(S.PAID), True)
    _record(rule, make_order(S.OUT_OF_STOCK), False)
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:fulfillment_rule_change", args=[rule.pk])).content.decode()
    assert "Canary: applied against shadow" in page
    assert '<td class="applied-orders">3</td>' in page
    assert '<td class="shadow-orders">1</td>' in page
    assert "The rule acts on 25% of the orders it matches" in page


def test_admin_saves_a_canary_rule_and_checks_its_share(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    data = {
        "name": "try SF", "position": "10", "enabled": "on", "mode": "canary",
        "shadow_share": "100", "canary_share": "15", "match": "all", "warehouse": "",
        "carrier": "SF", "carrier_service": "", "priority": "", "add_tags": "",
        "hold_reason": "", "note": "",
        "conditions-TOTAL_FORMS": "1", "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0", "conditions-MAX_NUM_FORMS": "1000",
        "conditions-0-field": "province", "conditions-0-operator": "in",
        "conditions-0-value": "上海市",
    }
    url = reverse("admin:fulfillment_rule_add")
    assert client.post(url, data).status_code == 302
    assert Rule.objects.get().canary_share == 15
    data.update(name="all of them", canary_share="100")
    response = client.post(url, data)
    assert response.status_code == 200
    assert "less than or equal to 99" in response.content.decode()
