import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections

from orderhub.models import OrderStatus
from orderhub.services.orders import order_transition
from tests.conftest import requires_postgres
from warehouse.models import Reservation, StockLevel, StockMovement, Warehouse
from warehouse.services.stock import (
    InsufficientStock,
    StockError,
    UnknownSku,
    order_allocate,
    stock_adjust,
    stock_count,
    stock_drift,
    stock_reroute,
    stock_reserve,
    stock_set_safety,
)
from warehouse.signals import stock_insufficient, stock_low
from warehouse.tasks import retry_out_of_stock

S = OrderStatus


def level(warehouse, sku):
    return StockLevel.objects.get(warehouse=warehouse, sku=sku)


def kit_order(make_order, status=S.PAID, qty=1, **kw):
    return make_order(status, lines=[
        {"sku_code": "KIT-1", "name": "礼盒", "quantity": qty, "unit_price": "99"},
        {"sku_code": "GIFT-1", "name": "杯套", "quantity": 1, "unit_price": "0", "is_gift": True},
    ], **kw)


def test_reserve_takes_every_line_and_writes_the_ledger(stocked, warehouse, make_order):
    # given an order for 2 cups and 1 gift sleeve
    order = make_order(S.PAID)
    # when
    reservations = stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    # then
    assert {(r.sku.code, r.quantity) for r in reservations} == {("SKU-1", 2), ("GIFT-1", 1)}
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved, cup.available) == (10, 2, 8)
    assert StockMovement.objects.filter(order=order, kind="reservation").count() == 2
    assert stock_drift() == []


def test_reserving_twice_does_not_double(stocked, warehouse, make_order):
    order = make_order(S.PAID)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    again = stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    assert len(again) == 2
    assert level(warehouse, stocked["cup"]).reserved == 2
    assert Reservation.objects.filter(order=order).count() == 2


def test_short_order_reserves_nothing_and_names_the_short_skus(stocked, warehouse, make_order):
    order = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 3, "unit_price": "1"},
        {"sku_code": "LID-1", "name": "lid", "quantity": 11, "unit_price": "1"},
        {"sku_code": "GIFT-1", "name": "sleeve", "quantity": 12, "unit_price": "0"},
    ])
    with pytest.raises(InsufficientStock) as exc_info:
        stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    assert sorted(exc_info.value.sku_codes) == ["GIFT-1", "LID-1"]
    assert {s.available for s in exc_info.value.shortages} == {10}
    assert level(warehouse, stocked["cup"]).reserved == 0
    assert not Reservation.objects.exists()


def test_unknown_sku_is_a_clear_error(stocked, warehouse, make_order):
    order = make_order(S.PAID, lines=[
        {"sku_code": "NOPE-9", "name": "?", "quantity": 1, "unit_price": "1"}])
    with pytest.raises(UnknownSku, match="NOPE-9"):
        stock_reserve(order=order, warehouse=warehouse, actor="system:test")


def test_kit_reserves_its_components(stocked, warehouse, make_order):
    order = kit_order(make_order, qty=2)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    got = {r.sku.code: r.quantity for r in Reservation.objects.filter(order=order)}
    assert got == {"SKU-1": 4, "LID-1": 2, "GIFT-1": 1}
    assert level(warehouse, stocked["cup"]).reserved == 4


def test_cancel_releases_exactly_what_was_reserved(
    stocked, warehouse, make_order, django_capture_on_commit_callbacks
):
    other = make_order(S.PAID)
    stock_reserve(order=other, warehouse=warehouse, actor="system:test")
    order = kit_order(make_order)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    assert level(warehouse, stocked["cup"]).reserved == 4
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, name="cancel", actor="system:test", reason="buyer asked")
    assert level(warehouse, stocked["cup"]).reserved == 2  # the other order's 2 stay
    assert level(warehouse, stocked["lid"]).reserved == 0
    assert set(Reservation.objects.filter(order=order).values_list("status", flat=True)) == {
        "released"}
    assert StockMovement.objects.filter(order=order, kind="release").count() == 3
    assert stock_drift() == []


