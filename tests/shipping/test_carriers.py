"""Carrier adapters: request shapes, signing headers/fields and error mapping (respx)."""

import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from fulfillment.shipping.carriers import (
    CarrierError,
    CarrierRefused,
    CarrierTimeout,
    Parcel,
    Party,
    get_adapter,
)
from fulfillment.shipping.carriers.kuaidi100 import label_sign, query_sign
from fulfillment.shipping.carriers.sf import msg_digest
from tests.shipping.conftest import K100_URL, SF_SERVICE, load

PARCEL = Parcel(
    reference="OH1-7",
    sender=Party("仓库", "02169580000", "上海市", "上海市", "嘉定区", "墨玉路185号"),
    recipient=Party("李四", "+8613912345678", "北京市", "北京市", "朝阳区", "建国路88号"),
    items=[("保温杯", 2), ("杯套", 1)], weight_kg=1.2, service="2",
    monthly_account="7551234567",
)


def form(request) -> dict:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def sf_ok(msg_data: dict) -> httpx.Response:
    inner = {"success": True, "errorCode": "S0000", "errorMsg": None, "msgData": msg_data}
    return httpx.Response(200, json={"apiResultCode": "A1000", "apiErrorMsg": "",
                                     "apiResponseID": "X", "apiResultData": json.dumps(inner)})


# --- SF ----------------------------------------------------------------------------------

