"""order_bulk_create: the same rows, versions, logs, events and signals as one by one."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orderhub.db import lazy_commit_atomic
from orderhub.models import Order, OrderEvent, OrderLine, OrderTransitionLog
from orderhub.models import OrderStatus as S
from orderhub.services.bulk import NewOrder, order_bulk_create
from orderhub.services.orders import (
    ORDER_COUNTS_GENERATION_KEY,
    OrderServiceError,
    order_add_note,
    order_create,
    order_transition,
)
from orderhub.signals import order_status_changed

ACTOR = "system:ingest:test"
PLACED = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
PAID_AT = dt.datetime(2026, 11, 20, 2, 5, tzinfo=dt.UTC)

# Fields whose values differ between two runs by nature: ids, numbers, clocks.
VOLATILE = {"id", "number", "created_at", "updated_at", "cancelled_at", "history_id",
            "history_date", "order_id", "channel_id"}


def specs() -> list[NewOrder]:
    lines = [{"sku_code": "CUP", "name": "保温杯\n500ml", "quantity": 2, "unit_price": "59.90",
              "external_line_id": "L1"},
             {"sku_code": "GIFT", "name": "杯套", "quantity": 1, "unit_price": "0",
              "is_gift": True, "external_line_id": "L2"}]
    base = {"placed_at": PLACED, "buyer_name": " 王  芳 ", "buyer_phone": "138 0013 8000",
            "ship_street": "世纪大道\t100号", "ship_city": "上海市", "currency": "CNY",
            "shipping_fee": Decimal("10.00")}
    return [
        NewOrder(fields={**base, "external_id": "A-pending"}, lines=lines),
        NewOrder(fields={**base, "external_id": "A-paid", "paid_at": PAID_AT,
                         "total": Decimal("129.80")},
                 lines=lines, transitions=[("pay", "paid on the platform")]),
        NewOrder(fields={**base, "external_id": "A-review", "buyer_email": "w@example.com",
                         "paid_at": PAID_AT},
                 lines=lines[:1], notes=["The platform's phone was not valid; it was left blank."],
                 transitions=[("pay", "paid on the platform"),
                              ("hold_review", "unknown SKU: X-1")]),
        NewOrder(fields={**base, "external_id": "A-cancelled", "legacy_id": "OLD-9"},
                 lines=lines, transitions=[("cancel", "cancelled on the platform")]),
    ]


def one_by_one(channel, orders: list[NewOrder]) -> None:
    """The per-order services, called as the pipeline calls them for a new order."""
    for spec in orders:
        order = order_create(channel=channel, actor=ACTOR, lines=spec.lines, **spec.fields)
        for note in spec.notes:
            order_add_note(order=order, actor=ACTOR, text=note)
        for name, reason in spec.transitions:
            order_transition(order=order, name=name, actor=ACTOR, reason=reason)


def _row(obj, skip=()) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields
            if f.attname not in VOLATILE and f.attname not in skip}


def audit_trail(orders) -> dict:
    """Everything an order's creation wrote, keyed by external id, without ids and clocks."""
    trail = {}
    for order in orders.order_by("external_id"):
        trail[order.external_id] = {
            "order": _row(order),
            "cancelled_at set": order.cancelled_at is not None,
            "lines": sorted((ln.sku_code, ln.name, ln.quantity, ln.unit_price, ln.is_gift,
                             ln.external_line_id) for ln in order.lines.all()),
            "logs": [(log.transition, log.from_status, log.to_status, log.actor,
                      log.actor_user_id, log.reason)
                     for log in OrderTransitionLog.objects.filter(order=order).order_by("id")],
            "events": [(e.kind, e.actor, e.actor_user_id, e.message, e.data)
                       for e in OrderEvent.objects.filter(order=order).order_by("id")],
            "versions": [{**_row(v), "cancelled_at set": v.cancelled_at is not None}
                         for v in order.history.order_by("history_id")],
            "line versions": sorted(
                tuple(sorted(_row(v).items(), key=lambda kv: kv[0]))
                for v in OrderLine.history.filter(order_id=order.pk)),
        }
        # Every version carries the order's own creation time and number.
        assert {v.created_at for v in order.history.all()} == {order.created_at}
        assert {v.number for v in order.history.all()} == {order.number}
        assert {v.id for v in OrderLine.history.filter(order_id=order.pk)} == {
            ln.pk for ln in order.lines.all()}
    return trail


class Signals(list):
    def __call__(self, sender, **kwargs):
        external_id = Order.objects.get(pk=kwargs["order_id"]).external_id
        self.append((external_id, kwargs["transition"], kwargs["from_status"],
                     kwargs["to_status"], kwargs["actor"]))


@pytest.fixture
def signals():
    received = Signals()
    order_status_changed.connect(received)
    yield received
    order_status_changed.disconnect(received)