def test_ship_consumes_the_reservation(
    stocked, warehouse, make_order, django_capture_on_commit_callbacks
):
    order = make_order(S.PAID)
    order_allocate(order=order, warehouse=warehouse, actor="system:test")
    for name in ("claim", "finish"):
        order_transition(order=order, name=name, actor="system:test")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, name="ship", actor="system:test")
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (8, 0)
    assert stock_drift() == []


def test_reroute_moves_the_reservation(stocked, warehouse, make_order, receive):
    bj = Warehouse.objects.create(code="bj", name="Beijing DC")
    for sku in ("cup", "sleeve"):
        receive(bj, stocked[sku], 5)
    order = make_order(S.READY_TO_PICK, warehouse=warehouse)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    stock_reroute(order=order, warehouse=bj, actor="system:test")
    order.refresh_from_db()
    assert order.warehouse == bj
    assert level(warehouse, stocked["cup"]).reserved == 0
    assert level(bj, stocked["cup"]).reserved == 2
    assert Reservation.objects.filter(order=order, status="active").count() == 2
    assert stock_drift() == []


def test_reroute_to_a_short_warehouse_keeps_the_old_reservation(
    stocked, warehouse, make_order, receive
):
    bj = Warehouse.objects.create(code="bj", name="Beijing DC")
    receive(bj, stocked["cup"], 1)
    order = make_order(S.READY_TO_PICK, warehouse=warehouse)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    with pytest.raises(InsufficientStock):
        stock_reroute(order=order, warehouse=bj, actor="system:test")
    order.refresh_from_db()
    assert order.warehouse == warehouse
    assert level(warehouse, stocked["cup"]).reserved == 2
    assert level(bj, stocked["cup"]).reserved == 0


def test_allocate_short_goes_out_of_stock_and_tells_purchasing_then_restock_retries(
    stocked, warehouse, make_order, receive, django_capture_on_commit_callbacks
):
    warehouse.purchasing_contact_name = "李采购"
    warehouse.purchasing_contact_phone = "+8613900139000"
    warehouse.save()
    heard = []
    stock_insufficient.connect(lambda **kw: heard.append(kw), weak=False, dispatch_uid="t1")
    try:
        order = make_order(S.PAID, lines=[
            {"sku_code": "LID-1", "name": "lid", "quantity": 12, "unit_price": "1"}])
        with django_capture_on_commit_callbacks(execute=True):
            result = order_allocate(order=order, warehouse=warehouse, actor="system:test")
    finally:
        stock_insufficient.disconnect(dispatch_uid="t1")
    assert not result.ok
    assert result.order.status == S.OUT_OF_STOCK
    assert heard[0]["shortages"] == [{"sku_code": "LID-1", "requested": 12, "available": 10}]
    assert heard[0]["purchasing_contact"]["name"] == "李采购"
    # when stock arrives, the periodic retry reserves and restocks it
    assert retry_out_of_stock() == 0
    receive(warehouse, stocked["lid"], 2)
    assert retry_out_of_stock() == 1
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK
    assert level(warehouse, stocked["lid"]).reserved == 12


def test_allocate_paid_order_is_ready_to_pick(stocked, warehouse, make_order):
    order = make_order(S.PAID)
    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")
    assert result.ok and result.order.status == S.READY_TO_PICK
    assert result.order.warehouse == warehouse


@pytest.mark.parametrize("bad", ["abc", "1.5", "", None, True])
def test_bad_adjustments_are_refused(stocked, warehouse, bad):
    with pytest.raises(StockError):
        stock_adjust(warehouse=warehouse, sku=stocked["cup"], delta=bad, actor="system:test",
                     reason="x")
    assert level(warehouse, stocked["cup"]).on_hand == 10


def test_receipt_cannot_be_negative_and_adjustment_needs_a_reason(stocked, warehouse):
    with pytest.raises(StockError):
        stock_adjust(warehouse=warehouse, sku=stocked["cup"], delta=-1, actor="system:test",
                     reason="x", kind="receipt")
    with pytest.raises(StockError, match="reason"):
        stock_adjust(warehouse=warehouse, sku=stocked["cup"], delta=-1, actor="system:test",
                     reason=" ")
    with pytest.raises(StockError):
        stock_count(warehouse=warehouse, sku=stocked["cup"], counted=-3, actor="system:test")
    assert level(warehouse, stocked["cup"]).on_hand == 10


