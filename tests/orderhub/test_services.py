"""Order services: creation, numbering, edits with versions, conflicts, on-commit effects."""

import re
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from orderhub.services.orders import (
    OrderConflict,
    OrderNotFound,
    TransitionNotPermitted,
    TransitionRefused,
    order_add_note,
    order_create,
    order_transition,
    order_update,
    reserve_order_numbers,
)
from orderhub.signals import order_status_changed
from tests.conftest import requires_postgres

S = OrderStatus

LINES = [{"sku_code": "CUP-500", "name": "保温杯 500ml", "quantity": 2, "unit_price": "59.90"}]


@pytest.mark.django_db
def test_create_numbers_totals_and_cleaning(channel):
    order = order_create(
        channel=channel, actor="system:test", external_id="1001",
        lines=[*LINES, {"sku_code": "GIFT", "name": "杯套\n", "quantity": 1, "unit_price": "0",
                        "is_gift": True}],
        shipping_fee=Decimal("10.00"), buyer_phone="138 0013 8000",
        ship_street="世纪大道\n100号\t2楼", buyer_name="  王  芳 ",
    )
    today = timezone.localdate()
    assert re.fullmatch(rf"OH{today:%Y%m%d}\d{{6}}", order.number)
    assert order.subtotal == Decimal("119.80")
    assert order.total == Decimal("129.80")
    assert order.buyer_phone == "+8613800138000"
    assert order.ship_street == "世纪大道 100号 2楼"
    assert order.buyer_name == "王 芳"
    assert [line.name for line in order.lines.all()] == ["保温杯 500ml", "杯套"]
    assert order.status == S.PENDING_PAYMENT
    assert order.history.count() == 1
    assert OrderEvent.objects.get(order=order).kind == "created"


