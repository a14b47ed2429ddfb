"""Kuaidi100 e-waybill labels: the documented order answer, its label image, error codes,
and the label page explaining a missing label in the reader's language."""

import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from django.utils import timezone

from fulfillment.shipping.carriers import CarrierError, CarrierRefused, Parcel, Party, get_adapter
from fulfillment.shipping.carriers.kuaidi100 import (
    IMAGE_KEY,
    IMAGE_TYPE_KEY,
    label_error_hint,
    label_sign,
)
from fulfillment.shipping.labels import label_store
from fulfillment.shipping.models import Waybill
from tests.shipping.conftest import K100_URL, load
from tests.shipping.test_sandbox_and_pages import keep_db_connection, wsgi_client  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
LABEL_URL = "https://k100.example.test/label/getImage/20261204/8D2B1C9E4F0A4B6D"
ORDER_URL = f"{K100_URL}/label/order"
PARCEL = Parcel(
    reference="OH1-7",
    sender=Party(name="仓库", phone="02169580000", province="上海市", city="上海市",
                 district="嘉定区", street="墨玉路185号"),
    recipient=Party(name="李四", phone="+8613912345678", province="北京市", city="北京市",
                    district="朝阳区", street="建国路88号"),
    items=[("茶杯", 2)], weight_kg=1.2)


def sent_param(request) -> dict:
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    return json.loads(form["param"])


def test_label_sign_is_upper_md5_of_param_t_key_secret():
    # Vector computed outside Python: printf '%s' '<param>1700000000000KEY123SECRET456' | md5sum
    param = '{"kuaidicom":"zhongtong","printType":"IMAGE"}'
    assert label_sign(param, "1700000000000", "KEY123", "SECRET456") == \
        "D1543664F7519CE83E3035B8F625AD20"


@respx.mock
def test_book_asks_for_an_image_label_and_keeps_it(k100_account):
    route = respx.post(ORDER_URL).mock(
        return_value=httpx.Response(200, json=load("kuaidi100_label_order_response.json")))
    respx.get(LABEL_URL).mock(return_value=httpx.Response(
        200, content=PNG, headers={"Content-Type": "image/png"}))

    booking = get_adapter(k100_account).book(PARCEL)

    assert sent_param(route.calls.last.request)["printType"] == "IMAGE"
    assert booking.tracking_number == "75312345678901"
    assert booking.carrier_order_id == "ZTO20261204000001"
    assert booking.label_data["label"] == LABEL_URL
    assert booking.label_data["bulkpen"] == "010-朝阳"
    assert base64.b64decode(booking.label_data[IMAGE_KEY]) == PNG
    assert booking.label_data[IMAGE_TYPE_KEY] == "image/png"


@respx.mock
def test_a_failed_label_download_never_loses_the_booked_number(k100_account):
    respx.post(ORDER_URL).mock(
        return_value=httpx.Response(200, json=load("kuaidi100_label_order_response.json")))
    respx.get(LABEL_URL).mock(return_value=httpx.Response(502, text="bad gateway"))

    booking = get_adapter(k100_account).book(PARCEL)

    assert booking.tracking_number == "75312345678901"
    assert booking.label_data["label"] == LABEL_URL and IMAGE_KEY not in booking.label_data


@respx.mock
@pytest.mark.parametrize("code, error, retryable, hint_word", [
    (30002, "验证签名失败", False, "signature"),
    (30001, "参数错误", False, "recipient"),
    (500, "服务器错误", True, "busy"),
    (39999, "未知", False, "console"),
])
def test_label_error_codes_are_mapped(k100_account, code, error, retryable, hint_word):
    respx.post(ORDER_URL).mock(return_value=httpx.Response(200, json={
        "success": False, "code": code, "message": error}))
    with pytest.raises(CarrierError) as info:
        get_adapter(k100_account).book(PARCEL)
    assert info.value.code == str(code) and error in info.value.message
    assert isinstance(info.value, CarrierRefused) is not retryable
    assert info.value.retryable is retryable
    assert hint_word in str(label_error_hint(info.value.code))


