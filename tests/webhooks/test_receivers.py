"""Order and stock events become deliveries for the subscriptions that want them."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orderhub.models import OrderStatus as S
from orderhub.services.bulk import NewOrder, order_bulk_create
from orderhub.services.orders import order_transition
from warehouse.signals import stock_low
from webhooks.models import Delivery, EventType

pytestmark = pytest.mark.django_db


def bodies(event=None):
    rows = Delivery.objects.order_by("id")
    if event:
        rows = rows.filter(event=event)
    return [json.loads(d.body) for d in rows]


def test_an_order_created_by_hand_is_announced(make_subscription, make_order, queued,
                                               django_capture_on_commit_callbacks):
    subscription = make_subscription([EventType.ORDER_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(external_id="TB-1")

    [delivery] = Delivery.objects.all()
    assert (delivery.event, delivery.subscription, delivery.order) == (
        "order.created", subscription, order)
    body = json.loads(delivery.body)
    assert body["id"] == str(delivery.uuid)
    assert body["event"] == "order.created"
    assert body["occurred_at"].endswith("Z")
    summary = body["data"]["order"]
    assert summary["number"] == order.number
    assert summary["channel"] == "shop"
    assert summary["external_id"] == "TB-1"
    assert summary["status"] == "pending_payment"
    # queued after the commit
    assert ("webhooks.tasks.send_delivery", delivery.pk) in queued


def test_status_events_follow_the_transitions(make_subscription, make_order, queued,
                                              django_capture_on_commit_callbacks):
    paid_only = make_subscription([EventType.ORDER_PAID], name="paid")
    every = make_subscription([EventType.ORDER_STATUS_CHANGED, EventType.ORDER_SHIPPED,
                               EventType.ORDER_DELIVERED, EventType.ORDER_CANCELLED],
                              name="all")
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.DELIVERED, carrier="SF", tracking_number="SF123")
        make_order(S.CANCELLED)

    assert list(Delivery.objects.filter(subscription=paid_only).values_list("event", flat=True)
                ) == ["order.paid"]
    events = sorted(Delivery.objects.filter(subscription=every).values_list("event", flat=True))
    assert events.count("order.status_changed") == 7  # 6 moves + the cancel
    assert {"order.shipped", "order.delivered", "order.cancelled"} <= set(events)
    [shipped] = bodies("order.shipped")
    assert shipped["data"]["change"] == {"transition": "ship", "from_status": "picked",
                                         "to_status": "shipped", "actor": "system:test"}
    assert shipped["data"]["order"]["tracking_number"] == "SF123"
    assert shipped["data"]["order"]["id"] == order.pk


def test_buyer_contact_is_masked_unless_the_subscription_includes_it(
        make_subscription, make_order, queued, django_capture_on_commit_callbacks):
    masked = make_subscription([EventType.ORDER_CREATED], name="masked")
    full = make_subscription([EventType.ORDER_CREATED], name="full", include_buyer_data=True)
    with django_capture_on_commit_callbacks(execute=True):
        make_order(buyer_name="张三丰", buyer_phone="13800138000",
                   buyer_email="alice@example.com", ship_street="世纪大道100号")

    def summary(subscription):
        return json.loads(Delivery.objects.get(subscription=subscription).body)["data"]["order"]

    hidden, shown = summary(masked), summary(full)
    assert hidden["buyer"] == {"name": "张*丰", "phone": "138****8000",
                               "email": "a***@example.com"}
    assert hidden["shipping_address"]["street"] == "••••"
    assert hidden["shipping_address"]["city"] == "上海市"
    raw = Delivery.objects.get(subscription=masked).body
    assert "13800138000" not in raw and "世纪大道" not in raw
    assert shown["buyer"]["phone"] == "+8613800138000"
    assert shown["shipping_address"]["street"] == "世纪大道100号"


def test_no_subscription_no_delivery_and_one_query(make_order, django_capture_on_commit_callbacks):
    order = make_order(S.PAID)
    with CaptureQueriesContext(connection) as ctx, \
            django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="mark_ready", actor="system:test")
    assert not Delivery.objects.exists()
    assert sum("webhooks_subscription" in q["sql"] for q in ctx.captured_queries) == 1


def test_inactive_subscriptions_and_unwanted_events_get_nothing(
        make_subscription, make_order, queued, django_capture_on_commit_callbacks):
    make_subscription([EventType.ORDER_CREATED], active=False)
    make_subscription([EventType.STOCK_LOW])
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.PAID)
    assert not Delivery.objects.exists()


def test_a_bulk_create_costs_the_same_queries_whatever_its_size(
        channel, make_subscription, queued, django_capture_on_commit_callbacks):
    make_subscription([EventType.ORDER_CREATED, EventType.ORDER_PAID])
    line = [{"sku_code": "CUP", "name": "杯", "quantity": 1, "unit_price": "10"}]

    def create(first, n):
        specs = [NewOrder(fields={"external_id": f"B{first + i}", "buyer_phone": "13800138000"},
                          lines=line, transitions=[("pay", "")]) for i in range(n)]
        with CaptureQueriesContext(connection) as ctx, \
                django_capture_on_commit_callbacks(execute=True):
            order_bulk_create(channel=channel, actor="system:test", orders=specs)
        return sum("webhooks_" in q["sql"] for q in ctx.captured_queries)

    create(0, 1)
    assert create(100, 2) == create(200, 6)
    assert Delivery.objects.filter(event="order.created").count() == 9
    assert Delivery.objects.filter(event="order.paid").count() == 9
    # created is recorded before paid for each order
    for external_id in ("B100", "B201"):
        events = [d.event for d in Delivery.objects.filter(
            order__external_id=external_id).order_by("id")]
        assert events == ["order.created", "order.paid"]


def test_stock_low_is_announced(make_subscription, warehouse, queued,
                                django_capture_on_commit_callbacks):
    make_subscription([EventType.STOCK_LOW])
    with django_capture_on_commit_callbacks(execute=True):
        stock_low.send(sender=None, warehouse_id=warehouse.pk, sku_id=1, sku_code="CUP-500",
                       available=0, safety=5)
    [body] = bodies("stock.low")
    assert body["data"] == {"stock": {"warehouse": "sh", "warehouse_name": "Shanghai DC",
                                      "sku": "CUP-500", "available": 0, "safety": 5}}


def test_a_failing_receiver_never_breaks_the_transition(make_subscription, make_order,
                                                        monkeypatch, queued,
                                                        django_capture_on_commit_callbacks):
    from webhooks import receivers

    make_subscription([EventType.ORDER_PAID])

    def boom(items):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(receivers, "deliveries_record", boom)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.PAID)
    assert order.status == S.PAID
    assert not Delivery.objects.exists()
