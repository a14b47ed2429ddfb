"""Pre-shipment confirmation SMS (off by default) and the shipped SMS's estimate and link."""

import datetime as dt

import pytest

from fulfillment.notifications.models import Message, MessageTemplate
from fulfillment.shipping.models import Waybill
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import order_transition
from orderhub.signals import order_status_changed

pytestmark = pytest.mark.django_db
S = OrderStatus


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://hub.example.com/"
    return settings


def _switch_on(language="zh-hans"):
    template = MessageTemplate.objects.get(event="ready_to_ship", audience="buyer",
                                           language=language)
    template.active = True
    template.save()
    return template


def test_preshipment_sms_is_seeded_off_and_sends_nothing(make_order, aliyun, enqueued,
                                                         django_capture_on_commit_callbacks):
    assert not MessageTemplate.objects.filter(event="ready_to_ship", active=True).exists()
    assert MessageTemplate.objects.filter(event="ready_to_ship").count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.PICKED, carrier="SF")
    assert not Message.objects.filter(order=order).exists()
    assert enqueued == []


def test_switched_on_it_sends_once_through_the_outbox_with_the_tracking_link(
        make_order, aliyun, enqueued, site, django_capture_on_commit_callbacks):
    _switch_on()
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.PICKED, carrier="SF")
    sms = Message.objects.get(order=order)
    assert sms.event == "ready_to_ship" and sms.kind == Message.Kind.SMS
    assert sms.gateway == aliyun and sms.status == Message.Status.QUEUED
    assert "已打包" in sms.body and order.number in sms.body
    link = f"https://hub.example.com/track/?number={order.number}"
    assert link in sms.body and sms.template_params["tracking_url"] == link
    assert enqueued == [sms.pk]
    # Back to "picked" after a hold, or a replayed signal: still one SMS.
    order_status_changed.send(sender=Order, order_id=order.pk, transition="release",
                              from_status="on_hold", to_status="picked", actor="system:test")
    assert Message.objects.filter(order=order).count() == 1


def test_only_an_active_template_switches_it_on_whatever_the_language(
        make_order, aliyun, enqueued, django_capture_on_commit_callbacks):
    # Only the English template is on: a Chinese buyer gets it in English rather than nothing.
    _switch_on("en")
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.PICKED, carrier="SF")
    sms = Message.objects.get(order=order)
    assert sms.language == "en" and "is packed" in sms.body


def _shipped_template_with_estimate_and_link():
    template = MessageTemplate.objects.get(event="shipped", audience="buyer",
                                           language="zh-hans")
    template.body = ("订单{{ order_number }}已发货，预计送达："
                     "{{ estimated_delivery|default:'请留意物流' }}，查询：{{ tracking_url }}")
    template.save()


def test_shipped_sms_carries_the_carriers_estimate_and_the_link(
        make_order, aliyun, enqueued, site, django_capture_on_commit_callbacks):
    _shipped_template_with_estimate_and_link()
    order = make_order(S.PICKED, carrier="ZTO", tracking_number="ZT100")
    Waybill.objects.create(order=order, status=Waybill.Status.BOOKED, tracking_number="ZT100",
                           label_data={"arrivalTime": "2026-12-06 18"})
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="ship", actor="system:test")
    sms = Message.objects.get(order=order, event="shipped")
    assert "预计送达：2026-12-06 18" in sms.body
    assert f"https://hub.example.com/track/?number={order.number}" in sms.body
    assert sms.template_params["estimated_delivery"] == "2026-12-06 18"


def test_shipped_sms_without_an_estimate_still_reads_well(
        make_order, aliyun, enqueued, site, django_capture_on_commit_callbacks):
    _shipped_template_with_estimate_and_link()
    # A cancelled waybill's promise is not the parcel's.
    order = make_order(S.PICKED, carrier="ZTO", tracking_number="ZT200")
    Waybill.objects.create(order=order, status=Waybill.Status.CANCELLED,
                           label_data={"arrivalTime": "2026-12-01 10"})
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="ship", actor="system:test")
    sms = Message.objects.get(order=order, event="shipped")
    assert "预计送达：请留意物流" in sms.body and "2026-12-01" not in sms.body


def test_the_tracking_link_opens_the_page_with_the_number_filled_in(client, make_order):
    order = make_order(S.SHIPPED, carrier="SF", tracking_number="SF9")
    page = client.get(f"/track/?number={order.number}").content.decode()
    assert f'value="{order.number}"' in page


def test_without_the_carriers_promise_the_rate_tables_promised_days_give_the_estimate(
        make_order, aliyun, enqueued, site, django_capture_on_commit_callbacks):
    from decimal import Decimal

    from django.utils import timezone

    from fulfillment.shipping.models import CarrierAccount, CarrierService, RateZone

    _shipped_template_with_estimate_and_link()
    account = CarrierAccount.objects.create(code="zto", name="ZTO", kind="kuaidi100",
                                            carrier_code="zhongtong")
    service = CarrierService.objects.create(account=account, code="标准快递", name="中通标快")
    RateZone.objects.create(service=service, name="华东", provinces="上海, 江苏",
                            first_price=Decimal("5"), additional_price=Decimal("1"),
                            promised_days=2)
    RateZone.objects.create(service=service, name="其他", provinces="",
                            first_price=Decimal("8"), additional_price=Decimal("2"),
                            promised_days=4)
    near = make_order(S.PICKED, carrier="zto", tracking_number="ZT300")
    far = make_order(S.PICKED, carrier="zto", tracking_number="ZT301")
    Order.objects.filter(pk=near.pk).update(ship_province="江苏省")
    Order.objects.filter(pk=far.pk).update(ship_province="新疆维吾尔自治区")
    for order, number in ((near, "ZT300"), (far, "ZT301")):
        Waybill.objects.create(order=order, account=account, service="标准快递",
                               status=Waybill.Status.BOOKED, tracking_number=number,
                               label_data={})
        with django_capture_on_commit_callbacks(execute=True):
            order_transition(order=order.pk, name="ship", actor="system:test")
    today = timezone.localdate()
    near_sms = Message.objects.get(order=near, event="shipped")
    far_sms = Message.objects.get(order=far, event="shipped")
    assert near_sms.template_params["estimated_delivery"] == str(today + dt.timedelta(days=2))
    assert far_sms.template_params["estimated_delivery"] == str(today + dt.timedelta(days=4))
    # The carrier's own promise still wins over the table.
    Waybill.objects.filter(order=near).update(label_data={"promiseTm": "2026-12-31 12"})
    from fulfillment.notifications.receivers import estimated_delivery
    assert estimated_delivery(near) == "2026-12-31 12"
