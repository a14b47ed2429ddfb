"""The automation pipeline end to end: paid → ready_to_pick / review / out_of_stock.

The fixtures here are shared by the other ``test_automation_*``, ``test_rules_*``,
``test_risk_*``, ``test_credit_*`` and ``test_payment_timeout*`` modules.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from fulfillment import tasks
from fulfillment.models import Condition, OrderDecision, RiskRule, Rule
from fulfillment.services.automation import order_automate, order_reprocess
from fulfillment.signals import order_needs_review, orders_urgent
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import TransitionNotPermitted, order_transition, order_update
from warehouse.models import SKU, Reservation, StockLevel, Warehouse
from warehouse.services.stock import stock_adjust, stock_release

S = OrderStatus


@pytest.fixture
def eager():
    """Celery tasks run in-process, as a worker would."""
    from orderhub.celery import app

    old = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


@pytest.fixture
def stock(db):
    """``stock(warehouse, code, qty, **sku_fields)``: the SKU (created once) with stock."""

    def add(warehouse, code, qty, **sku_fields):
        sku, _ = SKU.objects.get_or_create(code=code, defaults={"name": code, **sku_fields})
        if qty:
            stock_adjust(warehouse=warehouse, sku=sku, delta=qty, actor="system:test",
                         reason="test", kind="receipt")
        return sku

    return add


@pytest.fixture
def stocked(warehouse, stock):
    """The default test order's SKUs in stock in the default warehouse."""
    stock(warehouse, "SKU-1", 50)
    stock(warehouse, "GIFT-1", 50)
    return warehouse


def reserved(order) -> list[tuple[str, int, int]]:
    return sorted(Reservation.objects.filter(order=order, status="active")
                  .values_list("sku__code", "quantity", "warehouse_id"))


def enable_risk(kind, **params):
    RiskRule.objects.update_or_create(kind=kind, defaults={"enabled": True, **params})


def make_rule(name="rule", *, conditions=(), match="all", **fields) -> Rule:
    rule = Rule.objects.create(name=name, match=match, **fields)
    for cond in conditions:
        field, op, value, *neg = cond
        Condition.objects.create(rule=rule, field=field, operator=op, value=value,
                                 negate=bool(neg and neg[0]))
    return rule


# --- the happy path ------------------------------------------------------------------


def test_paid_order_with_stock_becomes_ready_to_pick(make_order, stocked):
    # given
    order = make_order(S.PAID)
    # when
    outcome = order_automate(order=order)
    # then
    order.refresh_from_db()
    assert outcome.result == S.READY_TO_PICK
    assert order.status == S.READY_TO_PICK
    assert order.warehouse_id == stocked.pk
    assert reserved(order) == [("GIFT-1", 1, stocked.pk), ("SKU-1", 2, stocked.pk)]
    decision = order.decision
    assert decision.result == OrderDecision.Result.READY
    assert decision.warehouse_id == stocked.pk
    assert decision.review_reasons == []
    assert order.transition_logs.last().actor == "system:automation"


def test_entering_paid_runs_the_task(make_order, stocked, eager,
                                     django_capture_on_commit_callbacks):
    order = make_order(S.PENDING_PAYMENT)
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="pay", actor="system:test")
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK
    assert order.decision.runs == 1


def test_automation_is_idempotent(make_order, stocked, eager):
    order = make_order(S.PAID)
    assert tasks.automate_order.delay(order.pk).get() == S.READY_TO_PICK
    # A redelivered task, a straggler sweep and a direct call change nothing.
    assert tasks.automate_order.delay(order.pk).get() == "skipped"
    assert order_automate(order=order).result == "skipped"
    assert Reservation.objects.filter(order=order).count() == 2
    level = StockLevel.objects.get(warehouse=stocked, sku__code="SKU-1")
    assert (level.on_hand, level.reserved) == (50, 2)
    assert OrderDecision.objects.get(order=order).runs == 1


def test_not_paid_orders_are_skipped(make_order, stocked):
    order = make_order(S.PENDING_PAYMENT)
    assert order_automate(order=order).result == "skipped"
    assert not OrderDecision.objects.filter(order=order).exists()