@pytest.mark.django_db
def test_bulk_writes_what_one_by_one_writes(channel, signals,
                                            django_capture_on_commit_callbacks):
    # given: the same orders created one by one
    with django_capture_on_commit_callbacks(execute=True):
        one_by_one(channel, specs())
    expected, expected_signals = audit_trail(Order.objects.all()), list(signals)
    Order.history.all().delete()
    OrderLine.history.all().delete()
    Order.objects.all().delete()
    signals.clear()

    # when: they are created in bulk
    with django_capture_on_commit_callbacks(execute=True):
        result = order_bulk_create(channel=channel, actor=ACTOR, orders=specs())

    # then: every row, version, log, event and signal is the same
    assert result.errors == {}
    assert audit_trail(Order.objects.all()) == expected
    assert sorted(signals) == sorted(expected_signals)
    assert [o.status for o in result.orders] == [S.PENDING_PAYMENT, S.PAID, S.REVIEW,
                                                 S.CANCELLED]
    paid = Order.objects.get(external_id="A-paid")
    assert paid.paid_at == PAID_AT
    assert [v.history_change_reason for v in paid.history.order_by("history_id")] == [
        "created", "pay: paid on the platform"]
    cancelled = Order.objects.get(external_id="A-cancelled")
    assert cancelled.cancel_reason == "cancelled on the platform"
    assert cancelled.cancelled_at is not None


@pytest.mark.django_db
def test_a_paid_order_without_a_platform_time_is_paid_now(channel):
    before = timezone.now()
    spec = NewOrder(fields={"external_id": "P1"}, lines=specs()[0].lines,
                    transitions=[("pay", "")])
    [order] = order_bulk_create(channel=channel, actor=ACTOR, orders=[spec]).orders
    order.refresh_from_db()
    assert order.paid_at >= before
    log = OrderTransitionLog.objects.get(order=order)
    assert (log.transition, log.reason) == ("pay", "")
    assert order.history.order_by("history_id").last().history_change_reason == "pay"


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_batch(channel):
    def queries_for(n, prefix):
        orders = [NewOrder(fields={"external_id": f"{prefix}{i}"}, lines=specs()[0].lines,
                           transitions=[("pay", "paid")]) for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            result = order_bulk_create(channel=channel, actor=ACTOR, orders=orders)
        assert len(result.created) == n
        return len(ctx.captured_queries)

    queries_for(1, "warm-up")  # the day's number sequence row exists from now on
    # (10 stays under SQLite's bound-parameter limit, where bulk_create splits an INSERT.)
    assert queries_for(2, "S") == queries_for(10, "L")


@pytest.mark.django_db
def test_invalid_orders_are_left_out_and_reported(channel):
    lines = specs()[0].lines
    orders = [
        NewOrder(fields={"external_id": "ok-1"}, lines=lines),
        NewOrder(fields={"external_id": "bad-phone", "buyer_phone": "12"}, lines=lines),
        NewOrder(fields={"external_id": "no-lines"}, lines=[]),
        NewOrder(fields={"external_id": "bad-qty"}, lines=[{**lines[0], "quantity": 0}]),
        NewOrder(fields={"external_id": "long", "ship_postcode": "9" * 40}, lines=lines),
        NewOrder(fields={"external_id": "ok-2"}, lines=lines, transitions=[("pay", "")]),
    ]

    result = order_bulk_create(channel=channel, actor=ACTOR, orders=orders)

    assert sorted(result.errors) == [1, 2, 3, 4]
    assert "phone" in " ".join(result.errors[1].messages)
    assert [o.external_id for o in result.created] == ["ok-1", "ok-2"]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["ok-1", "ok-2"]
    assert Order.history.count() == 3  # ok-1 created; ok-2 created + paid
    # The invalid ones took no number: the valid ones are consecutive.
    a, b = (int(o.number[-6:]) for o in result.created)
    assert b == a + 1


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [
    {"buyer_email": "not-an-email"},
    {"buyer_name": "x" * 121},
    {"currency": "CNYX"},
    {"ship_country": ""},
    {"kind": "retail"},
    {"priority": 9},
    {"total": Decimal("1.005")},
    {"shipping_fee": Decimal("NaN")},
], ids=lambda fields: next(iter(fields)))
def test_bulk_refuses_what_order_create_refuses(channel, fields):
    # given: a value the model's validation refuses (order_create's full_clean)
    lines = specs()[0].lines
    with pytest.raises(ValidationError):
        order_create(channel=channel, actor=ACTOR, lines=lines, external_id="one", **fields)

    # when: the same order is created in bulk (its quick check must not let it through)
    result = order_bulk_create(channel=channel, actor=ACTOR, orders=[
        NewOrder(fields={"external_id": "bulk", **fields}, lines=lines),
        NewOrder(fields={"external_id": "fine"}, lines=lines, cleaned=frozenset(fields))])

    # then: that order alone is kept out, with the model's own message
    assert list(result.errors) == [0]
    assert [o.external_id for o in result.created] == ["fine"]


