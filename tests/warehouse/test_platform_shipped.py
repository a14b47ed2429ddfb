"""Orders the platform shipped (in part or whole) before the hub picked them."""

# Notification fixtures are imported and then named as arguments.
# ruff: noqa: F811

import pytest

from fulfillment.notifications.models import AlertRoute, Event, Message, WarehouseContact
from orderhub.models import OrderLine, OrderStatus
from orderhub.services.orders import order_transition
from tests.notifications.conftest import aliyun, dingtalk, enqueued, wecom  # noqa: F401
from warehouse.models import (
    SKU,
    PickList,
    PickTask,
    Reservation,
    StockLevel,
    StockMovement,
)
from warehouse.services.packing import pack_scan, pack_start
from warehouse.services.picking import task_claim_next, task_finish, task_scan
from warehouse.services.picklists import catalogue_for, expand_lines, picklist_create
from warehouse.services.stock import (
    StockError,
    UnknownSku,
    order_allocate,
    order_stock_needs,
    orders_stock_needs,
    stock_drift,
    stock_reserve,
    stock_reserve_batch,
)
from warehouse.signals import order_shipped_on_platform
from warehouse.tasks import sweep_reservations

S = OrderStatus
pytestmark = pytest.mark.django_db

CUPS = {"sku_code": "SKU-1", "name": "保温杯", "quantity": 3, "unit_price": "59.00"}
KIT = {"sku_code": "KIT-1", "name": "礼盒", "quantity": 2, "unit_price": "99.00"}
SLEEVE = {"sku_code": "GIFT-1", "name": "杯套", "quantity": 1, "unit_price": "0", "is_gift": True}


def level(warehouse, sku):
    return StockLevel.objects.get(warehouse=warehouse, sku=sku)


def ship_part(order, **shipped):
    """The platform already shipped ``shipped[sku_code]`` units of the order's lines."""
    for code, units in shipped.items():
        OrderLine.objects.filter(order=order, sku_code=code).update(shipped_quantity=units)


def allocated(make_order, warehouse, **kw):
    """A paid order reserved in ``warehouse`` by the real allocation: ready to pick."""
    order = make_order(S.PAID, **kw)
    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")
    assert result.ok and result.order.status == S.READY_TO_PICK
    return result.order


def ship_on_platform(order, capture):
    with capture(execute=True):
        return order_transition(order=order.pk, name="ship_on_platform", actor="system:test",
                                reason="platform says shipped")


@pytest.fixture
def heard():
    news = []

    def listen(sender, **kwargs):
        news.append(kwargs)

    order_shipped_on_platform.connect(listen, dispatch_uid="test-heard", weak=False)
    yield news
    order_shipped_on_platform.disconnect(dispatch_uid="test-heard")


# --- stock needs ----------------------------------------------------------------------


def test_stock_needs_count_only_what_is_left_to_ship(stocked, make_order):
    # given 3 cups (1 shipped), 2 kits of 2 cups + 1 lid (1 shipped), a sleeve (shipped)
    order = make_order(S.PAID, lines=[CUPS, KIT, SLEEVE])
    ship_part(order, **{"SKU-1": 1, "KIT-1": 1, "GIFT-1": 1})
    cup, lid = stocked["cup"].pk, stocked["lid"].pk
    # when / then: 2 cups + 1 kit (2 cups, 1 lid); the sleeve needs nothing
    assert order_stock_needs(order) == {cup: 4, lid: 1}
    assert orders_stock_needs([order.pk]) == {order.pk: {cup: 4, lid: 1}}


def test_an_order_shipped_in_full_needs_no_stock(stocked, warehouse, make_order):
    order = make_order(S.PAID, lines=[CUPS, KIT, SLEEVE])
    ship_part(order, **{"SKU-1": 3, "KIT-1": 2, "GIFT-1": 1})
    assert order_stock_needs(order) == {}
    assert stock_reserve(order=order, warehouse=warehouse, actor="system:test") == []
    assert level(warehouse, stocked["cup"]).reserved == 0
    assert not StockMovement.objects.filter(order=order).exists()


