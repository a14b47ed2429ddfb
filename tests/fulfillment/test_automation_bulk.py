"""Batch automation: a constant number of queries per group, the rows of one by one."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fulfillment import tasks
from fulfillment.models import OrderDecision
from fulfillment.services.automation import order_automate, orders_automate
from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from orderhub.services.bulk import order_bulk_create
from orderhub.services.orders import order_transition
from orderhub.signals import StatusChange, announce_status_changes
from tests.conftest import requires_postgres
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 - fixtures
    make_rule,
    reserved,
    stock,
    stocked,
)

S = OrderStatus
pytestmark = pytest.mark.django_db

LINES = [{"sku_code": "SKU-1", "name": "保温杯", "quantity": 2, "unit_price": "59.00"}]
SCARCE = [{"sku_code": "SCARCE", "name": "限量", "quantity": 2, "unit_price": "99.00"}]


@pytest.fixture
def rules(stocked, stock):
    stock(stocked, "SCARCE", 3)
    make_rule("urgent", conditions=[("amount", "gte", "1")], add_tags="auto,批量", priority=2,
              carrier="SF")
    return stocked


def trail(order) -> dict:
    order.refresh_from_db()
    decision = OrderDecision.objects.get(order=order)
    return {
        "order": (order.status, order.carrier, order.priority, order.warehouse_id),
        "tags": sorted(order.tags.values_list("name", flat=True)),
        "reserved": reserved(order),
        "logs": list(OrderTransitionLog.objects.filter(order=order).order_by("id").values_list(
            "transition", "from_status", "to_status", "actor", "reason")),
        "events": list(OrderEvent.objects.filter(order=order).order_by("id").values_list(
            "kind", "actor", "message", "data")),
        "versions": list(order.history.order_by("history_id").values_list(
            "history_type", "history_change_reason", "status", "carrier", "priority",
            "warehouse_id")),
        "decision": (decision.result, decision.warehouse_id, decision.priority,
                     decision.tags_added, decision.runs),
    }


def test_a_group_writes_what_one_by_one_writes(make_order, rules, stock):
    # given: the same three orders (ready, ready, out of stock) twice
    one = [make_order(S.PAID, lines=SCARCE), make_order(S.PAID), make_order(S.PAID, lines=SCARCE)]
    two = [make_order(S.PAID, lines=SCARCE), make_order(S.PAID), make_order(S.PAID, lines=SCARCE)]
    # when: the first set goes one by one (the single path), the second as a batch
    single = [order_automate(order=o).result for o in one]
    stock(rules, "SCARCE", 2)  # the batch meets the same shelf: 3 free, 2 per order
    batch = orders_automate(order_ids=[o.pk for o in two])
    # then
    assert single == [S.READY_TO_PICK, S.READY_TO_PICK, S.OUT_OF_STOCK]
    assert [batch[o.pk].result for o in two] == single
    for a, b in zip(one, two, strict=True):
        expected, got = trail(a), trail(b)
        assert got == expected
    assert trail(two[0])["versions"][-2:] == [
        ("~", "automation", S.PAID, "SF", 2, rules.pk), ("~", "mark_ready", S.READY_TO_PICK,
                                                        "SF", 2, rules.pk)]


def test_a_mixed_batch_writes_what_one_by_one_writes(make_order, rules, stock,
                                                     django_capture_on_commit_callbacks):
    from fulfillment.signals import orders_urgent
    from warehouse.models import Warehouse

    # given: a second warehouse for Beijing, a rule holding some orders for review
    beijing = Warehouse.objects.create(code="bj", name="Beijing DC")
    for code in ("SKU-1", "GIFT-1"):
        stock(beijing, code, 50)
    make_rule("north", conditions=[("province", "in", "北京市")], warehouse=beijing)
    make_rule("check", conditions=[("message", "contains", "核对")], hold_reason="核对地址")

    def orders():
        return [make_order(S.PAID, lines=SCARCE), make_order(S.PAID),
                make_order(S.PAID, buyer_message="请核对"),
                make_order(S.PAID, ship_province="北京市", ship_city="北京市",
                           ship_district="朝阳区"),
                make_order(S.PAID, lines=SCARCE)]

    one, two = orders(), orders()
    # when: the first set one by one, the second as one batch
    single = [order_automate(order=o).result for o in one]
    stock(rules, "SCARCE", 2)  # the batch meets the same shelf: 3 free, 2 per order
    heard = []
    orders_urgent.connect(lambda orders, **kw: heard.append(orders), weak=False,
                          dispatch_uid="test-mixed")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            batch = orders_automate(order_ids=[o.pk for o in two])
    finally:
        orders_urgent.disconnect(dispatch_uid="test-mixed")
    # then: the same results and the same rows, order by order
    assert single == [S.READY_TO_PICK, S.READY_TO_PICK, S.REVIEW, S.READY_TO_PICK,
                      S.OUT_OF_STOCK]
    assert [batch[o.pk].result for o in two] == single
    assert batch[two[3].pk].warehouse_id == beijing.pk
    for a, b in zip(one, two, strict=True):
        assert trail(b) == trail(a)
    assert (OrderDecision.objects.get(order=two[2]).review_reasons
            == OrderDecision.objects.get(order=one[2]).review_reasons != [])
    # one urgent signal for the whole batch, naming each urgent ready order once
    assert len(heard) == 1
    assert sorted(heard[0]) == sorted(
        (o.pk, 2, batch[o.pk].warehouse_id) for o in two
        if batch[o.pk].result == S.READY_TO_PICK)


# PostgreSQL only: Django 5.2 caps an SQLite statement at 999 parameters, so the
# history rows of a bigger batch go in several INSERTs (a count that grows by design).
@requires_postgres
@pytest.mark.postgres
def test_queries_per_group_do_not_grow_with_its_size(make_order, rules):
    def queries_for(n):
        orders = [make_order(S.PAID) for _ in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            results = orders_automate(order_ids=[o.pk for o in orders])
        assert {r.result for r in results.values()} == {S.READY_TO_PICK}
        return len(ctx.captured_queries)

    queries_for(2)  # the tags exist from now on
    assert queries_for(3) == queries_for(12)


def test_a_person_running_automation_goes_one_by_one(make_order, rules, make_user):
    orders = [make_order(S.PAID) for _ in range(2)]
    with mock.patch("fulfillment.services.automation._apply_group") as group:
        results = orders_automate(order_ids=[o.pk for o in orders], actor=make_user("admin"))
    group.assert_not_called()
    assert {r.result for r in results.values()} == {S.READY_TO_PICK}
    assert Order.objects.get(pk=orders[0].pk).transition_logs.last().actor_user_id is not None


def test_an_order_decided_between_the_two_steps_is_skipped(make_order, rules):
    from warehouse.services import stock as stock_service

    first, second = make_order(S.PAID), make_order(S.PAID)
    real = stock_service.stock_reserve_batch

    def reserve_then_someone_moves(**kw):
        out = real(**kw)
        # another worker reviews the second order while ours is between the steps
        Order.objects.filter(pk=second.pk).update(status=S.REVIEW)
        return out

    with mock.patch.object(stock_service, "stock_reserve_batch", reserve_then_someone_moves):
        results = orders_automate(order_ids=[first.pk, second.pk])
    assert results[first.pk].result == S.READY_TO_PICK
    assert results[second.pk].result == "skipped"
    assert not OrderTransitionLog.objects.filter(order=second, transition="mark_ready").exists()


def test_an_order_edited_between_planning_and_writing_keeps_the_edit(make_order, rules):
    from orderhub.services.orders import order_update
    from warehouse.services import stock as stock_service

    first, second = make_order(S.PAID), make_order(S.PAID)
    real = stock_service.stock_reserve_batch

    def reserve_then_someone_edits(**kw):
        out = real(**kw)
        order_update(order=first.pk, actor="system:test", changes={"buyer_name": "李四"},
                     reason="buyer called")
        return out

    with mock.patch.object(stock_service, "stock_reserve_batch", reserve_then_someone_edits):
        results = orders_automate(order_ids=[first.pk, second.pk])
    assert {r.result for r in results.values()} == {S.READY_TO_PICK}
    first.refresh_from_db()
    assert first.buyer_name == "李四"
    # the versions automation wrote carry the edit it did not make
    assert list(first.history.order_by("-history_id").values_list(
        "history_change_reason", "buyer_name")[:3]) == [
        ("mark_ready", "李四"), ("automation", "李四"), ("buyer called", "李四")]


def test_a_batch_keeps_reviewers_approvals_and_counts_runs(make_order, rules):
    approved, fresh = make_order(S.PAID, buyer_message="核对"), make_order(S.PAID)
    OrderDecision.objects.create(order=approved, result="review", runs=1,
                                 approved_checks=["risk:blacklist"])
    orders_automate(order_ids=[approved.pk, fresh.pk])
    kept = OrderDecision.objects.get(order=approved)
    assert (kept.approved_checks, kept.runs) == (["risk:blacklist"], 2)
    assert kept.result == S.READY_TO_PICK
    assert kept.tags_added == ["auto", "批量"] and kept.carrier == "SF"
    new = OrderDecision.objects.get(order=fresh)
    assert (new.approved_checks, new.runs, new.review_reasons) == ([], 1, [])
    assert new.matched_rules == [rules_rule_id()]


def rules_rule_id():
    from fulfillment.models import Rule

    return Rule.objects.get(name="urgent").pk


# --- the paid receiver: one task per batch --------------------------------------------------


def test_a_batch_of_paid_orders_is_one_task(make_order, channel,
                                            django_capture_on_commit_callbacks):
    from orderhub.services.bulk import NewOrder

    specs = [NewOrder(fields={"external_id": f"B{i}"}, lines=LINES, transitions=[("pay", "")])
             for i in range(3)]
    specs.append(NewOrder(fields={"external_id": "B-unpaid"}, lines=LINES))
    with mock.patch.object(tasks.automate_orders, "delay") as delay, \
            mock.patch.object(tasks.automate_order, "delay") as single, \
            django_capture_on_commit_callbacks(execute=True):
        created = order_bulk_create(channel=channel, actor="system:test", orders=specs).orders
    delay.assert_called_once_with([o.pk for o in created[:3]])
    single.assert_not_called()


def test_big_batches_are_cut_in_chunks(monkeypatch):
    changes = [StatusChange(i, "pay", S.PENDING_PAYMENT, S.PAID) for i in range(1, 1202)]
    changes.append(StatusChange(5000, "cancel", S.PAID, S.CANCELLED))
    with mock.patch.object(tasks.automate_orders, "delay") as delay:
        announce_status_changes(changes, "system:test")
    assert [len(call.args[0]) for call in delay.call_args_list] == [500, 500, 201]
    assert delay.call_args_list[0].args[0][0] == 1


def test_a_dead_broker_loses_nothing(make_order, caplog, django_capture_on_commit_callbacks):
    order = make_order(S.PENDING_PAYMENT)
    with mock.patch.object(tasks.automate_orders, "delay", side_effect=OSError("no broker")), \
            django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="pay", actor="system:test")
    assert Order.objects.get(pk=order.pk).status == S.PAID  # the sweep finds it later
    # orderhub.queue.enqueue logs the refused publish (and does not raise).
    assert "could not queue fulfillment.tasks.automate_orders" in caplog.text


def test_the_batch_task_is_idempotent(make_order, rules):
    orders = [make_order(S.PAID) for _ in range(3)]
    ids = [o.pk for o in orders]
    assert tasks.automate_orders.run(ids) == {S.READY_TO_PICK: 3}
    assert tasks.automate_orders.run(ids) == {"skipped": 3}
    assert OrderDecision.objects.filter(order_id__in=ids, runs=1).count() == 3


def test_the_batch_task_retries_only_what_failed(make_order, rules):
    from celery.exceptions import Retry

    good, bad = make_order(S.PAID), make_order(S.PAID)

    def half(*, order_ids, **kw):
        out = real(order_ids=[i for i in order_ids if i != bad.pk], **kw)
        out[bad.pk] = type(out[good.pk])(bad.pk, "error", error="hiccup")
        return out

    from fulfillment.services import automation

    real = automation.orders_automate
    with mock.patch.object(automation, "orders_automate", half), \
            mock.patch.object(tasks.automate_orders, "retry", side_effect=Retry) as retry:
        with pytest.raises(Retry):
            tasks.automate_orders.run([good.pk, bad.pk])
    assert retry.call_args.kwargs["args"] == [[bad.pk]]
    assert retry.call_args.kwargs["countdown"] > 0
    assert Order.objects.get(pk=good.pk).status == S.READY_TO_PICK


def test_stragglers_go_in_one_task(make_order, rules):
    import datetime as dt

    from django.utils import timezone
    from freezegun import freeze_time

    with freeze_time(timezone.now() - dt.timedelta(minutes=30)):
        old = [make_order(S.PAID) for _ in range(2)]
    make_order(S.PAID)
    with mock.patch.object(tasks.automate_orders, "delay") as delay:
        assert tasks.automate_stragglers() == 2
    delay.assert_called_once_with([o.pk for o in old])


# --- the urgent alert: cheap when nobody listens ---------------------------------------------


def test_an_urgent_order_nobody_is_alerted_for_costs_two_reads(make_order, warehouse):
    from fulfillment.notifications.models import Message
    from fulfillment.signals import order_urgent

    order = make_order(S.READY_TO_PICK, priority=2)
    with CaptureQueriesContext(connection) as ctx:
        order_urgent.send(sender=Order, order_id=order.pk, priority=2, warehouse_id=warehouse.pk)
    assert len(ctx.captured_queries) == 2
    assert not any("SAVEPOINT" in q["sql"] for q in ctx.captured_queries)
    assert not Message.objects.exists()


def test_a_vanished_row_fails_the_bulk_write(make_order):
    from django.db import DatabaseError, transaction

    from orderhub.services.bulk import orders_edit_and_transition

    order = make_order(S.PAID)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        gone = Order(pk=order.pk + 1000, status=S.PAID)
        with pytest.raises(DatabaseError, match="updated 1 of 2"), transaction.atomic():
            orders_edit_and_transition(orders=[locked, gone], actor="system:test",
                                       transition_by_id={locked.pk: ("mark_ready", ""),
                                                         gone.pk: ("mark_ready", "")})
    assert Order.objects.get(pk=order.pk).status == S.PAID
    assert not OrderTransitionLog.objects.filter(order=order, transition="mark_ready").exists()
