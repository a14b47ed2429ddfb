"""Kuaidi100 request shape: every call that carries a phone sends it as Kuaidi100 documents.

Source: Kuaidi100's real-time query document
(https://api.kuaidi100.com/document/5f0ffb5ebc8da837cbd8aefc), ``param.phone``: the
recipient's or sender's number, mobile or landline, one only, required for SF and ZTO,
no landline extension, an e-commerce virtual number as the four digits after the "-";
``sign`` = upper-case MD5(param + key + customer). The subscription takes the same phone
in ``parameters.phone``; the e-waybill parties carry ``mobile`` or ``tel``.
"""

import hashlib
import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from fulfillment.shipping.carriers import CarrierRefused, Parcel, Party, get_adapter
from fulfillment.shipping.carriers.kuaidi100 import label_phone, query_phone
from tests.shipping.conftest import K100_URL, load


def form(request) -> dict:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def upper_md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - Kuaidi100's scheme


@pytest.mark.parametrize(("raw", "sent"), [
    ("+86 138 0013 8000", "13800138000"),
    ("+86-138-0013-8000", "13800138000"),
    ("0086 13800138000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("13800138000", "13800138000"),
    ("021-69580000", "02169580000"),        # landline: trunk 0 and area code
    ("+86 21 6958 0000", "02169580000"),
    ("021-69580000-123", "02169580000"),    # extension left off, as documented
    ("13800138000-1234", "1234"),           # virtual number: the digits after "-"
    ("13800138000转5678", "5678"),
    ("+852 9123 4567", "4567"),             # outside the mainland: its last four digits
    ("", ""),
    ("not a phone", ""),
])
def test_query_phone_forms(raw, sent):
    assert query_phone(raw) == sent


@pytest.mark.parametrize(("raw", "fields"), [
    ("+8613912345678", {"mobile": "13912345678"}),
    ("0086 139 1234 5678", {"mobile": "13912345678"}),
    ("021-69580000", {"tel": "02169580000"}),
    ("13800138000-1234", {"mobile": "13800138000-1234"}),  # the courier dials the extension
    ("+852 9123 4567", {"tel": "0085291234567"}),
])
def test_label_phone_fields(raw, fields):
    assert label_phone(raw) == fields


@respx.mock
@pytest.mark.parametrize("raw", ["+86 139 1234 5678", "0086 13912345678", "8613912345678"])
def test_the_query_sends_the_mainland_number_signed(k100_account, raw):
    # given
    route = respx.post(f"{K100_URL}/poll/query.do").mock(
        return_value=httpx.Response(200, json=load("kuaidi100_query_response_example.json")))
    # when
    get_adapter(k100_account).track(tracking_number="V030344422", phone=raw)
    # then
    sent = form(route.calls.last.request)
    assert set(sent) == {"customer", "param", "sign"}
    assert sent["customer"] == "CUST789"
    assert sent["sign"] == upper_md5(sent["param"] + "KEY123" + "CUST789")
    param = json.loads(sent["param"])
    assert param["com"] == "zhongtong" and param["num"] == "V030344422"
    assert param["phone"] == "13912345678"
    assert "+86" not in sent["param"]


@respx.mock
def test_the_subscription_sends_the_mainland_number(k100_account):
    route = respx.post(f"{K100_URL}/poll").mock(return_value=httpx.Response(
        200, json={"result": True, "returnCode": "200", "message": "提交成功"}))

    get_adapter(k100_account).subscribe(tracking_number="7531", callback_url="https://hub/cb/",
                                        salt="s1", phone="+86 139 1234 5678")

    sent = form(route.calls.last.request)
    assert sent["schema"] == "json"
    param = json.loads(sent["param"])
    assert param["company"] == "zhongtong" and param["number"] == "7531"
    assert param["parameters"]["phone"] == "13912345678"


@respx.mock
def test_the_label_order_sends_mobile_and_tel(k100_account):
    route = respx.post(f"{K100_URL}/label/order").mock(return_value=httpx.Response(200, json={
        "success": True, "code": 200, "message": "success",
        "data": {"kuaidinum": "75312345678901", "kdComOrderNum": "K1"}}))
    parcel = Parcel(
        reference="OH1-8",
        sender=Party("仓库", "+86 21 6958 0000", "上海市", "上海市", "嘉定区", "墨玉路185号"),
        recipient=Party("李四", "+86 139 1234 5678", "北京市", "北京市", "朝阳区", "建国路88号"),
        items=[("保温杯", 1)])

    get_adapter(k100_account).book(parcel)

    sent = form(route.calls.last.request)
    assert sent["sign"] == upper_md5(sent["param"] + sent["t"] + "KEY123" + "SECRET456")
    param = json.loads(sent["param"])
    assert param["recMan"]["mobile"] == "13912345678" and "tel" not in param["recMan"]
    assert param["sendMan"]["tel"] == "02169580000" and "mobile" not in param["sendMan"]


# --- the sandbox refuses what Kuaidi100 refuses --------------------------------------------

def sandbox_query(client, param: dict):
    from fulfillment.shipping.carriers.kuaidi100 import dumps
    from fulfillment.shipping.sandbox import KUAIDI100_KEYS

    key, account = next(iter(KUAIDI100_KEYS.items()))
    body = dumps(param)
    return client.post("/sandbox/carriers/kuaidi100/poll/query.do", {
        "customer": account["customer"], "param": body,
        "sign": upper_md5(body + key + account["customer"])}).json()


@pytest.mark.parametrize(("phone", "com", "refused"), [
    ("+8613912345678", "yuantong", True),
    ("", "zhongtong", True),       # ZTO needs a phone
    ("", "shunfeng", True),
    ("", "yuantong", False),
    ("13912345678", "zhongtong", False),
    ("5678", "shunfeng", False),
])
def test_the_sandbox_query_checks_the_phone(client, settings, db, phone, com, refused):
    settings.SANDBOX_ENABLED = True
    answer = sandbox_query(client, {"com": com, "num": "V1", "phone": phone})
    # Refused with the parameter error; otherwise it goes on to look the number up.
    assert (answer.get("returnCode") == "400") is refused


def test_the_sandbox_label_order_refuses_plus86(client, settings, db):
    from fulfillment.shipping.carriers.kuaidi100 import dumps, label_sign

    settings.SANDBOX_ENABLED = True
    param = dumps({"kuaidicom": "zhongtong", "orderId": "X1", "partnerId": "SANDBOX_ZTO",
                   "partnerKey": "sandbox",
                   "recMan": {"name": "李四", "mobile": "+8613912345678", "printAddr": "北京"},
                   "sendMan": {"name": "仓库", "tel": "02169580000", "printAddr": "上海"}})
    answer = client.post("/sandbox/carriers/kuaidi100/label/order?method=order", {
        "key": "sandbox-key", "t": "1", "param": param,
        "sign": label_sign(param, "1", "sandbox-key", "sandbox-secret")}).json()
    assert answer["code"] == 30001 and "mobile" in answer["message"]


def test_a_refused_phone_is_a_refusal_not_a_retry(k100_account):
    with respx.mock:
        respx.post(f"{K100_URL}/poll/query.do").mock(return_value=httpx.Response(
            200, json={"result": False, "returnCode": "400", "message": "phone 参数错误"}))
        with pytest.raises(CarrierRefused):
            get_adapter(k100_account).track(tracking_number="V1", phone="")


@respx.mock
@pytest.mark.parametrize("recipient_phone", ["", "not a phone"])
def test_without_a_usable_buyer_phone_the_query_sends_the_senders(k100_account,
                                                                    recipient_phone):
    route = respx.post(f"{K100_URL}/poll/query.do").mock(
        return_value=httpx.Response(200, json=load("kuaidi100_query_response_example.json")))
    k100_account.sender_phone = "+86 21 6958 0000"  # the warehouse's landline

    get_adapter(k100_account).track(tracking_number="V030344422", phone=recipient_phone)

    assert json.loads(form(route.calls.last.request)["param"])["phone"] == "02169580000"
