"""The public /track/ page: right answer, masked data, no oracle, rate limit."""

import re

import pytest
from django.utils import timezone

from fulfillment.shipping.carriers import TrackEvent
from fulfillment.shipping.models import Waybill
from fulfillment.shipping.services import tracking_record
from orderhub.models import Order
from orderhub.services.orders import order_transition


@pytest.fixture
def parcel(picked, settings):
    settings.TRACK_RATE_LIMIT = "100/m"
    order, waybill = picked(ship_name="王小明", ship_phone="13912345678",
                            ship_street="建国路88号 SOHO 3期 1206", external_id="TB998877")
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", tracking_number="SF1400000000555",
                                                 booked_at=timezone.now())
    Order.objects.filter(pk=order.pk).update(tracking_number="SF1400000000555", carrier="sf")
    order = order_transition(order=order.pk, name="ship", actor="system:test")
    tracking_record(waybill=Waybill.objects.get(pk=waybill.pk), events=[TrackEvent(
        occurred_at=timezone.now(), description="快件已到达【北京顺义集散中心】", place="北京市",
        milestone="in_transit")])
    return order


def strip_csrf(body: bytes) -> bytes:
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", body)
    return re.sub(rb'"X-CSRFToken": "[^"]+"', b"", body)


@pytest.mark.parametrize("number", ["hub", "platform", "tracking"])
def test_the_right_number_and_phone_show_the_parcel_masked(parcel, client, number):
    value = {"hub": parcel.number, "platform": "TB998877", "tracking": "SF1400000000555"}[number]
    response = client.post("/track/", {"number": value, "phone": "5678"})
    assert response.status_code == 200
    page = response.content.decode()
    assert parcel.number in page and "SF1400000000555" in page
    assert "快件已到达【北京顺义集散中心】" in page and "Shipped" in page
    assert "王**" in page and "北京市 ****" in page
    # Nothing a buyer should not see: full name, street, phone, staff actors.
    for secret in ("王小明", "建国路88号", "13912345678", "139****5678", "system:test"):
        assert secret not in page
    assert "Log out" not in page


def test_no_login_needed_for_the_form(client, db):
    response = client.get("/track/")
    assert response.status_code == 200 and b'name="phone"' in response.content


def test_wrong_number_and_wrong_phone_get_byte_identical_answers(parcel, client):
    wrong_number = client.post("/track/", {"number": "OH00000000", "phone": "5678"})
    wrong_phone = client.post("/track/", {"number": parcel.number, "phone": "1234"})
    bad_phone = client.post("/track/", {"number": parcel.number, "phone": "12"})
    assert wrong_number.status_code == wrong_phone.status_code == bad_phone.status_code == 200
    assert strip_csrf(wrong_number.content) == strip_csrf(wrong_phone.content)
    assert strip_csrf(wrong_phone.content) == strip_csrf(bad_phone.content)
    assert b"We found no parcel" in wrong_phone.content
    assert parcel.number.encode() not in wrong_phone.content


def test_lookups_are_rate_limited_per_ip(parcel, client, settings):
    settings.TRACK_RATE_LIMIT = "3/m"
    data = {"number": parcel.number, "phone": "5678"}
    codes = [client.post("/track/", data, REMOTE_ADDR="203.0.113.7").status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.post("/track/", data, REMOTE_ADDR="203.0.113.7")
    assert limited.status_code == 429 and b"Too many" in limited.content
    assert parcel.number.encode() not in limited.content
    # Another address is not affected.
    assert client.post("/track/", data, REMOTE_ADDR="198.51.100.1").status_code == 200


def test_chinese_page(parcel, client):
    client.cookies["django_language"] = "zh-hans"
    page = client.post("/track/", {"number": parcel.number, "phone": "5678"},
                       HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "查询" in page and "物流" in page
