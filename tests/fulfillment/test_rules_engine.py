"""The rule matrix: every condition and action, ordering, stop, shadow, fallback."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from fulfillment.models import Rule, ShadowResult
from fulfillment.services.automation import order_automate
from fulfillment.services.rules import (
    CompiledRule,
    OrderFacts,
    RuleSet,
    check_conditions,
    compile_condition,
    facts_for_orders,
    load_ruleset,
)
from orderhub.models import Customer, Order, OrderStatus
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    make_rule,
    reserved,
    stock,
    stocked,
)
from warehouse.models import Warehouse

S = OrderStatus

FACTS = OrderFacts(
    order_id=7, province="广东省", city="深圳市", channel="tmall", kind="b2c", presale=True,
    amount=Decimal("250.00"), weight=1500, tier="vip", message="请尽快发货，急用",
    tags=frozenset({"gift"}), categories=frozenset({"food", "drink"}),
    attributes=frozenset({"cold_chain", "origin", "origin=JP"}),
)


def cond(field, op, value="", negate=False):
    return compile_condition(field, op, value, negate)


@pytest.mark.parametrize(("field", "op", "hit", "miss"), [
    ("province", "in", "广东省, 上海市", "北京市"),
    ("city", "in", "深圳市，广州市", "广州市"),
    ("channel", "in", "tmall", "jd"),
    ("kind", "in", "b2c,b2b", "b2b"),
    ("sku_category", "in", "food", "toys"),
    ("sku_attribute", "in", "cold_chain", "fragile"),
    ("sku_attribute", "in", "origin=JP", "origin=CN"),
    ("amount", "gte", "250", "250.01"),
    ("amount", "lte", "250", "249.99"),
    ("amount", "between", "200-300", "300-400"),
    ("weight", "between", "1000-2000", "0-1000"),
    ("weight", "gte", "1500", "1501"),
    ("tier", "in", "vip", "b2b"),
    ("message", "contains", "急,快递", "慢"),
    ("tag", "in", "gift", "vip"),
])
def test_each_condition_holds_or_not(field, op, hit, miss):
    assert cond(field, op, hit).holds(FACTS)
    assert not cond(field, op, miss).holds(FACTS)
    # "not" flips each
    assert not cond(field, op, hit, negate=True).holds(FACTS)
    assert cond(field, op, miss, negate=True).holds(FACTS)


def test_presale_condition():
    assert cond("presale", "yes").holds(FACTS)
    assert not cond("presale", "yes").holds(OrderFacts(order_id=1))
    assert cond("presale", "yes", negate=True).holds(OrderFacts(order_id=1))


@pytest.mark.parametrize(("field", "op", "value", "message"), [
    ("province", "in", " , ", "at least one value"),
    ("amount", "gte", "lots", "not a number"),
    ("amount", "between", "500-100", "range"),
    ("amount", "between", "100", "range"),
    ("kind", "in", "wholesale", "Unknown order kind"),
    ("tier", "in", "gold", "Unknown customer tier"),
    ("presale", "in", "yes", "cannot be compared"),
    ("colour", "in", "red", "not a condition field"),
])
def test_bad_conditions_are_refused(field, op, value, message):
    with pytest.raises(ValidationError) as exc:
        compile_condition(field, op, value)
    assert message in " ".join(exc.value.messages)


@pytest.mark.parametrize(("match", "conds", "message"), [
    ("all", [], "at least one condition"),
    ("any", [], "at least one condition"),
    ("all", [("province", "in", "北京市"), ("province", "in", "上海市")], "cannot be in both"),
    ("all", [("province", "in", "北京市"), ("province", "in", "北京市,上海市", True)],
     "also excluded"),
    ("all", [("presale", "yes", ""), ("presale", "yes", "", True)], "required and forbidden"),
    ("all", [("amount", "gte", "500"), ("amount", "lte", "100")], "at least 500"),
    ("all", [("weight", "between", "0-100"), ("weight", "gte", "200")], "contradict"),
    ("all", [("tag", "in", "a"), ("tag", "in", "a,b", True)], "also excluded"),
    ("all", [("message", "contains", "急"), ("message", "contains", "急", True)], "contradict"),
])
def test_contradictions_are_found(match, conds, message):
    errors = check_conditions(match, [cond(*c) for c in conds])
    assert errors and message in " ".join(errors)


@pytest.mark.parametrize(("match", "conds"), [
    ("all", [("province", "in", "北京市,上海市"), ("province", "in", "上海市")]),
    ("all", [("sku_category", "in", "food"), ("sku_category", "in", "toys")]),  # two lines
    ("all", [("amount", "gte", "100"), ("amount", "lte", "500")]),
    ("any", [("province", "in", "北京市"), ("province", "in", "上海市")]),
    ("any", [("presale", "yes", ""), ("presale", "yes", "", True)]),
    ("all", [("province", "in", "北京市", True), ("city", "in", "深圳市")]),
])
def test_consistent_conditions_pass(match, conds):
    assert check_conditions(match, [cond(*c) for c in conds]) == []


def rule(rid, *conds, match="all", **actions):
    return CompiledRule(id=rid, name=f"r{rid}", match=match, conditions=tuple(conds), **actions)


def test_all_any_and_not():
    gd = cond("province", "in", "广东省")
    bj = cond("province", "in", "北京市")
    assert rule(1, gd, bj, match="any").matches(FACTS)
    assert not rule(1, gd, bj, match="all").matches(FACTS)
    assert rule(1, gd, cond("province", "in", "北京市", True)).matches(FACTS)


def test_actions_and_who_wins():
    yes = cond("province", "in", "广东省")
    no = cond("province", "in", "北京市")
    outcome = RuleSet([
        rule(1, no, warehouse_id=99, carrier="EMS"),
        rule(2, yes, warehouse_id=1, tags=("a",), priority=1),
        rule(3, yes, warehouse_id=2, carrier="SF", carrier_service="express",
             tags=("b", "a"), hold_reason="check"),
        rule(4, yes, carrier="ZTO", carrier_service="std", priority=2, hold_reason="again"),
        rule(5, yes, priority=0),
    ]).evaluate(FACTS)
    assert outcome.matched == [2, 3, 4, 5]
    assert (outcome.warehouse_id, outcome.warehouse_rule) == (1, 2)  # first match wins
    assert (outcome.carrier, outcome.carrier_service) == ("SF", "express")  # first, as a pair
    assert outcome.priority == 2  # most urgent wins
    assert outcome.tags == ["a", "b"]  # accumulate, once each
    assert outcome.holds == [(3, "check"), (4, "again")]  # accumulate


def test_stop_ends_evaluation_but_not_shadow():
    yes = cond("province", "in", "广东省")
    outcome = RuleSet([
        rule(1, yes, tags=("x",), stop=True),
        rule(2, yes, tags=("y",)),
        CompiledRule(id=3, name="shadow", mode="shadow", shadow_share=100,
                     conditions=(yes,), tags=("z",)),
    ]).evaluate(FACTS)
    assert outcome.matched == [1]
    assert outcome.tags == ["x"]
    assert outcome.shadow == [(3, True, {"tags": ["z"]})]


def test_shadow_share_samples_a_stable_part_of_orders():
    yes = cond("province", "in", "广东省")
    shadow = CompiledRule(id=3, name="s", mode="shadow", shadow_share=30, conditions=(yes,))
    picked = [i for i in range(1000) if shadow.sampled(i)]
    assert 200 < len(picked) < 400
    assert picked == [i for i in range(1000) if shadow.sampled(i)]


def test_non_stop_ordering_by_position(db):
    make_rule("late", position=20, conditions=[("province", "in", "上海市")], carrier="ZTO")
    make_rule("early", position=10, conditions=[("province", "in", "上海市")], carrier="SF")
    make_rule("off", position=1, enabled=False, conditions=[("province", "in", "上海市")],
              carrier="EMS")
    ruleset = load_ruleset()
    assert [r.name for r in ruleset.active] == ["early", "late"]
    assert ruleset.evaluate(OrderFacts(order_id=1, province="上海市")).carrier == "SF"


def test_ruleset_cache_follows_edits(db):
    first = make_rule("a", conditions=[("province", "in", "上海市")], carrier="SF")
    assert len(load_ruleset()) == 1
    assert load_ruleset() is load_ruleset()
    Rule.objects.filter(pk=first.pk).update(enabled=False)  # no signal: still cached
    assert len(load_ruleset()) == 1
    Rule.objects.get(pk=first.pk).save()  # a save through the ORM (admin) bumps it
    assert len(load_ruleset()) == 0


def test_facts_come_from_lines_skus_customer_and_tags(make_order, warehouse, stock):
    stock(warehouse, "MILK", 0, category="dairy", cold_chain=True, weight_g=1000,
          attributes={"origin": "NZ"})
    stock(warehouse, "CUP", 0, category="kitchen", fragile=True, weight_g=250)
    customer = Customer.objects.create(name="VIP", tier="vip")
    order = make_order(S.PAID, customer=customer, presale=True, buyer_message="hi", tags=["t1"],
                       lines=[{"sku_code": "MILK", "name": "m", "quantity": 2, "unit_price": "10"},
                              {"sku_code": "CUP", "name": "c", "quantity": 4, "unit_price": "5"}])
    order = Order.objects.select_related("customer", "channel").get(pk=order.pk)
    facts = facts_for_orders([order])[order.pk]
    assert facts.categories == {"dairy", "kitchen"}
    assert facts.attributes == {"cold_chain", "fragile", "origin", "origin=NZ"}
    assert facts.weight == 3000
    assert facts.tier == "vip" and facts.presale and facts.tags == {"t1"}
    assert facts.amount == Decimal("40.00") and facts.channel == "shop"


# --- warehouse: rule, then fallback by region and stock ------------------------------------


@pytest.fixture
def three_warehouses(warehouse, stock):
    Warehouse.objects.filter(pk=warehouse.pk).update(service_regions=["上海市", "江苏省"])
    gz = Warehouse.objects.create(code="gz", name="Guangzhou DC", service_regions=["广东省"])
    cold = Warehouse.objects.create(code="cold", name="Cold DC", service_regions=["北京市"],
                                    cold_chain=True)
    return Warehouse.objects.get(pk=warehouse.pk), gz, cold


def test_rule_warehouse_wins_over_region(make_order, three_warehouses, stock):
    sh, gz, cold = three_warehouses
    for wh in (sh, cold):
        stock(wh, "SKU-1", 10)
        stock(wh, "GIFT-1", 10)
    make_rule("cold", conditions=[("amount", "gte", "1")], warehouse=cold)
    order = make_order(S.PAID)
    order_automate(order=order)
    order.refresh_from_db()
    assert order.warehouse_id == cold.pk and order.status == S.READY_TO_PICK
    assert order.decision.warehouse_source == "rule"


def test_rule_warehouse_short_is_out_of_stock_there(make_order, three_warehouses, stock):
    sh, gz, cold = three_warehouses
    stock(sh, "SKU-1", 10)
    stock(sh, "GIFT-1", 10)
    make_rule("cold", conditions=[("amount", "gte", "1")], warehouse=cold)
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.OUT_OF_STOCK
    order.refresh_from_db()
    assert order.warehouse_id == cold.pk


def test_fallback_prefers_the_region_with_stock(make_order, three_warehouses, stock):
    sh, gz, cold = three_warehouses
    for wh in (sh, gz, cold):
        stock(wh, "SKU-1", 10)
        stock(wh, "GIFT-1", 10)
    shanghai = make_order(S.PAID)
    canton = make_order(S.PAID, ship_province="广东省", ship_city="广州市",
                        ship_district="天河区", ship_street="体育西路1号")
    order_automate(order=shanghai)
    order_automate(order=canton)
    assert {r[2] for r in reserved(shanghai)} == {sh.pk}
    assert {r[2] for r in reserved(canton)} == {gz.pk}
    assert Order.objects.get(pk=canton.pk).decision.warehouse_source == "region"


def test_fallback_any_warehouse_with_stock(make_order, three_warehouses, stock):
    sh, gz, cold = three_warehouses
    stock(gz, "SKU-1", 10)
    stock(gz, "GIFT-1", 10)
    stock(sh, "SKU-1", 1)  # the region's warehouse is short
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.READY_TO_PICK
    assert {r[2] for r in reserved(order)} == {gz.pk}
    assert Order.objects.get(pk=order.pk).decision.warehouse_source == "stock"


def test_fallback_nobody_has_it_is_out_of_stock_in_region(make_order, three_warehouses, stock):
    sh, gz, cold = three_warehouses
    stock(sh, "SKU-1", 0)
    stock(sh, "GIFT-1", 0)
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.OUT_OF_STOCK
    order.refresh_from_db()
    assert order.warehouse_id == sh.pk and order.status == S.OUT_OF_STOCK


def test_batch_spends_stock_in_memory(make_order, three_warehouses, stock):
    """Two orders in one batch do not both get sent to the last units."""
    from fulfillment.services.automation import orders_automate

    sh, gz, cold = three_warehouses
    stock(sh, "SKU-1", 2)
    stock(sh, "GIFT-1", 2)
    stock(gz, "SKU-1", 2)
    stock(gz, "GIFT-1", 2)
    a, b = make_order(S.PAID), make_order(S.PAID)
    results = orders_automate(order_ids=[a.pk, b.pk])
    assert [results[a.pk].result, results[b.pk].result] == [S.READY_TO_PICK] * 2
    assert {r[2] for r in reserved(a)} == {sh.pk}
    assert {r[2] for r in reserved(b)} == {gz.pk}


def test_shadow_rule_records_only(make_order, stocked):
    other = Warehouse.objects.create(code="x", name="X DC")
    shadow = make_rule("shadow", mode="shadow", shadow_share=100,
                       conditions=[("province", "in", "上海市")], warehouse=other,
                       carrier="SF", priority=3, add_tags="shadowed", hold_reason="look")
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.READY_TO_PICK
    order.refresh_from_db()
    # it did nothing...
    assert order.warehouse_id == stocked.pk and order.carrier == "" and order.priority == 0
    assert not order.tags.exists()
    assert order.decision.matched_rules == [] and order.decision.review_reasons == []
    # ...but recorded what it would have done
    result = ShadowResult.objects.get()
    assert result.rule_id == shadow.pk and result.order_id == order.pk and result.matched
    assert result.actions == {"warehouse_id": other.pk, "carrier": "SF", "carrier_service": "",
                              "priority": 3, "tags": ["shadowed"], "hold_reason": "look"}