@pytest.mark.django_db
def test_numbers_come_from_each_order_local_day(channel):
    lines = specs()[0].lines
    day1 = dt.datetime(2026, 11, 20, 15, 59, tzinfo=dt.UTC)  # 23:59 in Shanghai
    day2 = dt.datetime(2026, 11, 20, 16, 1, tzinfo=dt.UTC)   # 00:01 next day
    orders = [NewOrder(fields={"external_id": f"d{i}", "placed_at": when}, lines=lines)
              for i, when in enumerate([day1, day2, day1])]

    created = order_bulk_create(channel=channel, actor=ACTOR, orders=orders).orders

    assert [o.number[:10] for o in created] == ["OH20261120", "OH20261121", "OH20261120"]
    assert int(created[2].number[-6:]) == int(created[0].number[-6:]) + 1
    later = order_create(channel=channel, actor=ACTOR, lines=lines, placed_at=day1)
    assert int(later.number[-6:]) == int(created[2].number[-6:]) + 1


@pytest.mark.django_db
def test_a_bad_transition_list_writes_nothing(channel):
    lines = specs()[0].lines
    with pytest.raises(OrderServiceError):
        order_bulk_create(channel=channel, actor=ACTOR, orders=[
            NewOrder(fields={"external_id": "1"}, lines=lines),
            NewOrder(fields={"external_id": "2"}, lines=lines, transitions=[("ship", "")])])
    with pytest.raises(OrderServiceError):
        order_bulk_create(channel=channel, actor=ACTOR, orders=[
            NewOrder(fields={"external_id": "3"}, lines=lines, transitions=[("cancel", " ")])])
    with pytest.raises(ValueError):
        order_bulk_create(channel=channel, actor="ingest", orders=[
            NewOrder(fields={"external_id": "4"}, lines=lines)])
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_transition_the_state_machine_refuses_keeps_that_order_out(channel):
    lines = specs()[0].lines
    result = order_bulk_create(channel=channel, actor=ACTOR, orders=[
        NewOrder(fields={"external_id": "twice"}, lines=lines,
                 transitions=[("pay", ""), ("pay", "")]),
        NewOrder(fields={"external_id": "fine"}, lines=lines, transitions=[("pay", "")])])
    assert list(result.errors) == [0]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["fine"]
    assert OrderTransitionLog.objects.count() == 1


@pytest.mark.django_db
def test_an_existing_external_id_rolls_the_whole_batch_back(channel):
    lines = specs()[0].lines
    order_create(channel=channel, actor=ACTOR, lines=lines, external_id="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        order_bulk_create(channel=channel, actor=ACTOR, orders=[
            NewOrder(fields={"external_id": "new"}, lines=lines),
            NewOrder(fields={"external_id": "dup"}, lines=lines)])
    assert list(Order.objects.values_list("external_id", flat=True)) == ["dup"]
    assert OrderLine.history.count() == len(lines)


@pytest.mark.django_db
def test_signals_and_counts_bump_only_after_commit(channel, signals,
                                                  django_capture_on_commit_callbacks):
    lines = specs()[0].lines
    cache.set(ORDER_COUNTS_GENERATION_KEY, 7, None)
    orders = [NewOrder(fields={"external_id": f"s{i}"}, lines=lines,
                       transitions=[("pay", "")]) for i in range(5)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_bulk_create(channel=channel, actor=ACTOR, orders=orders)
    assert signals == [] and cache.get(ORDER_COUNTS_GENERATION_KEY) == 7
    for callback in callbacks:
        callback()
    assert len(signals) == 5
    assert {s[1:] for s in signals} == {("pay", S.PENDING_PAYMENT, S.PAID, ACTOR)}
    # One bump for the batch, not one per order and transition.
    assert cache.get(ORDER_COUNTS_GENERATION_KEY) == 8


@pytest.mark.django_db
def test_a_failing_receiver_does_not_silence_the_other_orders(channel,
                                                             django_capture_on_commit_callbacks):
    lines = specs()[0].lines
    seen = []

    def flaky(sender, order_id, **kwargs):
        seen.append(order_id)
        if len(seen) == 1:
            raise RuntimeError("boom")

    order_status_changed.connect(flaky)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            order_bulk_create(channel=channel, actor=ACTOR, orders=[
                NewOrder(fields={"external_id": f"f{i}"}, lines=lines,
                         transitions=[("pay", "")]) for i in range(3)])
    finally:
        order_status_changed.disconnect(flaky)
    assert len(seen) == 3


@pytest.mark.django_db
def test_created_orders_go_on_through_the_services(channel):
    lines = specs()[0].lines
    [order] = order_bulk_create(channel=channel, actor=ACTOR, orders=[
        NewOrder(fields={"external_id": "go"}, lines=lines, transitions=[("pay", "")])]).orders
    # The in-memory object knows it was saved as paid: saving it again is no conflict.
    order.hold_reason = ""
    order.save()
    order_transition(order=order, name="mark_ready", actor="system:test")
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK
    assert order.history.count() == 4  # created, pay, the save, mark_ready


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lazy_commit_is_lazy_for_its_own_transaction_only():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with lazy_commit_atomic(Order):
        assert _synchronous_commit() == "off"
    assert _synchronous_commit() == "on"


@pytest.mark.django_db
def test_a_lazy_commit_inside_a_callers_transaction_changes_nothing():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with transaction.atomic(), lazy_commit_atomic(Order):
        assert _synchronous_commit() == "on"  # the caller's commit must stay durable
