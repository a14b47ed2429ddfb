"""Template variable mapping against a gateway that rejects missing parameters (issue 16)."""

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.core.handlers.wsgi import WSGIHandler
from django.utils.translation import override

from fulfillment.notifications import sandbox, services
from fulfillment.notifications.gateways import GatewayError, OutgoingMessage, adapter_for
from fulfillment.notifications.models import Gateway, Message, MessageTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi_client(settings):
    """The real Aliyun adapter over HTTP to the hub's own sandbox, served in-process."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    settings.SANDBOX_ENABLED = True
    settings.ALLOWED_HOSTS = ["*"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler()),
                           base_url="http://testserver")
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def sandbox_aliyun(db):
    gateway = Gateway(name="aliyun-sandbox", kind=Gateway.Kind.ALIYUN_SMS, for_buyers=True,
                      endpoint="http://testserver/sandbox/notify/aliyun/",
                      config={"sign_name": "演示"})
    gateway.credentials = {"access_key_id": sandbox.ALIYUN_KEY_ID,
                           "access_key_secret": sandbox.ALIYUN_KEY_SECRET}
    gateway.save()
    return gateway


def _shipped_template(**fields) -> MessageTemplate:
    """The seeded Chinese shipped template, pointed at the sandbox's "order"/"waybill" one."""
    template = MessageTemplate.objects.get(event="shipped", audience="buyer", language="zh-hans")
    template.sms_template_code = "SMS_SANDBOX_MAPPED"
    for name, value in fields.items():
        setattr(template, name, value)
    template.save()
    return template


def _shipped_message(gateway) -> Message:
    rendered = services.render_event("shipped", "buyer", "zh-hans", {
        "order_number": "H100", "shop": "店", "carrier": "SF", "tracking_number": "SF123"})
    message, _created = services.message_enqueue(
        kind=Message.Kind.SMS, event="shipped", gateway=gateway, recipient="13800138000",
        body=rendered.body, template_code=rendered.template_code, sign_name="",
        template_params=rendered.params, dedupe_key="test:mapping", actor="system:test")
    return message


def test_unmapped_names_are_rejected_like_aliyun_and_fail_for_good_with_a_clear_message(
        sandbox_aliyun, wsgi_client, enqueued):
    # given a template approved with ${order} and ${waybill}, and no mapping
    _shipped_template()
    message = _shipped_message(sandbox_aliyun)
    assert "order_number" in message.template_params and "order" not in message.template_params
    # when the outbox delivers it
    outcome = services.message_deliver(message_id=message.pk, client=wsgi_client)
    # then the sandbox refused it as Aliyun does, and it is not retried
    message.refresh_from_db()
    assert outcome == "failed" and message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert "isv.TEMPLATE_MISSING_PARAMETERS" in message.last_error
    assert "模板缺少变量" in message.last_error
    assert "SMS_SANDBOX_MAPPED" in message.last_error
    assert "Map the hub's variables" in message.last_error


def test_the_missing_parameters_error_is_translated(sandbox_aliyun):
    # Aliyun's documented answer (HTTP 200), served without the in-process sandbox: its
    # request cycle would reset the active language under the test.
    answer = {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "模板缺少变量",
              "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
    client = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, json=answer)))
    outgoing = OutgoingMessage(recipient="13800138000", body="x", template_code="SMS_1",
                               template_params={"order_number": "H1"})
    with override("zh-hans"), pytest.raises(GatewayError) as info:
        adapter_for(sandbox_aliyun, client=client).send(outgoing)
    assert not info.value.retryable
    assert "请在消息模板的“模板参数名”中" in info.value.message
    assert "order_number" in info.value.message


def test_mapped_names_are_sent_and_accepted(sandbox_aliyun, wsgi_client, enqueued):
    _shipped_template(parameter_map={"order_number": "order", "tracking_number": "waybill"})
    message = _shipped_message(sandbox_aliyun)
    # Mapped variables go under the template's names; unmapped ones keep the hub's.
    assert message.template_params == {"shop": "店", "order": "H100", "carrier": "SF",
                                       "waybill": "SF123"}
    assert services.message_deliver(message_id=message.pk, client=wsgi_client) == "sent"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and message.provider_id
    assert sandbox.inbox()[-1]["template"] == "SMS_SANDBOX_MAPPED"