def test_no_stock_anywhere_is_out_of_stock(make_order, warehouse, stock):
    stock(warehouse, "SKU-1", 1)  # the order needs 2
    stock(warehouse, "GIFT-1", 5)
    order = make_order(S.PAID)
    outcome = order_automate(order=order)
    order.refresh_from_db()
    assert outcome.result == S.OUT_OF_STOCK == order.status
    assert order.decision.warehouse_source == "shortage"
    assert reserved(order) == []


def test_no_active_warehouse_is_out_of_stock(make_order, warehouse):
    Warehouse.objects.update(active=False)
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.OUT_OF_STOCK


def test_unknown_sku_goes_to_review(make_order, stocked):
    order = make_order(S.PAID, lines=[{"sku_code": "NOPE", "name": "x", "quantity": 1,
                                       "unit_price": "1"}])
    outcome = order_automate(order=order)
    assert outcome.result == S.REVIEW
    assert "NOPE" in outcome.reasons[0]["message"]


def test_review_lists_every_reason_and_signals(make_order, stocked,
                                               django_capture_on_commit_callbacks):
    from fulfillment.models import Blacklist

    enable_risk("blacklist")
    enable_risk("vague_address", min_street_length=6)
    Blacklist.objects.create(kind="phone", value="+8613800138000", reason="chargebacks")
    make_rule("hold big", conditions=[("amount", "gte", "100")], hold_reason="Big order")
    order = make_order(S.PAID, ship_street="1号")
    received = []
    order_needs_review.connect(lambda **kw: received.append(kw), weak=False,
                               dispatch_uid="test-review")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = order_automate(order=order)
    finally:
        order_needs_review.disconnect(dispatch_uid="test-review")
    order.refresh_from_db()
    assert outcome.result == S.REVIEW == order.status
    codes = [r["code"] for r in order.decision.review_reasons]
    assert codes == ["risk:vague_address", "risk:blacklist", f"rule:{Rule.objects.get().pk}"]
    assert reserved(order) == []
    assert len(received) == 1 and received[0]["order_id"] == order.pk
    assert any("blacklisted" in text for text in received[0]["reasons"])
    assert "rule:" in order.transition_logs.last().reason


def test_urgent_ready_order_signals(make_order, stocked, django_capture_on_commit_callbacks):
    make_rule("urgent", conditions=[("message", "contains", "急")], priority=2)
    order = make_order(S.PAID, buyer_message="很急，请尽快")
    calm = make_order(S.PAID, buyer_message="不急")
    received = []
    orders_urgent.connect(lambda orders, **kw: received.extend(u._asdict() for u in orders),
                          weak=False, dispatch_uid="test-urg")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            order_automate(order=order)
            order_automate(order=calm)
    finally:
        orders_urgent.disconnect(dispatch_uid="test-urg")
    # "不急" contains 急 too: the rule is literal, both become urgent.
    assert {r["order_id"] for r in received} == {order.pk, calm.pk}
    assert received[0]["priority"] == Order.Priority.H4
    assert received[0]["warehouse_id"] == stocked.pk
    order.refresh_from_db()
    assert order.priority == Order.Priority.H4


def test_rule_actions_are_applied_to_order_and_decision(make_order, stocked):
    make_rule("sf", conditions=[("province", "in", "上海市")], carrier="SF",
              carrier_service="express", add_tags="vip, fast")
    order = make_order(S.PAID)
    order_automate(order=order)
    order.refresh_from_db()
    assert order.carrier == "SF"
    assert order.decision.carrier == "SF"
    assert order.decision.carrier_service == "express"
    assert sorted(order.tags.values_list("name", flat=True)) == ["fast", "vip"]
    assert order.decision.tags_added == ["vip", "fast"]
    assert order.decision.matched_rules == [Rule.objects.get().pk]


# --- re-processing ---------------------------------------------------------------------


def test_reprocess_moves_reservation_when_rules_changed(make_order, stocked, stock, make_user):
    order = make_order(S.PAID)
    order_automate(order=order)
    assert reserved(order)[0][2] == stocked.pk
    other = Warehouse.objects.create(code="bj", name="Beijing DC")
    stock(other, "SKU-1", 10)
    stock(other, "GIFT-1", 10)
    make_rule("to bj", conditions=[("province", "in", "上海市")], warehouse=other)
    ops = make_user("ops")
    outcome = order_reprocess(order=order.pk, actor=ops, expected_status=S.READY_TO_PICK)
    order.refresh_from_db()
    assert outcome.result == S.READY_TO_PICK == order.status
    assert {r[2] for r in reserved(order)} == {other.pk}
    assert StockLevel.objects.get(warehouse=stocked, sku__code="SKU-1").reserved == 0
    assert order.decision.runs == 2
    assert "reprocess" in order.transition_logs.values_list("transition", flat=True)