@pytest.fixture
def k100_booked(picked, k100_account, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    order, waybill = picked()

    def book(**label_data):
        Waybill.objects.filter(pk=waybill.pk).update(
            account=k100_account, status="booked", tracking_number="75312345678901",
            booked_at=timezone.now(), label_data=label_data)
        return Waybill.objects.select_related("order", "account").get(pk=waybill.pk)

    return order, book


def test_label_store_keeps_the_carrier_image_as_the_label_file(k100_booked):
    _order, book = k100_booked
    waybill = book(label=LABEL_URL, bulkpen="010",
                   **{IMAGE_KEY: base64.b64encode(PNG).decode(), IMAGE_TYPE_KEY: "image/png"})

    label_store(waybill=waybill)

    waybill.refresh_from_db()
    assert waybill.label.name.endswith("75312345678901.png")
    assert waybill.label.read() == PNG
    # The bytes live in the file only; the carrier's small fields stay.
    assert waybill.label_data == {"label": LABEL_URL, "bulkpen": "010"}


@respx.mock
def test_label_page_serves_the_carrier_image(k100_booked, client, make_user):
    _order, book = k100_booked
    waybill = book(label=LABEL_URL)
    respx.get(LABEL_URL).mock(return_value=httpx.Response(
        200, content=PNG, headers={"Content-Type": "image/png"}))
    client.force_login(make_user("picker"))

    response = client.get(f"/shipping/waybills/{waybill.pk}/label.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content == PNG


@respx.mock
def test_label_page_explains_a_missing_label_in_chinese(k100_booked, client, make_user):
    order, book = k100_booked
    waybill = book(label=LABEL_URL)
    respx.get(LABEL_URL).mock(return_value=httpx.Response(
        200, json={"success": False, "code": 30002, "message": "验证签名失败"}))
    client.force_login(make_user("picker"))
    url = f"/shipping/waybills/{waybill.pk}/label.pdf"

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "面单不可用" in html and "无法提供运单 75312345678901 的面单" in html
    assert "过几分钟再打开" in html  # what to do, in Chinese
    assert order.number in html
    for english in ("Label not available", "could not provide", "Open it again"):
        assert english not in html

    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Label not available" in english and "Kuaidi100 console" in english


@respx.mock
def test_htmx_and_api_callers_get_409(k100_booked, client, make_user):
    _order, book = k100_booked
    waybill = book(label=LABEL_URL)
    respx.get(LABEL_URL).mock(return_value=httpx.Response(404, text="<html>gone</html>",
                                                          headers={"Content-Type": "text/html"}))
    client.force_login(make_user("picker"))
    url = f"/shipping/waybills/{waybill.pk}/label.pdf"

    fragment = client.get(url, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert fragment.status_code == 409
    assert "<html" not in fragment.content.decode() and "承运商返回" in fragment.content.decode()

    api = client.get(url, HTTP_ACCEPT="application/json")
    assert api.status_code == 409 and "404" in api.json()["detail"]


def test_a_waybill_without_a_number_says_so_on_a_page(picked, client, make_user):
    _order, waybill = picked()
    client.force_login(make_user("picker"))
    response = client.get(f"/shipping/waybills/{waybill.pk}/label.pdf",
                          HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert "此运单还没有面单" in response.content.decode()


@pytest.mark.usefixtures("keep_db_connection")
def test_the_sandbox_answers_with_a_label_link_like_the_docs(k100_account, settings):
    settings.SANDBOX_ENABLED = True
    k100_account.base_url = "http://testserver/sandbox/carriers/kuaidi100"
    k100_account.credentials = {"key": "sandbox-key", "secret": "sandbox-secret",
                                "partner_id": "SANDBOX_ZTO", "partner_key": "sandbox"}
    k100_account.save()

    booking = get_adapter(k100_account, client=wsgi_client()).book(PARCEL)

    assert booking.label_data["label"].startswith(
        "http://testserver/sandbox/carriers/kuaidi100/label/image/")
    image = base64.b64decode(booking.label_data[IMAGE_KEY])
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and booking.label_data[IMAGE_TYPE_KEY] == \
        "image/png"

    k100_account.credentials = {"key": "sandbox-key", "secret": "wrong",
                                "partner_id": "SANDBOX_ZTO", "partner_key": "sandbox"}
    k100_account.save()
    with pytest.raises(CarrierRefused) as info:
        get_adapter(k100_account, client=wsgi_client()).book(PARCEL)
    assert info.value.code == "30002"


def test_a_stored_carrier_image_is_served_as_an_image(k100_booked, client, make_user):
    _order, book = k100_booked
    waybill = book(**{IMAGE_KEY: base64.b64encode(PNG).decode(), IMAGE_TYPE_KEY: "image/png"})
    label_store(waybill=waybill)
    client.force_login(make_user("picker"))

    response = client.get(f"/shipping/waybills/{waybill.pk}/label.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG


def test_waybill_pages_say_in_chinese_that_a_booked_label_is_missing(k100_booked, client,
                                                                     make_user):
    order, book = k100_booked
    waybill = book(label=LABEL_URL)
    Waybill.objects.filter(pk=waybill.pk).update(
        last_error="Booked, but the label could not be rendered: kuaidi100: 30002 验证签名失败")
    client.force_login(make_user("manager"))

    html = client.get("/shipping/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "已下单，但面单尚未保存" in html
    assert f"/shipping/waybills/{waybill.pk}/label.pdf" in html

    order_html = client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert order_html.status_code == 200
    assert "已下单，但面单尚未保存" in order_html.content.decode()