@pytest.mark.django_db
def test_numbers_are_consecutive_per_day(channel):
    a = order_create(channel=channel, actor="system:test", lines=LINES)
    b = order_create(channel=channel, actor="system:test", lines=LINES)
    assert int(b.number[-6:]) == int(a.number[-6:]) + 1
    with transaction.atomic():
        block = reserve_order_numbers(3)
    assert [int(n[-6:]) for n in block] == [int(b.number[-6:]) + i for i in (1, 2, 3)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "lines"),
    [
        ({"buyer_phone": "12345"}, LINES),
        ({"buyer_phone": "not a phone"}, LINES),
        ({}, []),
        ({}, [{"sku_code": "A", "name": "a", "quantity": 0, "unit_price": "1"}]),
        ({}, [{"sku_code": "A", "name": "a", "quantity": "two", "unit_price": "1"}]),
        ({}, [{"sku_code": "A", "name": "a", "quantity": 1, "unit_price": "abc"}]),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(channel, fields, lines):
    with pytest.raises(ValidationError):
        order_create(channel=channel, actor="system:test", lines=lines, **fields)
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_channel_and_external_id_are_unique(channel):
    order_create(channel=channel, actor="system:test", external_id="X1", lines=LINES)
    with pytest.raises(IntegrityError), transaction.atomic():
        order_create(channel=channel, actor="system:test", external_id="X1", lines=LINES)
    # Orders without a platform id (manual entry) do not collide.
    order_create(channel=channel, actor="system:test", lines=LINES)
    order_create(channel=channel, actor="system:test", lines=LINES)
    assert Order.objects.count() == 3


@pytest.mark.django_db
def test_update_is_versioned_with_a_diff(make_order, make_user):
    ops = make_user("ops")
    order = make_order(S.PAID)
    versions = order.history.count()

    order = order_update(
        order=order.pk, actor=ops, reason="buyer moved",
        changes={"ship_street": "南京西路 1号", "ship_district": "静安区",
                 "priority": Order.Priority.H4},
    )

    assert order.history.count() == versions + 1
    new, old = order.history.all()[:2]
    delta = new.diff_against(old)
    assert {c.field for c in delta.changes} == {"ship_street", "ship_district", "priority"}
    assert new.history_change_reason == "buyer moved"
    event = OrderEvent.objects.filter(order=order, kind="edited").get()
    assert event.data["changes"]["ship_street"] == ["世纪大道100号", "南京西路 1号"]
    assert event.actor == ops.username


@pytest.mark.django_db
def test_update_without_change_writes_nothing(make_order, make_user):
    order = make_order(S.PAID)
    versions = order.history.count()
    order_update(order=order.pk, actor=make_user("ops"), changes={"ship_city": order.ship_city})
    assert order.history.count() == versions
    assert not OrderEvent.objects.filter(order=order, kind="edited").exists()


@pytest.mark.django_db
def test_update_refused_after_picking_and_for_pickers(make_order, make_user):
    picking = make_order(S.PICKING)
    with pytest.raises(TransitionRefused):
        order_update(order=picking.pk, actor=make_user("ops"), changes={"ship_city": "北京"})
    paid = make_order(S.PAID)
    with pytest.raises(TransitionNotPermitted):
        order_update(order=paid.pk, actor=make_user("picker"), changes={"ship_city": "北京"})
    paid.refresh_from_db()
    assert paid.ship_city == "上海市"


@pytest.mark.django_db
def test_update_refuses_fields_outside_the_whitelist(make_order, make_user):
    from orderhub.services.orders import OrderServiceError

    order = make_order(S.PAID)
    with pytest.raises(OrderServiceError):
        order_update(order=order.pk, actor=make_user("ops"), changes={"total": "0.01"})


@pytest.mark.django_db
def test_stale_expected_status_is_a_conflict(make_order, make_user):
    ops = make_user("ops")
    order = make_order(S.PAID)
    order_transition(order=order.pk, name="mark_ready", actor="system:test")
    with pytest.raises(OrderConflict):
        order_transition(order=order.pk, name="hold", actor=ops, reason="x",
                         expected_status=S.PAID)
    with pytest.raises(OrderConflict):
        order_update(order=order.pk, actor=ops, changes={"ship_city": "北京"},
                     expected_status=S.PAID)
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK


@pytest.mark.django_db
def test_a_stale_object_is_reread_not_trusted(make_order):
    order = make_order(S.PAID)
    stale = Order.objects.get(pk=order.pk)
    order_transition(order=order.pk, name="mark_ready", actor="system:test")
    with pytest.raises(TransitionRefused):
        order_transition(order=stale, name="mark_out_of_stock", actor="system:test")
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK


@pytest.mark.django_db
def test_unknown_order(db):
    with pytest.raises(OrderNotFound):
        order_transition(order=999999, name="pay", actor="system:test")
    with pytest.raises(OrderNotFound):
        order_add_note(order=999999, actor="system:test", text="hi")


@pytest.mark.django_db
def test_status_signal_is_sent_only_after_commit(make_order, django_capture_on_commit_callbacks):
    order = make_order(S.PENDING_PAYMENT)
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    order_status_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            order_transition(order=order.pk, name="pay", actor="system:test")
        assert received == []
        for callback in callbacks:
            callback()
    finally:
        order_status_changed.disconnect(receiver)
    assert len(received) == 1
    assert received[0]["order_id"] == order.pk
    assert (received[0]["from_status"], received[0]["to_status"]) == (S.PENDING_PAYMENT, S.PAID)
    assert received[0]["actor"] == "system:test"


@pytest.mark.django_db
def test_note(make_order, make_user):
    order = make_order(S.PAID)
    event = order_add_note(order=order.pk, actor=make_user("ops"), text=" 买家要求周末送货 ")
    assert event.message == "买家要求周末送货"
    from orderhub.services.orders import OrderServiceError

    with pytest.raises(OrderServiceError):
        order_add_note(order=order.pk, actor="system:test", text="  ")


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("names", [("hold", "hold"), ("hold", "cancel"), ("mark_ready", "hold")])
@pytest.mark.parametrize("both_read_first", [False, True])
def test_two_concurrent_transitions_exactly_one_wins(make_order, monkeypatch, names,
                                                     both_read_first):
    """Two workers act on the same paid order at the same instant.

    With ``both_read_first`` both have read the order as paid before either
    writes, so the loser is caught by the conditional save, not by re-reading.
    """
    order = make_order(S.PAID)
    if both_read_first:
        before_save = threading.Barrier(2)
        original_save = Order.save

        def save_after_both_read(self, *args, **kwargs):
            before_save.wait(timeout=10)
            return original_save(self, *args, **kwargs)

        monkeypatch.setattr(Order, "save", save_after_both_read)
    logs_before = OrderTransitionLog.objects.filter(order=order).count()
    barrier = threading.Barrier(2)
    results = {}

    def act(i, name):
        try:
            barrier.wait(timeout=10)
            order_transition(order=order.pk, name=name, actor=f"system:worker{i}",
                             reason="concurrent", expected_status=S.PAID)
            results[i] = "won"
        except OrderConflict as exc:
            results[i] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=act, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    outcomes = sorted(results.values(), key=lambda r: r != "won")
    assert outcomes[0] == "won"
    assert isinstance(outcomes[1], OrderConflict)
    assert "changed this order" in outcomes[1].message
    assert OrderTransitionLog.objects.filter(order=order).count() == logs_before + 1


def test_a_long_reason_is_kept_whole_in_the_log_and_cut_in_the_version(make_order, make_user):
    from orderhub.models import OrderTransitionLog
    from orderhub.services.orders import order_transition

    order = make_order("paid")
    reason = "地址不详细，需要人工核实收件人和门牌号。" * 8  # 168 characters

    order_transition(order=order, name="hold", actor=make_user("ops"), reason=reason)

    assert OrderTransitionLog.objects.get(order=order, transition="hold").reason == reason
    version = order.history.latest()
    assert len(version.history_change_reason) == 100
    assert version.history_change_reason.startswith("hold: 地址不详细")
    assert version.history_change_reason.endswith("…")