def test_reprocess_needs_allocate_permission(make_order, stocked, make_user):
    order = make_order(S.PAID)
    order_automate(order=order)
    with pytest.raises(TransitionNotPermitted):
        order_reprocess(order=order.pk, actor=make_user("picker"))


def test_reprocess_button(client, make_order, stocked, make_user):
    order = make_order(S.PAID)
    order_automate(order=order)
    url = reverse("fulfillment:reprocess", args=[order.pk])
    client.force_login(make_user("picker"))
    assert client.post(url).status_code == 403
    client.force_login(make_user("ops"))
    response = client.post(url, {"expected_status": S.READY_TO_PICK})
    assert response.status_code == 302
    assert response.url == reverse("orders:detail", args=[order.pk])
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK
    assert order.decision.runs == 2
    # A stale page (the order moved on) gets a clear refusal, nothing changes.
    response = client.post(url, {"expected_status": S.OUT_OF_STOCK}, follow=True)
    assert "changed this order meanwhile" in response.content.decode()
    assert OrderDecision.objects.get(order=order).runs == 2


def test_order_panel_shows_decision_and_button(make_order, stocked, make_user):
    order = make_order(S.PAID)
    order_automate(order=order)
    template = Template('{% include "fulfillment/order_panel.html" %}')
    request = RequestFactory().get("/")
    request.user = make_user("manager")
    html = template.render(Context({"order": Order.objects.get(pk=order.pk),
                                    "request": request}))
    assert "Shanghai DC" in html and "Re-process" in html
    request.user = make_user("picker")
    html = template.render(Context({"order": order, "request": request}))
    assert html.strip() == ""


def test_address_edit_reruns_automation(make_order, stocked, stock, make_user,
                                        django_capture_on_commit_callbacks):
    bj = Warehouse.objects.create(code="bj", name="Beijing DC", service_regions=["北京市"])
    Warehouse.objects.filter(pk=stocked.pk).update(service_regions=["上海市"])
    stock(bj, "SKU-1", 10)
    stock(bj, "GIFT-1", 10)
    order = make_order(S.PAID)
    order_automate(order=order)
    assert {r[2] for r in reserved(order)} == {stocked.pk}
    # when: ops change the address to Beijing before picking
    with django_capture_on_commit_callbacks(execute=True):
        order_update(order=order.pk, actor=make_user("ops"), changes={
            "ship_province": "北京市", "ship_city": "北京市", "ship_district": "朝阳区",
            "ship_street": "建国路88号"})
    # then: reservation released, back through paid, now in Beijing
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK
    assert {r[2] for r in reserved(order)} == {bj.pk}
    assert StockLevel.objects.get(warehouse=stocked, sku__code="SKU-1").reserved == 0


