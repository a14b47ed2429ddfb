"""Kuaidi100 e-waybills for SF, ZTO and YTO (POST /label/order, labelV2).

Pinned to Kuaidi100's documents: the order interface (https://api.kuaidi100.com/document/
dianzimiandanV2: form ``method``/``key``/``t``/``sign``/``param``, sign = upper-case
MD5(param + t + key + secret)), its parameter dictionary (which of partnerId / partnerKey /
net … each carrier needs: SF 月结账号, ZTO and YTO account + key), the cancel interface
(``orderId`` = the order answer's ``kdComOrderNum``) and the error bodies (labelV2's
``success``/``code``/``message``; the older ``result``/``returnCode``/``message``).
"""

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from fulfillment.shipping.carriers import (
    CarrierAuthError,
    CarrierError,
    CarrierRefused,
    Parcel,
    Party,
    get_adapter,
)
from fulfillment.shipping.carriers.kuaidi100 import label_sign
from fulfillment.shipping.models import CarrierAccount
from tests.shipping.conftest import K100_URL, SENDER, load

ORDER_URL = f"{K100_URL}/label/order"
PARCEL = Parcel(
    reference="OH1-9",
    sender=Party(name="仓库", phone="02169580000", province="上海市", city="上海市",
                 district="嘉定区", street="墨玉路185号"),
    recipient=Party(name="李四", phone="13912345678", province="北京市", city="北京市",
                    district="朝阳区", street="建国路88号"),
    items=[("茶杯", 2)], weight_kg=1.2, service="标准快递")
KEYS = {"key": "KEY123", "secret": "SECRET456"}


def account(code, company, *, monthly="", **credentials):
    acc = CarrierAccount(code=code, name=code, kind="kuaidi100", base_url=K100_URL,
                         carrier_code=company, monthly_account=monthly, **SENDER)
    acc.credentials = {**KEYS, **credentials}
    acc.save()
    return acc


def sent(request) -> tuple[dict, dict]:
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    return form, json.loads(form["param"])


def ok_answer(**data):
    body = load("kuaidi100_label_order_response.json")
    body["data"].update(label="", **data)
    return httpx.Response(200, json=body)


@pytest.mark.django_db
@respx.mock
@pytest.mark.parametrize("company, monthly, credentials, expected", [
    # SF: partnerId is the monthly account (月结账号); nothing else is required.
    ("shunfeng", "7551234567", {}, {"partnerId": "7551234567"}),
    # ZTO: 电子面单账号 + 打单密钥.
    ("zhongtong", "", {"partner_id": "ZTO-ACCT", "partner_key": "ZTO-PWD"},
     {"partnerId": "ZTO-ACCT", "partnerKey": "ZTO-PWD"}),
    # YTO: 商家代码 + 商家密钥; optional fields (网点) go along when set.
    ("yuantong", "", {"partner_id": "K210001", "partner_key": "u2Z1F7Fh", "net": "上海嘉定"},
     {"partnerId": "K210001", "partnerKey": "u2Z1F7Fh", "net": "上海嘉定"}),
])
def test_each_carrier_is_booked_with_its_documented_account_fields(company, monthly,
                                                                   credentials, expected):
    route = respx.post(ORDER_URL).mock(return_value=ok_answer())
    adapter = get_adapter(account(company, company, monthly=monthly, **credentials))

    booking = adapter.book(PARCEL)

    request = route.calls.last.request
    form, param = sent(request)
    assert parse_qs(urlsplit(str(request.url)).query) == {"method": ["order"]}
    assert form["method"] == "order" and form["key"] == "KEY123"
    assert form["sign"] == label_sign(form["param"], form["t"], "KEY123", "SECRET456")
    assert param["kuaidicom"] == company
    partner = {k: v for k, v in param.items()
               if k in ("partnerId", "partnerKey", "partnerSecret", "partnerName", "net",
                        "code", "checkMan")}
    assert partner == expected
    assert param["recMan"] == {"name": "李四", "mobile": "13912345678",
                               "printAddr": "北京市北京市朝阳区建国路88号", "company": ""}
    assert param["sendMan"]["tel"] == "02169580000"
    assert param["orderId"] == "OH1-9" and param["expType"] == "标准快递"
    assert booking.tracking_number == "75312345678901"
    assert booking.carrier_order_id == "ZTO20261204000001"  # kdComOrderNum


