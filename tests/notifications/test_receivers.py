"""Receivers: each event makes its ticket and messages once, however often it is announced."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from fulfillment import signals as fulfillment_signals
from fulfillment.notifications.models import AlertRoute, Message, WarehouseContact
from fulfillment.tickets.models import Ticket
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import order_transition
from warehouse import signals as warehouse_signals

pytestmark = pytest.mark.django_db
S = OrderStatus


@pytest.fixture
def routes(wecom, dingtalk):
    """Every team event goes to the WeCom robot."""
    from fulfillment.notifications.models import Event

    for event in Event.values:
        AlertRoute.objects.create(event=event, gateway=wecom)
    return wecom


def _twice(capture, send):
    with capture(execute=True):
        send()
    with capture(execute=True):
        send()


def test_shipped_sends_one_buyer_sms_in_chinese(make_order, aliyun, enqueued,
                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.SHIPPED, carrier="SF", tracking_number="SF1234567890")
    messages = list(Message.objects.filter(order=order))
    assert len(messages) == 1
    sms = messages[0]
    assert sms.kind == Message.Kind.SMS and sms.event == "shipped"
    assert sms.recipient == "+8613800138000" and sms.gateway == aliyun
    assert sms.language == "zh-hans" and "SF1234567890" in sms.body and "已发货" in sms.body
    assert sms.template_params["tracking_number"] == "SF1234567890"
    assert enqueued == [sms.pk]
    # The same news again (a replayed signal) sends nothing new.
    from orderhub.signals import order_status_changed

    order_status_changed.send(sender=Order, order_id=order.pk, transition="ship",
                              from_status="picked", to_status="shipped", actor="system:test")
    assert Message.objects.filter(order=order).count() == 1


def test_shipped_sms_in_english_abroad(make_order, aliyun, enqueued,
                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.SHIPPED, ship_country="US", buyer_phone="+14155550123",
                           carrier="UPS", tracking_number="1Z999")
    sms = Message.objects.get(order=order)
    assert sms.language == "en" and "has shipped" in sms.body and "1Z999" in sms.body


def test_shipped_without_sms_gateway_sends_nothing(make_order, enqueued,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.SHIPPED, tracking_number="SF1")
    assert not Message.objects.exists()


def test_intercept_opens_ticket_and_alerts_once(make_order, routes, enqueued,
                                                django_capture_on_commit_callbacks):
    order = make_order(S.PICKING)
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="intercept", actor="system:test",
                         reason="买家要求取消")
    from orderhub.signals import order_status_changed

    order_status_changed.send(sender=Order, order_id=order.pk, transition="intercept",
                              from_status="picking", to_status="cancelled", actor="x")
    ticket = Ticket.objects.get()
    assert ticket.kind == Ticket.Kind.INTERCEPT and ticket.order == order
    assert ticket.description == "买家要求取消"
    alert = Message.objects.get()
    assert alert.kind == Message.Kind.TEAM and alert.event == "intercept"
    assert order.number in alert.body and "买家要求取消" in alert.body


def test_stock_insufficient_ticket_and_purchasing_contact(make_order, warehouse, routes,
                                                          email_gateway, enqueued,
                                                          django_capture_on_commit_callbacks):
    order = make_order(S.OUT_OF_STOCK)
    WarehouseContact.objects.create(warehouse=warehouse, role="purchasing", name="李采购",
                                    email="buyer@wh.example", gateway=email_gateway)

    def send():
        warehouse_signals.stock_insufficient.send(
            sender=Order, order_id=order.pk, warehouse_id=warehouse.pk,
            shortages=[{"sku_code": "SKU-1", "requested": 2, "available": 0}],
            purchasing_contact={"name": "李采购", "phone": "", "email": "buyer@wh.example"})

    _twice(django_capture_on_commit_callbacks, send)
    ticket = Ticket.objects.get()
    assert ticket.kind == Ticket.Kind.OUT_OF_STOCK and "SKU-1" in ticket.description
    messages = Message.objects.order_by("id")
    assert [(m.gateway.name, m.recipient) for m in messages] == [
        ("mail", "buyer@wh.example"), ("wecom", "")]
    assert "SKU-1 0/2" in messages[0].body


def test_stock_insufficient_falls_back_to_warehouse_contact(make_order, warehouse, aliyun,
                                                            enqueued):
    order = make_order(S.OUT_OF_STOCK)
    warehouse_signals.stock_insufficient.send(
        sender=Order, order_id=order.pk, warehouse_id=warehouse.pk, shortages=[],
        purchasing_contact={"name": "王", "phone": "+8613900139000", "email": ""})
    assert Message.objects.get().recipient == "+8613900139000"


def test_stock_low_alerts_once_a_day(warehouse, routes, enqueued):
    for _ in range(2):
        warehouse_signals.stock_low.send(sender=None, warehouse_id=warehouse.pk, sku_id=7,
                                         sku_code="CUP-1", available=0, safety=5)
    message = Message.objects.get()
    assert message.event == "stock_low" and "CUP-1" in message.body
    assert not Ticket.objects.exists()


def test_pick_problem_ticket_and_alert(make_order, warehouse, routes, enqueued):
    order = make_order(S.PICKING)
    for _ in range(2):
        warehouse_signals.pick_problem_reported.send(
            sender=None, problem_id=99, order_id=order.pk, warehouse_id=warehouse.pk,
            kind="damaged", note="外箱压坏", actor="picker1")
    ticket = Ticket.objects.get()
    assert ticket.kind == Ticket.Kind.PICKING_PROBLEM and ticket.order == order
    assert Message.objects.get().event == "pick_problem"


def test_spike_alert(routes, enqueued):
    from fulfillment.signals import spike_alert_raised
    from reporting.models import SpikeAlert, SpikeRule

    alert = SpikeAlert.objects.create(
        rule=SpikeRule.objects.create(), day=dt.date(2026, 11, 20), sku_code="TEA-250",
        province="浙江省", series=[{"day": "2026-11-20", "orders": 12, "previous": 7}],
        payment_success_percent=Decimal("97.50"))
    for _ in range(2):
        spike_alert_raised.send(sender=SpikeAlert, alert=alert, actor="system:test")
    message = Message.objects.get()
    assert "TEA-250" in message.body and "浙江省" in message.body and "12" in message.body


def test_channel_paused_ticket_and_alert(channel, routes, enqueued,
                                         django_capture_on_commit_callbacks):
    from channels.services import channel_pause
    from channels.signals import channel_paused

    with django_capture_on_commit_callbacks(execute=True):
        channel_pause(channel=channel, reason="401 Unauthorized")
    channel_paused.send(sender=None, channel_id=channel.pk, code=channel.code,
                        name=channel.name, reason="401 Unauthorized")
    ticket = Ticket.objects.get()
    assert ticket.kind == Ticket.Kind.SYNC_PROBLEM and ticket.channel == channel
    assert Message.objects.get().event == "channel_paused"


def test_parcel_stalled_ticket_alert_and_buyer_sms(make_order, aliyun, routes, enqueued):
    order = make_order(S.SHIPPED, carrier="SF", tracking_number="SF999")
    Message.objects.all().delete()  # the shipped SMS is not what this test is about
    last = timezone.now() - dt.timedelta(hours=30)
    for _ in range(2):
        fulfillment_signals.parcel_stalled.send(
            sender=None, order_id=order.pk, waybill_id=5, carrier="SF", tracking_number="SF999",
            last_event_at=last)
    ticket = Ticket.objects.get()
    assert ticket.kind == Ticket.Kind.STALLED_PARCEL and "SF999" in ticket.title
    kinds = sorted(Message.objects.values_list("kind", "event"))
    assert kinds == [("sms", "delayed"), ("team", "parcel_stalled")]
    assert "延误" in Message.objects.get(kind="sms").body


def test_waybill_failed_only_when_permanent(make_order, routes, enqueued):
    order = make_order(S.PICKED)
    fulfillment_signals.waybill_failed.send(sender=None, order_id=order.pk, waybill_id=3,
                                            error="timeout", permanent=False)
    assert not Message.objects.exists()
    for _ in range(2):
        fulfillment_signals.waybill_failed.send(sender=None, order_id=order.pk, waybill_id=3,
                                                error="地址超区", permanent=True)
    assert "地址超区" in Message.objects.get().body


def test_urgent_order_alerts_the_warehouse_lead(make_order, warehouse, dingtalk, enqueued):
    order = make_order(S.READY_TO_PICK, priority=Order.Priority.H4)
    WarehouseContact.objects.create(warehouse=warehouse, role="lead", name="主管",
                                    phone="13700137000", gateway=dingtalk)
    other = type(warehouse).objects.create(code="bj", name="Beijing DC")
    WarehouseContact.objects.create(warehouse=other, role="lead", name="别的主管",
                                    phone="13700137001", gateway=dingtalk)
    for _ in range(2):
        fulfillment_signals.order_urgent.send(sender=Order, order_id=order.pk, priority=2,
                                              warehouse_id=warehouse.pk)
    message = Message.objects.get()
    assert message.recipient == "13700137000" and message.gateway == dingtalk
    assert order.number in message.body and "Shanghai DC" in message.body


def test_a_failing_receiver_does_not_raise(make_order, routes, monkeypatch, caplog):
    from fulfillment.notifications import receivers

    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(receivers, "team_alert", boom)
    warehouse_signals.stock_low.send(sender=None, warehouse_id=None, sku_id=1, sku_code="X",
                                     available=0, safety=0)
    assert "failed" in caplog.text


def test_lead_on_the_same_robot_as_a_route_gets_one_post(make_order, warehouse, dingtalk,
                                                         enqueued):
    order = make_order(S.READY_TO_PICK, priority=Order.Priority.ASN)
    AlertRoute.objects.create(event="urgent_order", gateway=dingtalk)
    WarehouseContact.objects.create(warehouse=warehouse, role="lead", name="主管",
                                    phone="13700137000", gateway=dingtalk)
    fulfillment_signals.order_urgent.send(sender=Order, order_id=order.pk, priority=3,
                                          warehouse_id=warehouse.pk)
    message = Message.objects.get()
    assert message.recipient == "13700137000"  # the lead is @mentioned in the one post


def test_a_batch_of_urgent_orders_alerts_each_lead_once(make_order, warehouse, dingtalk,
                                                        enqueued):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from fulfillment.signals import UrgentOrder

    quiet = type(warehouse).objects.create(code="bj", name="Beijing DC")
    loud = [make_order(S.READY_TO_PICK, priority=Order.Priority.H4) for _ in range(3)]
    calm = make_order(S.READY_TO_PICK, priority=Order.Priority.ASN)
    batch = [UrgentOrder(o.pk, 2, warehouse.pk) for o in loud] + [UrgentOrder(calm.pk, 3,
                                                                              quiet.pk)]
    # nobody listens yet: two reads for the whole batch
    with CaptureQueriesContext(connection) as ctx:
        fulfillment_signals.orders_urgent.send(sender=Order, orders=batch)
    assert len(ctx.captured_queries) == 2
    assert not Message.objects.exists()
    # when: Shanghai has a lead, and the batch is announced twice
    WarehouseContact.objects.create(warehouse=warehouse, role="lead", name="主管",
                                    phone="13700137000", gateway=dingtalk)
    for _ in range(2):
        fulfillment_signals.orders_urgent.send(sender=Order, orders=batch)
    # then: one message per Shanghai order, to the lead; nothing for Beijing's
    messages = list(Message.objects.order_by("order_id"))
    assert [m.order_id for m in messages] == [o.pk for o in loud]
    assert {m.recipient for m in messages} == {"13700137000"}
    assert all(o.number in m.body and "Shanghai DC" in m.body
               for o, m in zip(loud, messages, strict=True))


def _owned(channel, make_user):
    channel.owner = make_user("ops", username="channel-owner", email="owner@example.com")
    channel.save()
    return channel


def test_channel_paused_reaches_the_owner_by_email_without_any_gateway_set_up(
        channel, make_user, enqueued, django_capture_on_commit_callbacks):
    from django.core import mail

    from channels.services import channel_pause
    from fulfillment.notifications.models import Gateway
    from fulfillment.notifications.services import message_deliver

    _owned(channel, make_user)
    with django_capture_on_commit_callbacks(execute=True):
        channel_pause(channel=channel, reason="HTTP 503 five times")
    message = Message.objects.get()
    assert message.gateway.kind == Gateway.Kind.EMAIL and message.recipient == "owner@example.com"
    assert "HTTP 503 five times" in message.body
    assert "/channels/problems/?channel=shop" in message.body
    assert message_deliver(message_id=message.pk) == "sent"
    assert mail.outbox[0].to == ["owner@example.com"]


def test_channel_paused_respects_a_disabled_email_gateway(channel, make_user, email_gateway,
                                                          enqueued,
                                                          django_capture_on_commit_callbacks):
    from channels.services import channel_pause

    _owned(channel, make_user)
    email_gateway.enabled = False
    email_gateway.save()
    with django_capture_on_commit_callbacks(execute=True):
        channel_pause(channel=channel, reason="401")
    assert not Message.objects.exists()
    assert Ticket.objects.get().kind == Ticket.Kind.SYNC_PROBLEM  # still recorded
