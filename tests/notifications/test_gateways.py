"""Gateway adapters: signatures against the documented examples, request shapes, errors."""

import json
import re
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from django.core import mail

from fulfillment.notifications.gateways import (
    GatewayError,
    OutgoingMessage,
    adapter_for,
    aliyun_phone,
    aliyun_rpc_signature,
    dingtalk_sign,
    dingtalk_sign_urlencoded,
    percent_encode,
)

from .conftest import fixture_json

pytestmark = pytest.mark.django_db

# PROTOCOLS.md §7.1: Aliyun's own documentation example (official vector).
ALIYUN_DOC_PARAMS = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
    "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_signature_matches_the_documented_example():
    signature = aliyun_rpc_signature(ALIYUN_DOC_PARAMS, "testSecret", "GET")
    assert signature == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert percent_encode(signature) == "zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"


def test_aliyun_signature_depends_on_method_and_every_param():
    base = aliyun_rpc_signature(ALIYUN_DOC_PARAMS, "testSecret", "GET")
    assert aliyun_rpc_signature(ALIYUN_DOC_PARAMS, "testSecret", "POST") != base
    assert aliyun_rpc_signature({**ALIYUN_DOC_PARAMS, "OutId": "124"}, "testSecret") != base
    assert aliyun_rpc_signature(ALIYUN_DOC_PARAMS, "otherSecret", "GET") != base


def test_percent_encoding_follows_rfc3986_as_aliyun_wants():
    assert percent_encode("a b*c~d") == "a%20b%2Ac~d"
    assert percent_encode("/") == "%2F"


def test_dingtalk_sign_matches_the_documented_method():
    assert dingtalk_sign(1700000000000, "SECtest") == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
    assert dingtalk_sign_urlencoded(1700000000000, "SECtest") == (
        "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D")


def test_aliyun_phone_format():
    assert aliyun_phone("+8613800138000") == "13800138000"
    assert aliyun_phone("+14155550123") == "14155550123"


@respx.mock
def test_aliyun_request_shape_and_signature(aliyun):
    route = respx.post("https://dysmsapi.aliyuncs.com/").mock(
        return_value=httpx.Response(200, json=fixture_json("aliyun_sendsms_ok.json")))
    message = OutgoingMessage(recipient="+8613800138000", body="已发货", template_code="SMS_1",
                              template_params={"order_number": "H1", "tracking_number": "SF1"},
                              reference="m42")
    result = adapter_for(aliyun).send(message)

    assert result.provider_id == "900619746936498440^0"
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
    assert form["Action"] == "SendSms" and form["Version"] == "2017-05-25"
    assert form["PhoneNumbers"] == "13800138000"
    assert form["SignName"] == "阿里云短信测试专用"
    assert form["TemplateCode"] == "SMS_1" and form["OutId"] == "m42"
    assert json.loads(form["TemplateParam"]) == {"order_number": "H1", "tracking_number": "SF1"}
    assert form["SignatureMethod"] == "HMAC-SHA1" and form["SignatureVersion"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", form["Timestamp"])
    # The server recomputes the signature over everything else it received.
    signature = form.pop("Signature")
    assert signature == aliyun_rpc_signature(form, "testSecret", "POST")


@pytest.mark.parametrize("case,retryable", [("limit", True), ("bad_number", False),
                                            ("bad_signature", False)])
@respx.mock
def test_aliyun_error_codes(aliyun, case, retryable):
    respx.post("https://dysmsapi.aliyuncs.com/").mock(
        return_value=httpx.Response(200, json=fixture_json("aliyun_sendsms_errors.json")[case]))
    with pytest.raises(GatewayError) as info:
        adapter_for(aliyun).send(OutgoingMessage(recipient="13800138000", body="x",
                                                 template_code="SMS_1"))
    assert info.value.retryable is retryable
    assert fixture_json("aliyun_sendsms_errors.json")[case]["Code"] in info.value.message


@respx.mock
def test_aliyun_server_error_and_timeout_are_retryable(aliyun):
    route = respx.post("https://dysmsapi.aliyuncs.com/")
    route.side_effect = [httpx.Response(503, text="busy"), httpx.ConnectTimeout("slow")]
    adapter = adapter_for(aliyun)
    for _ in range(2):
        with pytest.raises(GatewayError) as info:
            adapter.send(OutgoingMessage(recipient="13800138000", body="x",
                                         template_code="SMS_1"))
        assert info.value.retryable


def test_aliyun_without_template_code_is_a_permanent_error(aliyun):
    with pytest.raises(GatewayError) as info:
        adapter_for(aliyun).send(OutgoingMessage(recipient="13800138000", body="x"))
    assert not info.value.retryable


def test_adapter_client_has_timeouts(aliyun):
    client = adapter_for(aliyun).client()
    assert client.timeout.read == 10 and client.timeout.connect == 5


@respx.mock
def test_wecom_request_shape(wecom):
    route = respx.post("https://qyapi.weixin.qq.com/cgi-bin/webhook/send").mock(
        return_value=httpx.Response(200, json=fixture_json("robot_answers.json")["ok"]))
    adapter_for(wecom).send(OutgoingMessage(recipient="13800138000", subject="拦截",
                                            body="订单H1已拦截"))
    request = route.calls.last.request
    assert request.url.params["key"] == "robot-key-123"
    body = json.loads(request.content)
    assert body == {"msgtype": "text", "text": {"content": "拦截\n订单H1已拦截",
                                                "mentioned_mobile_list": ["13800138000"]}}


@respx.mock
def test_wecom_truncates_to_2048_bytes(wecom):
    route = respx.post("https://qyapi.weixin.qq.com/cgi-bin/webhook/send").mock(
        return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}))
    adapter_for(wecom).send(OutgoingMessage(recipient="", body="很长" * 2000))
    content = json.loads(route.calls.last.request.content)["text"]["content"]
    assert len(content.encode()) <= 2048


