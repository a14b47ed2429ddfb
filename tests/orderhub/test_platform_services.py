"""The order services' platform side: edits by platform line id, money edits, shipped
quantities, ``order_ship_on_platform``, the platform's modified time, and the bulk
create of already-shipped orders."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from orderhub.services.bulk import NewOrder, order_bulk_create
from orderhub.services.orders import (
    OrderServiceError,
    TransitionNotPermitted,
    TransitionRefused,
    order_record_platform_state,
    order_ship_on_platform,
    order_transition,
    order_update,
)
from orderhub.signals import order_edited

S = OrderStatus
PLATFORM = "system:ingest:shop"
LINES = [
    {"sku_code": "SKU-1", "name": "保温杯", "quantity": 2, "unit_price": "59.00",
     "external_line_id": "L1"},
    {"sku_code": "GIFT-1", "name": "杯套", "quantity": 1, "unit_price": "0", "is_gift": True,
     "external_line_id": "L2", "gift_for": "L1"},
]


@pytest.fixture
def edits():
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    order_edited.connect(receiver, dispatch_uid="test-platform-edits")
    yield calls
    order_edited.disconnect(dispatch_uid="test-platform-edits")


@pytest.mark.django_db
def test_platform_lines_match_by_line_id_even_when_the_sku_changes(
        make_order, edits, django_capture_on_commit_callbacks):
    order = make_order(S.PAID, lines=LINES)
    line = order.lines.get(external_line_id="L1")
    new = [{**LINES[0], "sku_code": "SKU-1B", "quantity": 3, "shipped_quantity": 1},
           dict(LINES[1])]

    with django_capture_on_commit_callbacks(execute=True):
        order_update(order=order, actor=PLATFORM, changes={}, lines=new, reason="platform")

    line.refresh_from_db()  # the same row: its history and reservations stay with it
    assert (line.sku_code, line.quantity, line.shipped_quantity) == ("SKU-1B", 3, 1)
    assert order.lines.get(external_line_id="L2").gift_for == "L1"
    assert len(edits) == 1 and edits[0]["fields"] == ["lines"]
    assert OrderEvent.objects.filter(order=order, kind="edited").count() == 1


@pytest.mark.django_db
def test_platform_money_edit_is_versioned_and_total_kept_as_charged(make_order):
    order = make_order(S.PAID, lines=LINES)
    versions = order.history.count()
    order_update(order=order, actor=PLATFORM,
                 changes={"shipping_fee": Decimal("10.00"), "total": Decimal("125.00"),
                          "platform_data": {"marketplace_id": "M2"}},
                 reason="updated on the platform")
    order.refresh_from_db()
    assert (order.shipping_fee, order.total) == (Decimal("10.00"), Decimal("125.00"))
    assert order.platform_data == {"marketplace_id": "M2"}
    assert order.history.count() == versions + 1
    event = OrderEvent.objects.get(order=order, kind="edited")
    assert event.data["changes"]["total"] == ["118.00", "125.00"]


@pytest.mark.django_db
def test_people_cannot_edit_platform_money_or_shipped_quantities(make_order, make_user):
    order = make_order(S.PAID, lines=[{**LINES[0], "shipped_quantity": 1}])
    with pytest.raises(OrderServiceError):
        order_update(order=order, actor=make_user("ops"), changes={"total": "1.00"})
    # a person's line edit leaves the platform's shipped quantity as it is
    order_update(order=order, actor=make_user("ops"), changes={},
                 lines=[{"sku_code": "SKU-1", "name": "保温杯", "quantity": 4,
                         "unit_price": "59.00", "shipped_quantity": 0}])
    line = order.lines.get()
    assert (line.quantity, line.shipped_quantity) == (4, 1)


@pytest.mark.django_db
def test_shipped_quantity_cannot_exceed_the_quantity(make_order):
    order = make_order(S.PAID, lines=LINES)
    with pytest.raises(ValidationError):
        order_update(order=order, actor=PLATFORM, changes={},
                     lines=[{**LINES[0], "shipped_quantity": 3}])


@pytest.mark.django_db
@pytest.mark.parametrize("start", [S.PAID, S.REVIEW, S.READY_TO_PICK, S.ON_HOLD])
def test_ship_on_platform_from_the_queue(make_order, start):
    order = make_order(start)
    at = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    order = order_ship_on_platform(order=order, actor=PLATFORM, carrier="顺丰速运",
                                   tracking_number="SF1", shipped_at=at,
                                   shipments=[{"carrier": "顺丰速运", "tracking_number": "SF1"}])
    assert order.status == S.SHIPPED
    assert (order.carrier, order.tracking_number, order.shipped_at) == ("顺丰速运", "SF1", at)
    assert order.hold_reason == "" and order.held_from == ""
    log = OrderTransitionLog.objects.filter(order=order).last()
    assert (log.transition, log.from_status, log.actor) == ("ship_on_platform", start, PLATFORM)
    event = OrderEvent.objects.get(order=order, kind="platform_shipped")
    assert event.data["from_status"] == start and event.data["no_tracking"] is False


@pytest.mark.django_db
def test_ship_on_platform_is_refused_once_picking_started_and_for_people(make_order, make_user):
    picking = make_order(S.PICKING)
    with pytest.raises(TransitionRefused):
        order_ship_on_platform(order=picking, actor=PLATFORM, tracking_number="SF1")
    assert Order.objects.get(pk=picking.pk).status == S.PICKING
    with pytest.raises(TransitionNotPermitted):
        order_ship_on_platform(order=make_order(S.PAID), actor=make_user("ops"))
    with pytest.raises(TransitionNotPermitted):
        order_transition(order=make_order(S.PAID), name="ship_on_platform",
                         actor=make_user("ops"))


@pytest.mark.django_db
def test_platform_updated_at_only_moves_forward(make_order):
    order = make_order(S.PAID)
    newer = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    order_record_platform_state(order=order, updated_at=newer)
    order_record_platform_state(order=order, updated_at=newer - dt.timedelta(hours=1))
    assert Order.objects.get(pk=order.pk).platform_updated_at == newer


@pytest.mark.django_db
def test_bulk_create_of_an_order_the_platform_shipped(channel):
    at = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    spec = NewOrder(
        fields={"external_id": "B1", "ship_name": "王伟", "ship_street": "世纪大道1号",
                "carrier": "中通快递", "tracking_number": "ZT1", "shipped_at": at,
                "platform_data": {"marketplace_id": "M1"}},
        lines=LINES,
        transitions=[("pay", "paid"), ("ship_on_platform", "shipped"), ("deliver", "delivered")],
        events=[("platform_shipped", "shipped on the platform", {"no_tracking": False})])

    result = order_bulk_create(channel=channel, actor=PLATFORM, orders=[spec])

    order = Order.objects.get(pk=result.orders[0].pk)
    assert order.status == S.DELIVERED and order.shipped_at == at
    assert order.platform_data == {"marketplace_id": "M1"}
    assert list(order.transition_logs.values_list("transition", flat=True)) == [
        "pay", "ship_on_platform", "deliver"]
    assert order.events.get(kind="platform_shipped").data == {"no_tracking": False}
    assert order.lines.get(external_line_id="L2").gift_for == "L1"