def test_reservation_takes_only_the_remainder_on_both_paths(stocked, warehouse, make_order):
    # given two identical partly shipped orders
    one, two = (make_order(S.PAID, lines=[CUPS, KIT, SLEEVE]) for _ in range(2))
    for order in (one, two):
        ship_part(order, **{"SKU-1": 1, "KIT-1": 1})
    # when one is reserved alone and the other in a batch
    single = stock_reserve(order=one, warehouse=warehouse, actor="system:test")
    batch = stock_reserve_batch(orders=[two], warehouse=warehouse, actor="system:test")[two.pk]
    # then both hold the same: 4 cups, 1 lid, 1 sleeve
    expect = {("SKU-1", 4), ("LID-1", 1), ("GIFT-1", 1)}
    assert {(r.sku.code, r.quantity) for r in single} == expect
    assert {(r.sku.code, r.quantity) for r in batch} == expect
    assert level(warehouse, stocked["cup"]).reserved == 8
    assert stock_drift() == []


def test_batch_and_single_reservation_agree_on_bad_lines(stocked, warehouse, make_order):
    # given an empty kit, an unknown SKU, and an unknown SKU the platform shipped in full
    SKU.objects.create(code="KIT-EMPTY", name="空礼盒", kind=SKU.Kind.KIT)
    empty = [{"sku_code": "KIT-EMPTY", "name": "空", "quantity": 1, "unit_price": "9"}]
    unknown = [{"sku_code": "NOPE-9", "name": "?", "quantity": 1, "unit_price": "1"}]
    gone = [{"sku_code": "NOPE-9", "name": "?", "quantity": 1, "unit_price": "1"}, CUPS]
    singles = [make_order(S.PAID, lines=lines) for lines in (empty, unknown, gone)]
    batched = [make_order(S.PAID, lines=lines) for lines in (empty, unknown, gone)]
    ship_part(singles[2], **{"NOPE-9": 1})
    ship_part(batched[2], **{"NOPE-9": 1})
    # when
    outcomes = []
    for order in singles:
        try:
            outcomes.append(sorted((r.sku.code, r.quantity) for r in stock_reserve(
                order=order, warehouse=warehouse, actor="system:test")))
        except StockError as exc:
            outcomes.append(type(exc))
    results = stock_reserve_batch(orders=batched, warehouse=warehouse, actor="system:test")
    batch = [type(r) if isinstance(r, StockError) else sorted((x.sku.code, x.quantity) for x in r)
             for r in (results[o.pk] for o in batched)]
    # then: the empty kit and the unknown SKU are refused the same way on both paths
    assert outcomes == batch == [StockError, UnknownSku, [("SKU-1", 3)]]
    assert not Reservation.objects.filter(order__in=[singles[0], batched[0]]).exists()


# --- picking what is left -------------------------------------------------------------


def test_pick_task_and_pack_check_ask_only_for_the_remainder(stocked, warehouse, make_order,
                                                              make_user):
    # given 3 cups (1 shipped), 2 kits (both shipped), a sleeve
    order = make_order(S.PAID, lines=[CUPS, KIT, SLEEVE])
    ship_part(order, **{"SKU-1": 1, "KIT-1": 2})
    order_allocate(order=order, warehouse=warehouse, actor="system:test")
    assert {r.sku.code: r.quantity for r in Reservation.objects.filter(order=order)} == {
        "SKU-1": 2, "GIFT-1": 1}
    picker = make_user("picker")
    # when the picker claims it
    task = task_claim_next(picker=picker, warehouse=warehouse)
    # then only 2 cups and the sleeve are asked for; the shipped kits (and their lids) are not
    assert task.order == order
    assert sorted((ln.sku.code, ln.quantity) for ln in task.lines.all()) == [
        ("GIFT-1", 1), ("SKU-1", 2)]
    # a third cup is an over-pick
    for n, code in enumerate(["6901234567892", "6901234567892", "6909876543210"]):
        assert task_scan(task_id=task.pk, picker=picker, barcode=code, key=f"k{n}").ok
    assert task_scan(task_id=task.pk, picker=picker, barcode="6901234567892",
                     key="k9").result == "over_pick"
    task_finish(task_id=task.pk, picker=picker)
    # the packing bench checks the same units
    check = pack_start(packer=make_user("picker"), warehouse=warehouse, code=order.number)
    assert sorted((ln.sku.code, ln.quantity) for ln in check.lines.all()) == [
        ("GIFT-1", 1), ("SKU-1", 2)]
    assert pack_scan(check_id=check.pk, packer=check.packer, barcode="INT-LID-1",
                     key="p1").result == "wrong_item"