def test_adjustment_cannot_go_below_reserved(stocked, warehouse, make_order):
    stock_reserve(order=make_order(S.PAID), warehouse=warehouse, actor="system:test")
    with pytest.raises(StockError, match="promised"):
        stock_adjust(warehouse=warehouse, sku=stocked["cup"], delta=-9, actor="system:test",
                     reason="broken")
    stock_adjust(warehouse=warehouse, sku=stocked["cup"], delta=-8, actor="system:test",
                 reason="broken")
    assert level(warehouse, stocked["cup"]).on_hand == 2


def test_count_records_the_difference(stocked, warehouse):
    movement = stock_count(warehouse=warehouse, sku=stocked["cup"], counted=7,
                           actor="system:test", reason="cycle count")
    assert movement.on_hand_delta == -3 and movement.kind == "count"
    assert stock_count(warehouse=warehouse, sku=stocked["cup"], counted=7,
                       actor="system:test") is None


def test_low_stock_signal_when_available_reaches_safety(
    stocked, warehouse, make_order, django_capture_on_commit_callbacks
):
    stock_set_safety(warehouse=warehouse, sku=stocked["cup"], safety=7, actor="system:test")
    heard = []
    stock_low.connect(lambda **kw: heard.append(kw), weak=False, dispatch_uid="t2")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            stock_reserve(order=make_order(S.PAID), warehouse=warehouse, actor="system:test")
        assert heard == []  # available 10-2-7 = 1
        with django_capture_on_commit_callbacks(execute=True):
            stock_reserve(order=make_order(S.PAID), warehouse=warehouse, actor="system:test")
    finally:
        stock_low.disconnect(dispatch_uid="t2")
    assert [(h["sku_code"], h["available"]) for h in heard] == [("SKU-1", -1)]


def test_stop_selling_protects_the_safety_stock(stocked, warehouse, make_order):
    cup = stocked["cup"]
    cup.stop_selling_at_safety = True
    cup.save()
    stock_set_safety(warehouse=warehouse, sku=cup, safety=9, actor="system:test")
    with pytest.raises(InsufficientStock):
        stock_reserve(order=make_order(S.PAID), warehouse=warehouse, actor="system:test")
    cup.stop_selling_at_safety = False
    cup.save()
    stock_reserve(order=make_order(S.PAID), warehouse=warehouse, actor="system:test")


def test_check_stock_passes_then_reports_drift(stocked, warehouse, capsys):
    call_command("check_stock")
    assert "match" in capsys.readouterr().out
    StockLevel.objects.filter(sku=stocked["cup"]).update(on_hand=99)
    with pytest.raises(SystemExit) as exc_info:
        call_command("check_stock")
    assert exc_info.value.code == 1
    out = capsys.readouterr().out
    assert "DRIFT sh SKU-1: on hand level 99 ledger 10" in out


def test_database_refuses_reserved_above_on_hand(stocked, warehouse):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(sku=stocked["cup"]).update(reserved=11)


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_threads_race_for_the_last_five_units(warehouse, make_order, receive):
    from warehouse.models import SKU

    sku = SKU.objects.create(code="LAST-1", name="last ones")
    receive(warehouse, sku, 5)
    orders = [
        make_order(S.PAID, lines=[{"sku_code": "LAST-1", "name": "x", "quantity": 1,
                                   "unit_price": "1"}])
        for _ in range(20)
    ]
    barrier = threading.Barrier(20)
    results = []

    def worker(order):
        try:
            barrier.wait()
            stock_reserve(order=order, warehouse=warehouse, actor="system:test")
            results.append("ok")
        except InsufficientStock:
            results.append("short")
        except Exception as exc:  # a deadlock or any other failure must fail the test
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] * 5 + ["short"] * 15
    lvl = StockLevel.objects.get(warehouse=warehouse, sku=sku)
    assert (lvl.on_hand, lvl.reserved) == (5, 5)
    assert stock_drift() == []
    assert connection.vendor == "postgresql"