@respx.mock
def test_sf_book_sends_a_signed_create_order(sf_account):
    route = respx.post(SF_SERVICE).mock(return_value=sf_ok({
        "orderId": "OH1-7", "originCode": "021", "destCode": "010",
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF1400000000001"}]}))

    booking = get_adapter(sf_account).book(PARCEL)

    assert booking.tracking_number == "SF1400000000001"
    assert booking.label_data == {"originCode": "021", "destCode": "010"}
    sent = form(route.calls.last.request)
    assert route.calls.last.request.headers["content-type"].startswith(
        "application/x-www-form-urlencoded")
    assert sent["partnerID"] == "PARTNER1" and sent["serviceCode"] == "EXP_RECE_CREATE_ORDER"
    assert sent["msgDigest"] == msg_digest(sent["msgData"], sent["timestamp"],
                                           "CHECKWORD-1234567")
    data = json.loads(sent["msgData"])
    # Same shape as SF's own sample request (payloads/sf_create_order_request_msgData.json).
    assert set(load("sf_create_order_request_msgData.json")) - set(data) <= {
        "customsInfo", "extraInfoList"}
    assert data["orderId"] == "OH1-7" and data["expressTypeId"] == 2
    assert data["monthlyCard"] == "7551234567"
    recipient = [c for c in data["contactInfoList"] if c["contactType"] == 2][0]
    assert (recipient["contact"], recipient["city"], recipient["address"]) == (
        "李四", "北京市", "建国路88号")
    assert data["cargoDetails"][0] == {"name": "保温杯", "count": 2, "unit": "件"}


@respx.mock
def test_sf_duplicate_order_fetches_the_earlier_booking(sf_account):
    duplicate = httpx.Response(200, json={"apiResultCode": "A1000", "apiResultData": json.dumps(
        {"success": False, "errorCode": "8016", "errorMsg": "重复下单"})})
    route = respx.post(SF_SERVICE).mock(side_effect=[duplicate, sf_ok({
        "orderId": "OH1-7",
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF1400000000002"}]})])

    assert get_adapter(sf_account).book(PARCEL).tracking_number == "SF1400000000002"
    assert form(route.calls.last.request)["serviceCode"] == "EXP_RECE_SEARCH_ORDER_RESP"


@respx.mock
def test_sf_cancel_and_route_query_shapes(sf_account):
    route = respx.post(SF_SERVICE).mock(side_effect=[
        sf_ok({"orderId": "OH1-7", "resStatus": 2}),
        sf_ok({"routeResps": [{"mailNo": "SF1400000000001", "routes": [
            {"acceptTime": "2026-11-20 09:30:00", "acceptAddress": "上海市",
             "remark": "顺丰速运 已收取快件", "opCode": "50"},
            {"acceptTime": "2026-11-21 15:00:00", "acceptAddress": "北京市",
             "remark": "已签收", "opCode": "80"}]}]}),
    ])
    adapter = get_adapter(sf_account)

    adapter.cancel(tracking_number="SF1400000000001", reference="OH1-7")
    events = adapter.track(tracking_number="SF1400000000001", phone="+8613912345678")

    cancel = form(route.calls[0].request)
    assert cancel["serviceCode"] == "EXP_RECE_UPDATE_ORDER"
    assert json.loads(cancel["msgData"])["dealType"] == 2
    query = form(route.calls[1].request)
    assert query["serviceCode"] == "EXP_RECE_SEARCH_ROUTES"
    assert json.loads(query["msgData"]) == {
        "trackingType": 1, "trackingNumber": ["SF1400000000001"], "methodType": 1,
        "language": "zh-CN", "checkPhoneNo": "5678"}
    assert [e.milestone for e in events] == ["collected", "delivered"]
    # China time in, UTC stored.
    assert events[0].occurred_at.isoformat() == "2026-11-20T01:30:00+00:00"
    assert events[0].place == "上海市"


@respx.mock
@pytest.mark.parametrize("response, error, retryable", [
    (httpx.Response(200, json={"apiResultCode": "A1006", "apiErrorMsg": "数字签名无效"}),
     CarrierRefused, False),
    (httpx.Response(200, json={"apiResultCode": "A1099", "apiErrorMsg": "系统异常"}),
     CarrierError, True),
    (httpx.Response(503, text="busy"), CarrierError, True),
    (httpx.Response(200, json={"apiResultCode": "A1000", "apiResultData": json.dumps(
        {"success": False, "errorCode": "1010", "errorMsg": "寄件地址不能为空"})}),
     CarrierRefused, False),
    (httpx.Response(200, text="<html>gateway</html>"), CarrierError, True),
])
def test_sf_error_mapping(sf_account, response, error, retryable):
    respx.post(SF_SERVICE).mock(return_value=response)
    with pytest.raises(error) as caught:
        get_adapter(sf_account).book(PARCEL)
    assert caught.value.retryable is retryable


@respx.mock
def test_a_timeout_is_a_retryable_carrier_timeout(sf_account):
    respx.post(SF_SERVICE).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CarrierTimeout) as caught:
        get_adapter(sf_account).book(PARCEL)
    assert caught.value.retryable


def test_the_adapter_client_has_timeouts(sf_account):
    adapter = get_adapter(sf_account)
    assert adapter.client.timeout.read == 10.0 and adapter.client.timeout.connect == 5.0


def test_missing_credentials_are_a_clear_refusal(db):
    from fulfillment.shipping.models import CarrierAccount

    account = CarrierAccount.objects.create(code="x", name="x", kind="sf")
    with pytest.raises(CarrierRefused, match="check_word|partner_id"):
        get_adapter(account).book(PARCEL)


# --- Kuaidi100 ----------------------------------------------------------------------------

@respx.mock
def test_kuaidi100_book_is_a_signed_label_order(k100_account):
    route = respx.post(f"{K100_URL}/label/order").mock(return_value=httpx.Response(200, json={
        "success": True, "code": 200, "message": "success",
        "data": {"kuaidinum": "75312345678901", "kdComOrderNum": "K1", "bulkpen": "沪A"}}))

    booking = get_adapter(k100_account).book(PARCEL)

    assert booking.tracking_number == "75312345678901"
    assert booking.carrier_order_id == "K1" and booking.label_data == {"bulkpen": "沪A"}
    request = route.calls.last.request
    assert request.url.params["method"] == "order"
    sent = form(request)
    assert sent["key"] == "KEY123"
    assert sent["sign"] == label_sign(sent["param"], sent["t"], "KEY123", "SECRET456")
    param = json.loads(sent["param"])
    assert param["kuaidicom"] == "zhongtong"
    assert param["recMan"] == {"name": "李四", "mobile": "13912345678",
                               "printAddr": "北京市北京市朝阳区建国路88号", "company": ""}
    assert param["count"] == 3 and param["orderId"] == "OH1-7"


@respx.mock
def test_kuaidi100_label_error_is_refused(k100_account):
    respx.post(f"{K100_URL}/label/order").mock(return_value=httpx.Response(200, json={
        "success": False, "code": 30002, "message": "验证签名失败"}))
    with pytest.raises(CarrierRefused, match="30002"):
        get_adapter(k100_account).book(PARCEL)


@respx.mock
def test_kuaidi100_query_is_signed_and_parses_the_documented_response(k100_account):
    route = respx.post(f"{K100_URL}/poll/query.do").mock(
        return_value=httpx.Response(200, json=load("kuaidi100_query_response_example.json")))

    events = get_adapter(k100_account).track(tracking_number="V030344422", phone="13912345678")

    sent = form(route.calls.last.request)
    assert sent["customer"] == "CUST789"
    assert sent["sign"] == query_sign(sent["param"], "KEY123", "CUST789")
    assert json.loads(sent["param"])["com"] == "zhongtong"
    assert json.loads(sent["param"])["num"] == "V030344422"
    assert [e.description for e in events] == ["上海分拨中心/装件入车扫描", "上海分拨中心/下车扫描"]
    assert all(e.milestone == "in_transit" for e in events)


@respx.mock
def test_kuaidi100_query_error_codes(k100_account):
    respx.post(f"{K100_URL}/poll/query.do").mock(side_effect=[
        httpx.Response(200, json={"result": False, "returnCode": "503", "message": "busy"}),
        httpx.Response(200, json={"result": False, "returnCode": "601", "message": "key 过期"}),
    ])
    adapter = get_adapter(k100_account)
    with pytest.raises(CarrierError) as first:
        adapter.track(tracking_number="V1")
    assert first.value.retryable
    with pytest.raises(CarrierRefused):
        adapter.track(tracking_number="V1")


@respx.mock
def test_kuaidi100_subscribe_shape(k100_account):
    route = respx.post(f"{K100_URL}/poll").mock(return_value=httpx.Response(
        200, json={"result": True, "returnCode": "200", "message": "提交成功"}))
    get_adapter(k100_account).subscribe(tracking_number="7531", callback_url="https://hub/cb/",
                                        salt="s1")
    sent = form(route.calls.last.request)
    assert sent["schema"] == "json"
    param = json.loads(sent["param"])
    assert param["company"] == "zhongtong" and param["number"] == "7531"
    assert param["key"] == "KEY123"
    assert param["parameters"]["callbackurl"] == "https://hub/cb/"
    assert param["parameters"]["salt"] == "s1"