def test_pick_list_shows_only_the_remainder(stocked, warehouse, make_order):
    order = allocated(make_order, warehouse, lines=[CUPS, KIT, SLEEVE])
    ship_part(order, **{"SKU-1": 1, "KIT-1": 2})
    order.refresh_from_db()
    items = expand_lines(order, catalogue_for([order]))
    assert sorted((sku.code, qty) for sku, qty, _gift, _as in items) == [
        ("GIFT-1", 1), ("SKU-1", 2)]


# --- shipped on the platform while in the queue -----------------------------------------


def test_ship_on_platform_releases_the_reservation_and_consumes_nothing(
        stocked, warehouse, make_order, django_capture_on_commit_callbacks, heard):
    # given an order ready to pick, holding 2 cups and 1 sleeve
    order = allocated(make_order, warehouse)
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (10, 2)
    # when the platform says the seller shipped it
    order = ship_on_platform(order, django_capture_on_commit_callbacks)
    # then the units are back on offer and still on the shelf
    assert order.status == S.SHIPPED
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (10, 0)
    assert level(warehouse, stocked["sleeve"]).on_hand == 10
    assert set(Reservation.objects.filter(order=order).values_list("status", flat=True)) == {
        Reservation.Status.RELEASED}
    kinds = set(StockMovement.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == {StockMovement.Kind.RESERVATION, StockMovement.Kind.RELEASE}
    assert stock_drift() == []
    # and the lead is told what was undone (no pick list to void)
    assert heard == [{"signal": order_shipped_on_platform, "order_id": order.pk,
                      "warehouse_id": warehouse.pk, "units_released": 3, "pick_lists": [],
                      "tasks_closed": 0}]


def test_an_order_the_hub_ships_still_consumes_its_stock(
        stocked, warehouse, make_order, make_user, django_capture_on_commit_callbacks, heard):
    order = allocated(make_order, warehouse)
    for name in ("claim", "finish", "ship"):
        with django_capture_on_commit_callbacks(execute=True):
            order_transition(order=order.pk, name=name, actor="system:test")
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (8, 0)
    assert heard == []


def test_ship_on_platform_takes_the_order_off_its_pick_list(
        stocked, warehouse, make_order, django_capture_on_commit_callbacks, heard):
    # given a wave of two orders, the second also being picked by the hub later
    gone, stays = allocated(make_order, warehouse), allocated(make_order, warehouse)
    wave = picklist_create(orders=[gone, stays], actor="system:test")
    # when the platform ships the first
    ship_on_platform(gone, django_capture_on_commit_callbacks)
    # then the wave is void and reprinted with the other order only, in its old slot
    wave.refresh_from_db()
    assert wave.status == PickList.Status.VOID
    copy = PickList.objects.get(status=PickList.Status.ACTIVE)
    assert copy.original == wave and copy.reprint == 1
    assert list(copy.slots.values_list("order_id", "slot")) == [(stays.pk, 2)]
    assert heard[0]["pick_lists"] == [{"voided": wave.number, "printed": copy.number,
                                       "printed_id": copy.pk}]
    # and the hub shipping the other order as usual leaves the reprint alone
    for name in ("claim", "finish", "ship"):
        with django_capture_on_commit_callbacks(execute=True):
            order_transition(order=stays.pk, name=name, actor="system:test")
    copy.refresh_from_db()
    assert copy.status == PickList.Status.ACTIVE
    assert len(heard) == 1


def test_ship_on_platform_of_the_only_order_voids_its_list(
        stocked, warehouse, make_order, django_capture_on_commit_callbacks):
    order = allocated(make_order, warehouse)
    single = picklist_create(orders=[order], actor="system:test")
    ship_on_platform(order, django_capture_on_commit_callbacks)
    single.refresh_from_db()
    assert single.status == PickList.Status.VOID
    assert not PickList.objects.filter(status=PickList.Status.ACTIVE).exists()


def test_ship_on_platform_closes_an_open_pick_task(
        stocked, warehouse, make_order, make_user, django_capture_on_commit_callbacks, heard):
    # given an open task left on an order still in the queue (a claim that did not
    # finish moving the order; a picker would be sent to it)
    order = allocated(make_order, warehouse)
    task = PickTask.objects.create(order=order, warehouse=warehouse, picker=make_user("picker"))
    # when
    ship_on_platform(order, django_capture_on_commit_callbacks)
    # then
    task.refresh_from_db()
    assert task.status == PickTask.Status.ABANDONED and task.finished_at
    assert heard[0]["tasks_closed"] == 1


def test_sweep_releases_what_a_failed_receiver_left(stocked, warehouse, make_order, heard):
    # given the ship_on_platform news never arrived (no on-commit callbacks run)
    order = allocated(make_order, warehouse)
    pick_list = picklist_create(orders=[order], actor="system:test")
    order_transition(order=order.pk, name="ship_on_platform", actor="system:test")
    assert level(warehouse, stocked["cup"]).reserved == 2
    # when the periodic sweep runs
    sweep_reservations()
    # then the stock is released, not consumed, and the list is void
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (10, 0)
    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.VOID
    assert stock_drift() == []
    # a second sweep finds nothing
    assert sweep_reservations() == 0


def test_a_shipped_order_from_paid_without_stock_tells_nobody(
        stocked, warehouse, make_order, django_capture_on_commit_callbacks, heard):
    order = make_order(S.PAID)
    ship_on_platform(order, django_capture_on_commit_callbacks)
    assert heard == []


# --- ops are told ---------------------------------------------------------------------


def test_lead_is_alerted_and_the_buyer_gets_no_sms(
        stocked, warehouse, make_order, django_capture_on_commit_callbacks, aliyun, wecom,
        dingtalk, enqueued):
    # given the intercept alert routed to the WeCom robot and a lead on DingTalk
    AlertRoute.objects.create(event=Event.INTERCEPT, gateway=wecom)
    WarehouseContact.objects.create(warehouse=warehouse, role="lead", name="主管",
                                    phone="13700137000", gateway=dingtalk)
    order = allocated(make_order, warehouse, carrier="SF", tracking_number="SF1234567890")
    pick_list = picklist_create(orders=[order], actor="system:test")
    # when
    ship_on_platform(order, django_capture_on_commit_callbacks)
    # then the robot and the lead hear it once, with what to do; the buyer hears nothing
    messages = list(Message.objects.filter(order=order).order_by("gateway_id"))
    assert {(m.kind, m.event, m.gateway_id) for m in messages} == {
        (Message.Kind.TEAM, Event.INTERCEPT, wecom.pk),
        (Message.Kind.TEAM, Event.INTERCEPT, dingtalk.pk)}
    body = messages[0].body
    assert order.number in body and "SF1234567890" in body and pick_list.number in body
    # the same news again sends nothing new
    order_shipped_on_platform.send(sender=type(order), order_id=order.pk,
                                   warehouse_id=warehouse.pk, units_released=3,
                                   pick_lists=[], tasks_closed=0)
    assert Message.objects.filter(order=order).count() == 2
