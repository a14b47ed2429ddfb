"""The hub holds what the platform holds (issue 12): platform-shipped orders, stale
payloads, platform edits, address-less orders and bad input, on every ingest path.

A small fake normalizer stands for "any connector" here: it turns a plain dict into
the ``NormalizedOrder`` the connectors fill (fulfilment state, parcels, shipped
quantities, gift binding, platform data, updated time), so these tests pin the
pipeline's generic rules whatever platform the data came from. Every order goes
through the real paths: ``ingest_items`` (poll and file import, bulk create for new
orders, per-order for known ones) and ``store_raw`` + ``process_raw`` (webhooks and
replays).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils.dateparse import parse_datetime

from channels.connectors.base import (
    COMPLETED,
    DELIVERED,
    PARTIALLY_SHIPPED,
    SHIPPED,
    NormalizedLine,
    NormalizedOrder,
    NormalizedShipment,
)
from channels.models import Channel, RawPayload
from channels.pipeline import ingest_items, process_raw, store_raw
from orderhub.models import Order, OrderTransitionLog
from orderhub.models import OrderStatus as S
from orderhub.services.orders import order_transition
from orderhub.signals import order_edited

BASE_TIME = "2026-11-20T10:00:00+08:00"


class FakeNormalizer:
    """Any connector: a plain dict in, the fields connectors fill out."""

    def external_id(self, raw: dict) -> str:
        return raw["id"]

    def normalize(self, raw: dict) -> NormalizedOrder:
        lines = [NormalizedLine(
            external_line_id=line["id"], platform_sku=line["sku"],
            name=line.get("name", line["sku"]), quantity=line["qty"],
            unit_price=Decimal(line.get("price", "50.00")), is_gift=line.get("gift", False),
            shipped_quantity=line.get("shipped", 0), gift_for=line.get("gift_for", ""),
        ) for line in raw["lines"]]
        shipments = [NormalizedShipment(
            carrier=p["carrier"], tracking_number=p.get("tracking", ""),
            shipped_at=parse_datetime(p["at"]) if p.get("at") else None,
            lines=p.get("lines", {})) for p in raw.get("parcels", [])]
        return NormalizedOrder(
            external_id=raw["id"], status=raw.get("status", "paid"),
            updated_at=parse_datetime(raw["updated_at"]) if raw.get("updated_at") else None,
            placed_at=parse_datetime(BASE_TIME), paid_at=parse_datetime(BASE_TIME),
            lines=lines, shipping_fee=Decimal(raw.get("fee", "0.00")),
            total=Decimal(raw["total"]) if raw.get("total") else None,
            ship_name=raw.get("name", "王伟"), ship_phone=raw.get("phone", "13800138000"),
            ship_country="CN", ship_province="上海市", ship_city="上海市",
            ship_district="浦东新区", ship_street=raw.get("street", "世纪大道100号"),
            fulfillment=raw.get("fulfillment", ""), shipments=shipments,
            platform_data=raw.get("platform_data", {}),
        )


def payload(order_id="P1", *, updated_at="2026-11-20T10:05:00+08:00", **extra) -> dict:
    data = {"id": order_id, "updated_at": updated_at,
            "lines": [{"id": f"{order_id}-L1", "sku": "SKU-A", "qty": 2},
                      {"id": f"{order_id}-L2", "sku": "SKU-B", "qty": 1}]}
    data.update(extra)
    return data


def shipped(order_id="P1", *, fulfillment=SHIPPED, tracking="SF1234567890",
            updated_at="2026-11-20T15:05:00+08:00", **extra) -> dict:
    parcels = [{"carrier": "顺丰速运", "tracking": tracking, "at": "2026-11-20T15:00:00+08:00"}]
    return payload(order_id, fulfillment=fulfillment, parcels=parcels, updated_at=updated_at,
                   **extra)


def platform_versions(order) -> int:
    # Versions the platform's data made (automation, reacting after commit, adds its own).
    return order.history.filter(history_change_reason__startswith="updated on the platform").count()


@pytest.fixture
def channel(db):
    from warehouse.models import SKU

    for code in ("SKU-A", "SKU-B", "SKU-C"):
        SKU.objects.create(code=code, name=code)
    return Channel.objects.create(code="any-shop", name="Any shop", platform="shopify")


def poll(channel, *items):
    """The poll / file path: new orders are bulk-created, known ones upserted one by one."""
    return ingest_items(channel=channel, items=[json.loads(json.dumps(i)) for i in items],
                        source="poll", normalizer=FakeNormalizer())


def webhook(channel, item):
    """The webhook / replay path: stored first, then processed on its own."""
    raw, _created = store_raw(channel=channel, body=json.dumps(item, ensure_ascii=False),
                              source="webhook",
                              external_id=item["id"])
    outcome, _order_id = process_raw(raw=raw, normalizer=FakeNormalizer())
    raw.refresh_from_db()
    return outcome, raw


PATHS = {"poll": lambda ch, item: poll(ch, item), "webhook": webhook}


def transitions(order) -> list[str]:
    return list(OrderTransitionLog.objects.filter(order=order).values_list(
        "transition", flat=True))


def no_warehouse_work(order) -> None:
    from warehouse.models import PickListOrder, PickTask, Reservation

    assert not Reservation.objects.filter(order=order).exists()
    assert not PickTask.objects.filter(order=order).exists()
    assert not PickListOrder.objects.filter(order=order).exists()


# --- 1. shipped on the platform ---------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize(("fulfillment", "status", "steps"), [
    (SHIPPED, S.SHIPPED, ["pay", "ship_on_platform"]),
    (DELIVERED, S.DELIVERED, ["pay", "ship_on_platform", "deliver"]),
    (COMPLETED, S.COMPLETED, ["pay", "ship_on_platform", "deliver", "complete"]),
])
def test_new_order_shipped_on_the_platform_enters_shipped(
        channel, path, fulfillment, status, steps, django_capture_on_commit_callbacks):
    # given a paid order the platform already shipped
    item = shipped(fulfillment=fulfillment)

    # when it arrives (automation and the warehouse react after commit, as in production)
    with django_capture_on_commit_callbacks(execute=True):
        PATHS[path](channel, item)

    # then it is where the platform is, with the platform's carrier and tracking
    order = Order.objects.get(channel=channel, external_id="P1")
    assert order.status == status
    assert transitions(order) == steps
    assert (order.carrier, order.tracking_number) == ("顺丰速运", "SF1234567890")
    assert order.shipped_at == parse_datetime("2026-11-20T15:00:00+08:00")
    event = order.events.get(kind="platform_shipped")
    assert "SF1234567890" in event.message
    assert event.data["shipments"][0]["tracking_number"] == "SF1234567890"
    # and never reaches the warehouse: no reservation, no pick task, no pick list
    no_warehouse_work(order)
    from fulfillment.models import OrderDecision

    assert not OrderDecision.objects.filter(order=order).exists()


@pytest.fixture
def eager_automation(channel, warehouse):
    """Automation runs in-process after commit, with every SKU in stock, as a worker would."""
    from orderhub.celery import app
    from warehouse.models import SKU
    from warehouse.services.stock import stock_adjust

    for sku in SKU.objects.all():
        stock_adjust(warehouse=warehouse, sku=sku, delta=50, actor="system:test", reason="test",
                     kind="receipt")
    old = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


@pytest.mark.parametrize("path", sorted(PATHS))
def test_shipped_order_never_reaches_automation_while_a_paid_one_does(
        channel, path, eager_automation, django_capture_on_commit_callbacks):
    from fulfillment.models import OrderDecision
    from warehouse.models import Reservation

    # given one order the platform shipped and one it did not, in the same run
    with django_capture_on_commit_callbacks(execute=True):
        PATHS[path](channel, shipped("P1"))
    with django_capture_on_commit_callbacks(execute=True):
        PATHS[path](channel, payload("P2"))

    # then automation reserved and queued only the one the hub must ship
    p1, p2 = Order.objects.get(external_id="P1"), Order.objects.get(external_id="P2")
    assert p2.status == S.READY_TO_PICK and Reservation.objects.filter(order=p2).exists()
    assert p1.status == S.SHIPPED
    assert not OrderDecision.objects.filter(order=p1).exists()
    no_warehouse_work(p1)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_shipped_without_tracking_enters_shipped_with_a_note(channel, path):
    PATHS[path](channel, shipped(tracking=""))
    order = Order.objects.get(external_id="P1")
    assert order.status == S.SHIPPED and order.tracking_number == ""
    event = order.events.get(kind="platform_shipped")
    assert event.data["no_tracking"] is True
    assert "no tracking number" in event.message
    no_warehouse_work(order)


@pytest.mark.parametrize("queued", ["paid", "review", "ready_to_pick", "held"])
def test_queued_order_shipped_on_the_platform_leaves_the_queue(channel, queued):
    # given an order waiting in the hub's queue
    poll(channel, payload())
    order = Order.objects.get(external_id="P1")
    actor = "system:test"
    if queued == "review":
        order_transition(order=order, name="hold_review", actor=actor, reason="check")
    elif queued == "ready_to_pick":
        order_transition(order=order, name="mark_ready", actor=actor)
    elif queued == "held":
        order_transition(order=order, name="hold", actor=actor, reason="wait")

    # when the platform says it shipped it (every unit)
    news = shipped()
    for line in news["lines"]:
        line["shipped"] = line["qty"]
    result = poll(channel, news)

    # then it leaves the queue for shipped, with one event telling ops
    assert result.updated == 1
    order.refresh_from_db()
    assert order.status == S.SHIPPED and order.held_from == "" and order.hold_reason == ""
    assert order.tracking_number == "SF1234567890"
    assert transitions(order)[-1] == "ship_on_platform"
    assert all(ln.shipped_quantity == ln.quantity for ln in order.lines.all())
    event = order.events.get(kind="platform_shipped")
    assert event.data["from_status"] == (S.ON_HOLD if queued == "held" else queued)
    # and the same news again changes nothing
    again = json.loads(json.dumps(news))
    again["lines"][0]["name"] = "SKU-A"  # re-serialised, same content
    assert poll(channel, again).unchanged == 1


@pytest.mark.parametrize("started", ["picking", "picked"])
def test_shipped_on_the_platform_while_being_picked_is_held(channel, started):
    poll(channel, payload())
    order = Order.objects.get(external_id="P1")
    for name in ["mark_ready", "claim", "finish"][: 2 if started == "picking" else 3]:
        order_transition(order=order, name=name, actor="system:test")

    news = shipped()
    for line in news["lines"]:  # the platform says every unit went out
        line["shipped"] = line["qty"]
    poll(channel, news)

    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.held_from == started
    assert order.hold_reason == "Shipped on the platform while being picked: stop the pick"
    assert order.tracking_number == ""  # not shipped by the hub: a person decides
    event = order.events.get(kind="platform_shipped_while_picking")
    assert "stop the pick" in event.message
    # the shipped quantities that came with it wait for a person, as any late change does
    assert order.events.filter(kind="platform_change_pending").count() == 1
    assert set(order.lines.values_list("shipped_quantity", flat=True)) == {0}
    # told once, not on every poll
    poll(channel, shipped(updated_at="2026-11-20T16:00:00+08:00"))
    assert order.events.filter(kind="platform_shipped_while_picking").count() == 1


@pytest.mark.parametrize("path", sorted(PATHS))
def test_partially_shipped_order_keeps_what_is_left_to_pick(channel, path):
    item = payload(fulfillment=PARTIALLY_SHIPPED,
                   parcels=[{"carrier": "中通快递", "tracking": "ZT1", "lines": {"P1-L1": 1}}])
    item["lines"][0]["shipped"] = 1
    PATHS[path](channel, item)
    order = Order.objects.get(external_id="P1")
    assert order.status == S.PAID  # the rest follows the normal path
    assert {ln.external_line_id: (ln.quantity, ln.shipped_quantity)
            for ln in order.lines.all()} == {"P1-L1": (2, 1), "P1-L2": (1, 0)}


def test_more_units_shipped_on_a_queued_order_is_one_edit(
        channel, django_capture_on_commit_callbacks):
    poll(channel, payload(fulfillment=PARTIALLY_SHIPPED))
    order = Order.objects.get(external_id="P1")
    line_ids = set(order.lines.values_list("pk", flat=True))
    sent = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    later = payload(fulfillment=PARTIALLY_SHIPPED, updated_at="2026-11-20T12:00:00+08:00")
    later["lines"][0]["shipped"] = 2
    order_edited.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            poll(channel, later)
    finally:
        order_edited.disconnect(receiver)

    assert len(sent) == 1 and sent[0]["fields"] == ["lines"]
    line = order.lines.get(external_line_id="P1-L1")
    assert line.shipped_quantity == 2 and line.history.count() == 2
    assert set(order.lines.values_list("pk", flat=True)) == line_ids
    assert platform_versions(order) == 1
    assert order.events.filter(kind="edited").count() == 1


# --- 2. out-of-order payloads -------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
def test_older_payload_is_archived_and_changes_nothing(channel, path):
    # given the newer address is already applied
    PATHS[path](channel, payload(updated_at="2026-11-20T12:00:00+08:00", street="新地址200号"))
    order = Order.objects.get(external_id="P1")
    versions = order.history.count()

    # when an older payload (old address) arrives late
    PATHS[path](channel, payload(updated_at="2026-11-20T11:00:00+08:00", street="旧地址1号"))

    # then it is kept, marked processed with a note, and the order is untouched
    order.refresh_from_db()
    assert order.ship_street == "新地址200号"
    assert order.history.count() == versions
    assert order.platform_updated_at == parse_datetime("2026-11-20T12:00:00+08:00")
    old = RawPayload.objects.get(body__contains="旧地址1号")
    assert old.status == RawPayload.Status.PROCESSED and old.order == order
    assert "Older than what the order holds" in old.error


def test_equal_update_time_is_idempotent(channel):
    poll(channel, payload(updated_at="2026-11-20T12:00:00+08:00"))
    # the same time, a different payload (re-serialised by the platform): applied, same result
    again = payload(updated_at="2026-11-20T12:00:00+08:00")
    again["lines"][0]["name"] = "SKU-A"  # the name it had: nothing really changed
    assert poll(channel, again).unchanged == 1
    order = Order.objects.get(external_id="P1")
    assert order.history.count() == 2 and order.status == S.PAID


@pytest.mark.parametrize(("first", "then", "expected"), [
    ({"status": "cancelled"}, {"status": "paid"}, S.CANCELLED),
    ({"status": "paid"}, {"status": "unpaid"}, S.PAID),
    ({"fulfillment": SHIPPED, "parcels": [{"carrier": "SF", "tracking": "SF9"}]},
     {"status": "paid"}, S.SHIPPED),
    ({"fulfillment": DELIVERED, "parcels": [{"carrier": "SF", "tracking": "SF9"}]},
     {"fulfillment": SHIPPED, "parcels": [{"carrier": "SF", "tracking": "SF9"}]}, S.DELIVERED),
])
def test_status_never_moves_backwards_on_platform_data(channel, first, then, expected):
    poll(channel, payload(updated_at="2026-11-20T11:00:00+08:00", **first))
    # a NEWER payload that says an earlier state (a platform's re-sync, a refund reversed...)
    poll(channel, payload(updated_at="2026-11-20T12:00:00+08:00", **then))
    assert Order.objects.get(external_id="P1").status == expected


# --- 3. data kept ----------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
def test_platform_data_and_gift_binding_are_kept(channel, path):
    item = payload(platform_data={"marketplace_id": "A1F83G8C2ARO7P"})
    item["lines"].append({"id": "P1-G1", "sku": "SKU-C", "qty": 1, "price": "0.00",
                          "gift": True, "gift_for": "P1-L1"})
    PATHS[path](channel, item)
    order = Order.objects.get(external_id="P1")
    assert order.platform_data == {"marketplace_id": "A1F83G8C2ARO7P"}
    assert order.platform_updated_at == parse_datetime("2026-11-20T10:05:00+08:00")
    gift = order.lines.get(external_line_id="P1-G1")
    assert gift.is_gift and gift.gift_for == "P1-L1"


# --- 4. platform edits are edits ----------------------------------------------------------

def test_platform_edit_of_lines_address_and_money_is_one_versioned_edit(
        channel, django_capture_on_commit_callbacks):
    poll(channel, payload(updated_at="2026-11-20T11:00:00+08:00"))
    order = Order.objects.get(external_id="P1")
    first_line = order.lines.get(external_line_id="P1-L1").pk
    sent = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    edit = payload(updated_at="2026-11-20T12:00:00+08:00", street="世纪大道200号", fee="8.00",
                   total="158.00")
    edit["lines"][0]["qty"] = 3                       # quantity
    edit["lines"][1] = {"id": "P1-L3", "sku": "SKU-C", "qty": 1}  # a line swapped
    order_edited.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = poll(channel, edit)
    finally:
        order_edited.disconnect(receiver)

    assert result.updated == 1
    assert len(sent) == 1  # exactly one order_edited: automation re-runs once
    assert sent[0]["order_id"] == order.pk and "lines" in sent[0]["fields"]
    assert {"ship_street", "shipping_fee", "total"} <= set(sent[0]["fields"])
    order.refresh_from_db()
    assert platform_versions(order) == 1  # one version for the whole edit
    assert order.ship_street == "世纪大道200号"
    assert (order.shipping_fee, order.total) == (Decimal("8.00"), Decimal("158.00"))
    # matched by the platform's line id: the same row, now 3
    line = order.lines.get(external_line_id="P1-L1")
    assert (line.pk, line.quantity) == (first_line, 3)
    assert sorted(order.lines.values_list("sku_code", flat=True)) == ["SKU-A", "SKU-C"]
    edited = order.events.get(kind="edited")
    assert edited.data["changes"]["shipping_fee"] == ["0.00", "8.00"]
    assert edited.data["changes"]["total"][1] == "158.00"


def test_platform_edit_after_picking_started_is_held_not_applied(channel):
    poll(channel, payload(updated_at="2026-11-20T11:00:00+08:00"))
    order = Order.objects.get(external_id="P1")
    for name in ("mark_ready", "claim"):
        order_transition(order=order, name=name, actor="system:test")
    poll(channel, payload(updated_at="2026-11-20T12:00:00+08:00", street="世纪大道200号"))
    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.ship_street == "世纪大道100号"
    assert order.events.filter(kind="platform_change_pending").count() == 1


# --- 5. paid without an address -----------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
def test_paid_order_without_address_is_held_then_released(
        channel, path, django_capture_on_commit_callbacks):
    # given Amazon-like data without the restricted address
    with django_capture_on_commit_callbacks(execute=True):
        PATHS[path](channel, payload(name="", street="", phone=""))
    order = Order.objects.get(external_id="P1")
    assert order.status == S.ON_HOLD and order.held_from == S.PAID
    assert order.hold_reason.startswith("The platform sent no shipping address")
    assert transitions(order) == ["pay", "hold"]
    assert order.events.filter(kind="address_missing").count() == 1
    no_warehouse_work(order)

    # when a later payload brings the address
    PATHS[path](channel, payload(updated_at="2026-11-20T11:00:00+08:00"))

    # then it is released on its own, with a timeline event
    order.refresh_from_db()
    assert order.status == S.PAID and order.ship_street == "世纪大道100号"
    assert transitions(order) == ["pay", "hold", "release"]
    assert order.events.filter(kind="address_received").count() == 1


def test_a_persons_hold_is_not_released_by_the_address(channel):
    poll(channel, payload(name="", street=""))
    order = Order.objects.get(external_id="P1")
    order_transition(order=order, name="release", actor="system:test")
    order_transition(order=order, name="hold", actor="system:test", reason="buyer called")
    poll(channel, payload(updated_at="2026-11-20T11:00:00+08:00"))
    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.hold_reason == "buyer called"


# --- 6. bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize(("bad", "words"), [
    ({"status": "WAIT_SELLER_STOCK_OUT_X"}, "order state the hub does not know"),
    ({"fulfillment": "in_transit_somewhere"}, "shipping state the hub does not know"),
])
def test_unknown_state_is_quarantined_and_changes_nothing(channel, path, bad, words):
    PATHS[path](channel, payload(updated_at="2026-11-20T11:00:00+08:00"))
    order = Order.objects.get(external_id="P1")
    versions = order.history.count()
    PATHS[path](channel, payload(updated_at="2026-11-20T12:00:00+08:00", street="别处", **bad))
    raw = RawPayload.objects.get(status=RawPayload.Status.QUARANTINED)
    assert words in raw.error
    order.refresh_from_db()
    assert order.ship_street == "世纪大道100号" and order.history.count() == versions


def test_broken_encoding_is_quarantined(channel):
    body = json.dumps(payload(name="王伟"), ensure_ascii=False).encode("utf-8").replace(
        "王伟".encode(), "王伟".encode("gbk"))
    raw, _created = store_raw(channel=channel, body=body, source="webhook")
    assert process_raw(raw=raw, normalizer=FakeNormalizer())[0] == "rejected"
    raw.refresh_from_db()
    assert raw.status == RawPayload.Status.QUARANTINED and "not valid UTF-8" in raw.error
    assert not Order.objects.exists()


# --- CSV / legacy imports -------------------------------------------------------------------

def test_csv_row_with_tracking_number_enters_shipped(db, tmp_path):
    from channels.csv_import import csv_import
    from warehouse.models import SKU

    SKU.objects.create(code="SKU-A", name="A")
    channel = Channel.objects.create(code="legacy-csv", name="旧系统", platform="csv", config={
        "csv": {"columns": {"order_id": "订单号", "buyer_name": "买家", "phone": "手机号",
                            "province": "省", "city": "市", "address": "详细地址",
                            "sku": "商家编码", "quantity": "数量", "price": "单价",
                            "status": "订单状态", "carrier": "快递公司",
                            "tracking_number": "快递单号", "shipped_at": "发货时间"}}})
    path = tmp_path / "orders.csv"
    path.write_text(
        "订单号,买家,手机号,省,市,详细地址,商家编码,数量,单价,订单状态,快递公司,快递单号,发货时间\n"
        "C1,王伟,13800138000,上海市,上海市,世纪大道1号,SKU-A,1,10,已发货,中通快递,ZT100,"
        "2026-11-20 15:00:00\n"
        "C2,李娜,13900139000,上海市,上海市,世纪大道2号,SKU-A,1,10,已付款,,,\n",
        encoding="utf-8")

    outcome = csv_import(channel=channel, path=path)

    assert outcome.result.created == 2
    c1 = Order.objects.get(external_id="C1")
    assert (c1.status, c1.carrier, c1.tracking_number) == (S.SHIPPED, "中通快递", "ZT100")
    assert c1.shipped_at == dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    no_warehouse_work(c1)
    assert Order.objects.get(external_id="C2").status == S.PAID


def test_payload_without_the_address_keeps_the_address_the_hub_holds(channel):
    poll(channel, payload(updated_at="2026-11-20T11:00:00+08:00"))
    # the platform's later payload comes without its restricted (PII) data, and cancels
    poll(channel, payload(updated_at="2026-11-20T12:00:00+08:00", name="", street="", phone="",
                          status="cancelled"))
    order = Order.objects.get(external_id="P1")
    assert (order.ship_name, order.ship_street) == ("王伟", "世纪大道100号")
    assert order.ship_phone == "+8613800138000"
    assert order.status == S.CANCELLED
