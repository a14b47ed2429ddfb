"""The sandbox gateways check what the vendors check; the real adapters pass them."""

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler

from fulfillment.notifications import sandbox
from fulfillment.notifications.gateways import GatewayError, OutgoingMessage, adapter_for
from fulfillment.notifications.models import Gateway

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def wsgi_client(settings):
    """The real adapters over HTTP to the hub's own sandbox, served in-process."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    settings.SANDBOX_ENABLED = True
    settings.ALLOWED_HOSTS = ["*"]
    # As Django's test client does: the test's transaction must survive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler()),
                           base_url="http://testserver")
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _gateway(kind, path, credentials, **config):
    gateway = Gateway(name=kind, kind=kind, endpoint=f"http://testserver/sandbox/notify/{path}/",
                      config=config)
    gateway.credentials = credentials
    gateway.save()
    return gateway


def test_aliyun_sandbox_accepts_our_signature_and_refuses_a_wrong_secret(wsgi_client):
    good = _gateway("aliyun_sms", "aliyun", {"access_key_id": sandbox.ALIYUN_KEY_ID,
                                             "access_key_secret": sandbox.ALIYUN_KEY_SECRET},
                    sign_name="演示")
    message = OutgoingMessage(recipient="+8613800138000", body="x", template_code="SMS_1",
                              template_params={"order_number": "H1"})
    assert adapter_for(good, client=wsgi_client).send(message).provider_id
    good.credentials = {"access_key_id": sandbox.ALIYUN_KEY_ID, "access_key_secret": "wrong"}
    with pytest.raises(GatewayError) as info:
        adapter_for(good, client=wsgi_client).send(message)
    assert "SignatureDoesNotMatch" in info.value.message and not info.value.retryable


def test_dingtalk_sandbox_checks_sign(wsgi_client):
    gateway = _gateway("dingtalk", "dingtalk", {"access_token": sandbox.DINGTALK_TOKEN,
                                                "secret": sandbox.DINGTALK_SECRET})
    adapter_for(gateway, client=wsgi_client).send(OutgoingMessage(recipient="", body="hi"))
    gateway.credentials = {"access_token": sandbox.DINGTALK_TOKEN, "secret": "SECwrong"}
    with pytest.raises(GatewayError) as info:
        adapter_for(gateway, client=wsgi_client).send(OutgoingMessage(recipient="", body="hi"))
    assert "310000" in info.value.message


def test_wecom_and_http_sms_sandboxes(wsgi_client):
    wecom = _gateway("wecom", "wecom", {"key": sandbox.WECOM_KEY})
    adapter_for(wecom, client=wsgi_client).send(OutgoingMessage(recipient="", body="hi"))
    sms = _gateway("http_sms", "sms", {"auth_value": sandbox.HTTP_SMS_TOKEN},
                   auth_header="Authorization", ok_field="ok", ok_value="True", id_field="id",
                   body_template='{"to": "{phone}", "text": "{text}"}')
    assert adapter_for(sms, client=wsgi_client).send(
        OutgoingMessage(recipient="13800138000", body="hi")).provider_id
    kinds = [item["kind"] for item in sandbox.inbox()]
    assert "wecom" in kinds and "http_sms" in kinds


def test_sandbox_is_off_unless_enabled(client, settings):
    settings.SANDBOX_ENABLED = False
    assert client.post("/sandbox/notify/wecom/?key=x", data="{}",
                       content_type="application/json").status_code == 404


def test_demo_seed_is_idempotent(warehouse):
    import io

    from fulfillment.notifications import demo
    from fulfillment.notifications.models import AlertRoute

    demo.seed(io.StringIO())
    counts = (Gateway.objects.count(), AlertRoute.objects.count())
    demo.seed(io.StringIO())
    assert (Gateway.objects.count(), AlertRoute.objects.count()) == counts
    assert Gateway.objects.filter(for_buyers=True).count() == 1