@pytest.mark.parametrize("case,retryable", [("wecom_rate_limited", True),
                                            ("wecom_bad_key", False)])
@respx.mock
def test_wecom_errors(wecom, case, retryable):
    respx.post("https://qyapi.weixin.qq.com/cgi-bin/webhook/send").mock(
        return_value=httpx.Response(200, json=fixture_json("robot_answers.json")[case]))
    with pytest.raises(GatewayError) as info:
        adapter_for(wecom).send(OutgoingMessage(recipient="", body="x"))
    assert info.value.retryable is retryable


@respx.mock
def test_dingtalk_request_shape_and_sign(dingtalk):
    route = respx.post("https://oapi.dingtalk.com/robot/send").mock(
        return_value=httpx.Response(200, json=fixture_json("robot_answers.json")["ok"]))
    adapter_for(dingtalk).send(OutgoingMessage(recipient="13700137000", body="加急订单H1"),
                               now_ms=1700000000000)
    request = route.calls.last.request
    assert request.url.params["access_token"] == "ding-token"
    assert request.url.params["timestamp"] == "1700000000000"
    assert request.url.params["sign"] == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
    # On the wire the base64 is URL-encoded exactly once, as DingTalk documents.
    assert "sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D" in str(request.url)
    assert json.loads(request.content) == {
        "msgtype": "text", "text": {"content": "加急订单H1"},
        "at": {"atMobiles": ["13700137000"], "atUserIds": [], "isAtAll": False}}


@pytest.mark.parametrize("case,retryable", [("dingtalk_bad_sign", False),
                                            ("dingtalk_too_fast", True)])
@respx.mock
def test_dingtalk_errors(dingtalk, case, retryable):
    respx.post("https://oapi.dingtalk.com/robot/send").mock(
        return_value=httpx.Response(200, json=fixture_json("robot_answers.json")[case]))
    with pytest.raises(GatewayError) as info:
        adapter_for(dingtalk).send(OutgoingMessage(recipient="", body="x"))
    assert info.value.retryable is retryable


@respx.mock
def test_http_sms_request_shape(http_sms):
    route = respx.post("https://sms.example.com/api/send").mock(
        return_value=httpx.Response(200, json={"ok": True, "id": "abc-1"}))
    result = adapter_for(http_sms).send(OutgoingMessage(
        recipient="+8613800138000", body='您的订单"H1"已发货', reference="m7"))
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer s3cret-token"
    assert json.loads(request.content) == {"mobile": "+8613800138000",
                                           "content": '您的订单"H1"已发货',
                                           "meta": {"ref": "m7"}}
    assert result.provider_id == "abc-1"


@respx.mock
def test_http_sms_errors(http_sms):
    route = respx.post("https://sms.example.com/api/send")
    route.side_effect = [httpx.Response(502), httpx.Response(400, text="bad phone"),
                         httpx.Response(200, json={"ok": False, "error": "quota"})]
    adapter = adapter_for(http_sms)
    outcomes = []
    for _ in range(3):
        with pytest.raises(GatewayError) as info:
            adapter.send(OutgoingMessage(recipient="13800138000", body="x"))
        outcomes.append(info.value.retryable)
    assert outcomes == [True, False, False]


def test_email_gateway_sends_through_django_mail(email_gateway):
    adapter_for(email_gateway).send(OutgoingMessage(recipient="buyer@example.com, b@example.com",
                                                    subject="缺货", body="订单H1缺货"))
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["buyer@example.com", "b@example.com"]
    assert sent.subject == "缺货" and sent.from_email == "hub@example.com"


def test_credentials_are_encrypted_and_masked(aliyun):
    aliyun.refresh_from_db()
    assert "testSecret" not in aliyun.credentials_encrypted
    assert aliyun.credentials["access_key_secret"] == "testSecret"
    assert "testSecret" not in json.dumps(aliyun.masked_credentials)
    assert "testSecret" not in repr(aliyun)


@pytest.mark.parametrize("status,retryable", [(503, True), (429, True), (401, False),
                                              (400, False)])
def test_gateway_errors_are_adapter_errors_with_the_kits_http_mapping(status, retryable):
    from fulfillment.notifications.gateways import GatewayError, gateway_http_error
    from orderhub.adapters import AdapterError, is_retryable

    error = gateway_http_error(status, "body", vendor="http_sms")
    assert isinstance(error, GatewayError) and isinstance(error, AdapterError)
    assert is_retryable(error) is retryable and error.status_code == status
    assert gateway_http_error(200, "ok", vendor="http_sms") is None