def test_edits_that_do_not_matter_do_not_rerun(make_order, stocked, make_user,
                                               django_capture_on_commit_callbacks):
    order = make_order(S.PAID)
    order_automate(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        order_update(order=order.pk, actor=make_user("ops"), changes={"priority": 1})
    assert OrderDecision.objects.get(order=order).runs == 1


# --- safety nets ---------------------------------------------------------------------------


def test_stragglers_are_enqueued(make_order, stocked):
    with freeze_time(timezone.now() - dt.timedelta(minutes=30)):
        old = make_order(S.PAID)
    fresh = make_order(S.PAID)
    done = make_order(S.READY_TO_PICK)
    with mock.patch.object(tasks.automate_orders, "delay") as delay:
        assert tasks.automate_stragglers() == 1
    delay.assert_called_once_with([old.pk])
    assert fresh.pk != done.pk


def test_one_bad_order_does_not_stop_a_batch(make_order, stocked):
    from fulfillment.services import automation

    good, bad = make_order(S.PAID), make_order(S.PAID)
    real, real_bulk = automation.order_transition, automation.orders_edit_and_transition

    def flaky(*, order, **kw):
        if (order.pk if hasattr(order, "pk") else order) == bad.pk:
            raise RuntimeError("database hiccup")
        return real(order=order, **kw)

    def flaky_bulk(**kw):
        if bad.pk in (kw.get("transition_by_id") or {}):
            raise RuntimeError("database hiccup")
        return real_bulk(**kw)

    with mock.patch.object(automation, "order_transition", flaky), \
            mock.patch.object(automation, "orders_edit_and_transition", flaky_bulk), \
            mock.patch("warehouse.services.stock.order_transition", flaky):
        results = automation.orders_automate(order_ids=[good.pk, bad.pk])
    # the batch's second step rolled back, then each order went alone: only the bad
    # one is left, still paid and holding the stock reserved for it in step 1
    assert results[good.pk].result == S.READY_TO_PICK
    assert results[bad.pk].result == "error"
    assert Order.objects.get(pk=bad.pk).status == S.PAID
    assert len(reserved(good)) == 2 and len(reserved(bad)) == 2
    # the sweep's next run finishes it with that same reservation, nothing doubled
    assert tasks.automate_order.run(bad.pk) == S.READY_TO_PICK
    assert len(reserved(bad)) == 2
    assert StockLevel.objects.get(warehouse=stocked, sku__code="SKU-1").reserved == 4


def test_batch_reserves_per_warehouse_like_single_orders(make_order, stocked, stock,
                                                         django_capture_on_commit_callbacks):
    from fulfillment.services.automation import orders_automate
    from warehouse.signals import stock_insufficient

    stock(stocked, "BIG", 3)
    orders = [make_order(S.PAID, lines=[{"sku_code": "BIG", "name": "b", "quantity": 2,
                                         "unit_price": "5"}]) for _ in range(2)]
    make_rule("tag", conditions=[("amount", "gte", "1")], add_tags="auto", priority=2)
    short = []
    stock_insufficient.connect(lambda **kw: short.append(kw), weak=False, dispatch_uid="t-s")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            results = orders_automate(order_ids=[o.pk for o in orders])
    finally:
        stock_insufficient.disconnect(dispatch_uid="t-s")
    assert [results[o.pk].result for o in orders] == [S.READY_TO_PICK, S.OUT_OF_STOCK]
    assert [s["order_id"] for s in short] == [orders[1].pk]
    for order in orders:
        order.refresh_from_db()
        assert order.warehouse_id == stocked.pk and order.priority == 2
        assert list(order.tags.values_list("name", flat=True)) == ["auto"]
        assert order.decision.runs == 1
    assert StockLevel.objects.get(warehouse=stocked, sku__code="BIG").reserved == 2


def test_credit_pending_within_batch(make_order, stocked):
    """Two B2B orders in one batch cannot both slip under one credit limit."""
    from fulfillment.services.automation import orders_automate
    from orderhub.models import Customer

    customer = Customer.objects.create(name="ACME", tier="b2b", credit_limit=Decimal("200"))
    a = make_order(S.PAID, customer=customer, kind="b2b")
    b = make_order(S.PAID, customer=customer, kind="b2b")
    results = orders_automate(order_ids=[a.pk, b.pk])
    assert sorted(r.result for r in results.values()) == [S.READY_TO_PICK, S.REVIEW]


def test_batch_rerun_keeps_approvals_and_counts_runs(make_order, stocked):
    from fulfillment.services.automation import orders_automate

    orders = [make_order(S.PAID) for _ in range(3)]
    orders_automate(order_ids=[o.pk for o in orders])
    OrderDecision.objects.filter(order=orders[0]).update(approved_checks=["risk:blacklist"])
    for order in orders:
        order_reprocess(order=order.pk, actor="system:test")
    # the single-order re-runs above counted once each; now a batch upserts them
    for order in orders:
        order_transition(order=order.pk, name="reprocess", actor="system:test", reason="again")
        stock_release(order=order.pk, actor="system:test")
    results = orders_automate(order_ids=[o.pk for o in orders])
    assert {r.result for r in results.values()} == {S.READY_TO_PICK}
    decision = OrderDecision.objects.get(order=orders[0])
    assert decision.runs == 3
    assert decision.approved_checks == ["risk:blacklist"]