def test_sweep_releases_what_a_failed_receiver_left(stocked, warehouse, make_order):
    from warehouse.tasks import sweep_reservations

    order = make_order(S.PAID)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    # the cancel's on-commit receiver never ran (callbacks are not executed here)
    order_transition(order=order, name="cancel", actor="system:test", reason="fraud")
    assert level(warehouse, stocked["cup"]).reserved == 2
    assert sweep_reservations() == 3
    assert level(warehouse, stocked["cup"]).reserved == 0
    assert sweep_reservations() == 0


def test_beat_schedules_the_warehouse_tasks():
    from orderhub.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"warehouse.tasks.import_all_external_stock", "warehouse.tasks.retry_out_of_stock",
            "warehouse.tasks.sweep_reservations"} <= tasks
    app.loader.import_default_modules()
    assert "warehouse.tasks.sweep_reservations" in app.tasks


def test_batch_reserve_is_all_or_nothing_per_order(stocked, warehouse, make_order):
    from warehouse.services.stock import stock_reserve_batch

    first = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 6, "unit_price": "1"}])
    short = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 5, "unit_price": "1"},
        {"sku_code": "LID-1", "name": "lid", "quantity": 1, "unit_price": "1"}])
    kit = kit_order(make_order)  # 2 cups + 1 lid + 1 sleeve
    unknown = make_order(S.PAID, lines=[
        {"sku_code": "NOPE", "name": "?", "quantity": 1, "unit_price": "1"}])
    results = stock_reserve_batch(orders=[first, short, kit, unknown], warehouse=warehouse,
                                  actor="system:test")
    assert isinstance(results[short.pk], InsufficientStock)
    assert results[short.pk].sku_codes == ["SKU-1"]
    assert isinstance(results[unknown.pk], UnknownSku)
    assert {r.sku_id for r in results[kit.pk]} == {
        stocked["cup"].pk, stocked["lid"].pk, stocked["sleeve"].pk}
    assert (level(warehouse, stocked["cup"]).reserved, level(warehouse, stocked["lid"]).reserved
            ) == (8, 1)
    assert not Reservation.objects.filter(order=short).exists()
    again = stock_reserve_batch(orders=[first, kit], warehouse=warehouse, actor="system:test")
    assert len(again[first.pk]) == 1
    assert level(warehouse, stocked["cup"]).reserved == 8
    assert stock_drift() == []


def test_one_batch_reserves_in_several_warehouses(stocked, warehouse, make_order):
    from warehouse.services.stock import stock_reserve_batch

    other = Warehouse.objects.create(code="bj", name="Beijing DC")
    stock_adjust(warehouse=other, sku=stocked["cup"], delta=3, actor="system:test",
                 reason="test", kind="receipt")
    cups = [{"sku_code": "SKU-1", "name": "cup", "quantity": 2, "unit_price": "1"}]
    here, there, short = (make_order(S.PAID, lines=cups) for _ in range(3))
    # when: one call, two orders for Beijing (3 cups there: the first one wins)
    results = stock_reserve_batch(orders=[here, there, short], warehouse=warehouse,
                                  warehouse_for={there.pk: other, short.pk: other},
                                  actor="system:test")
    # then
    assert [(r.warehouse_id, r.quantity) for r in results[here.pk]] == [(warehouse.pk, 2)]
    assert [(r.warehouse_id, r.quantity) for r in results[there.pk]] == [(other.pk, 2)]
    assert isinstance(results[short.pk], InsufficientStock)
    assert results[short.pk].warehouse == other
    assert level(warehouse, stocked["cup"]).reserved == 2
    assert level(other, stocked["cup"]).reserved == 2
    # the same orders again: idempotent, and an order cannot switch warehouses this way
    again = stock_reserve_batch(orders=[here, there], warehouse=other, actor="system:test")
    assert not isinstance(again[there.pk], StockError)
    assert isinstance(again[here.pk], StockError)
    assert level(other, stocked["cup"]).reserved == 2
    assert stock_drift() == []