def test_a_mapped_variable_the_body_does_not_use_is_still_sent():
    template = _shipped_template(parameter_map={"estimated_delivery": "eta"})
    params = services.template_params(template, {"estimated_delivery": "12月3日",
                                                 "order_number": "H1"})
    assert params["eta"] == "12月3日" and params["order_number"] == "H1"
    assert "estimated_delivery" not in params


@pytest.mark.parametrize(("mapping", "problem"), [
    ({"buyer_phone": "phone"}, "not a variable of this event"),
    ({"order_number": "1order"}, "not a valid template parameter name"),
    ({"order_number": "order-no"}, "not a valid template parameter name"),
    ({"order_number": 7}, "not a valid template parameter name"),
    ({"order_number": "x", "tracking_number": "x"}, "same parameter"),
    ({"shop": "carrier"}, "same parameter"),
    (["order_number", "order"], "JSON object"),
])
def test_a_bad_mapping_is_refused_with_the_reason(mapping, problem):
    template = MessageTemplate.objects.get(event="shipped", audience="buyer", language="en")
    template.parameter_map = mapping
    with pytest.raises(ValidationError) as info:
        template.save()
    assert problem in " ".join(info.value.message_dict["parameter_map"])
    template.refresh_from_db()
    assert template.parameter_map == {}


def test_send_test_returns_the_gateways_answer_both_ways(sandbox_aliyun, wsgi_client,
                                                         django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-1")
    template = _shipped_template()
    refused = services.template_send_test(template=template, gateway=sandbox_aliyun,
                                          phone="13800138000", actor=admin, client=wsgi_client)
    assert not refused.ok and "isv.TEMPLATE_MISSING_PARAMETERS" in refused.detail
    template.parameter_map = {"order_number": "order", "tracking_number": "waybill"}
    template.save()
    accepted = services.template_send_test(template=template, gateway=sandbox_aliyun,
                                           phone="13800138000", actor=admin, client=wsgi_client)
    assert accepted.ok and accepted.detail
    assert accepted.params["order"] == services.SAMPLE_VALUES["order_number"]
    # No order and no outbox row: a test is not a message to a buyer.
    assert not Message.objects.exists()


def test_send_test_needs_permission_and_a_phone(sandbox_aliyun, django_user_model):
    template = _shipped_template()
    clerk = django_user_model.objects.create_user("clerk", password="pw-1")
    with pytest.raises(services.NotPermitted):
        services.template_send_test(template=template, gateway=sandbox_aliyun,
                                    phone="13800138000", actor=clerk)
    with pytest.raises(services.NotificationError):
        services.template_send_test(template=template, gateway=sandbox_aliyun, phone=" ",
                                    actor="system:test")


def test_send_test_admin_page_shows_the_gateways_error(client, django_user_model,
                                                        sandbox_aliyun, monkeypatch):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-1")
    client.force_login(admin)
    template = _shipped_template()
    change = client.get(f"/admin/notifications/messagetemplate/{template.pk}/change/")
    url = f"/admin/notifications/messagetemplate/{template.pk}/send-test/"
    assert url in change.content.decode()
    assert client.get(url).status_code == 200
    # Aliyun's answer without the in-process sandbox: a request inside the test client's
    # request would close the test's database connection on PostgreSQL.
    sent = []

    def aliyun(request):
        sent.append(request.content.decode())
        return httpx.Response(200, json={"Code": "isv.TEMPLATE_MISSING_PARAMETERS",
                                         "Message": "模板缺少变量", "RequestId": "R1"})

    gateway_client = httpx.Client(transport=httpx.MockTransport(aliyun))
    monkeypatch.setattr(services, "adapter_for",
                        lambda gateway, client=None: adapter_for(gateway, client=gateway_client))
    response = client.post(url, {"gateway": sandbox_aliyun.pk, "phone": "13800138000"})
    page = response.content.decode()
    assert response.status_code == 200 and len(sent) == 1
    assert "TemplateCode=SMS_SANDBOX_MAPPED" in sent[0] and "13800138000" in sent[0]
    assert "send-test-result" in page and "isv.TEMPLATE_MISSING_PARAMETERS" in page
    # A missing phone is a form error, nothing is sent.
    response = client.post(url, {"gateway": sandbox_aliyun.pk, "phone": ""})
    assert "send-test-result" not in response.content.decode() and len(sent) == 1