@pytest.mark.django_db
@respx.mock
@pytest.mark.parametrize("company, credentials, missing", [
    ("zhongtong", {"partner_id": "ZTO-ACCT"}, "partner_key"),
    ("yuantong", {"partner_key": "u2Z1F7Fh"}, "partner_id"),
    ("shunfeng", {}, "partner_id"),
])
def test_a_booking_the_carrier_would_refuse_is_refused_before_any_call(company, credentials,
                                                                       missing):
    route = respx.post(ORDER_URL).mock(return_value=ok_answer())
    with pytest.raises(CarrierRefused) as info:
        get_adapter(account(company, company, **credentials)).book(PARCEL)
    assert missing in info.value.message and not info.value.retryable
    assert not route.called


@pytest.mark.django_db
@respx.mock
@pytest.mark.parametrize("body, cls, code, retryable", [
    ({"success": False, "code": 30002, "message": "验证签名失败"}, CarrierAuthError, "30002",
     False),
    ({"result": False, "returnCode": "30002", "message": "验证签名失败"}, CarrierAuthError,
     "30002", False),
    ({"result": False, "returnCode": "30001", "message": "参数错误"}, CarrierRefused, "30001",
     False),
    ({"result": False, "returnCode": "500", "message": "服务器错误"}, CarrierError, "500", True),
])
def test_documented_error_bodies_map_to_the_carrier_errors(body, cls, code, retryable):
    respx.post(ORDER_URL).mock(return_value=httpx.Response(200, json=body))
    acc = account("yto", "yuantong", partner_id="K210001", partner_key="u2Z1F7Fh")
    with pytest.raises(CarrierError) as info:
        get_adapter(acc).book(PARCEL)
    assert type(info.value) is cls
    assert info.value.code == code and body["message"] in info.value.message
    assert info.value.retryable is retryable


@pytest.mark.django_db
@respx.mock
def test_the_older_result_shape_books_too():
    respx.post(ORDER_URL).mock(return_value=httpx.Response(200, json={
        "result": True, "returnCode": "200", "message": "提交成功",
        "data": [{"kuaidinum": "YT7531234567890", "kdComOrderNum": "YTO-1",
                  "bulkpen": "310 A01"}]}))
    acc = account("yto", "yuantong", partner_id="K210001", partner_key="u2Z1F7Fh")
    booking = get_adapter(acc).book(PARCEL)
    assert booking.tracking_number == "YT7531234567890"
    assert booking.carrier_order_id == "YTO-1"


@pytest.mark.django_db
@respx.mock
def test_cancel_sends_the_carriers_order_number_and_account():
    route = respx.post(ORDER_URL).mock(return_value=httpx.Response(
        200, json={"success": True, "code": 200, "message": "success"}))
    acc = account("zto", "zhongtong", partner_id="ZTO-ACCT", partner_key="ZTO-PWD")

    get_adapter(acc).cancel(tracking_number="75312345678901", reference="ZTO20261204000001")

    request = route.calls.last.request
    form, param = sent(request)
    assert form["method"] == "cancel" and "method=cancel" in str(request.url)
    assert param == {"partnerId": "ZTO-ACCT", "partnerKey": "ZTO-PWD",
                     "kuaidicom": "zhongtong", "kuaidinum": "75312345678901",
                     "orderId": "ZTO20261204000001", "reason": "order intercepted"}
    assert form["sign"] == label_sign(form["param"], form["t"], "KEY123", "SECRET456")


@pytest.mark.django_db
@respx.mock
def test_a_refused_cancel_is_a_carrier_error():
    respx.post(ORDER_URL).mock(return_value=httpx.Response(
        200, json={"success": False, "code": 30001, "message": "该单号已揽收，不能取消"}))
    acc = account("zto", "zhongtong", partner_id="ZTO-ACCT", partner_key="ZTO-PWD")
    with pytest.raises(CarrierRefused, match="不能取消"):
        get_adapter(acc).cancel(tracking_number="75312345678901", reference="X")
