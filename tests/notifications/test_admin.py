"""Admin: gateway secrets are write-only and masked; broken templates are refused."""

import pytest
from django.urls import reverse

from fulfillment.notifications.models import Gateway, MessageTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-Secret-1")
    client.force_login(user)
    return client


def test_gateway_credentials_saved_encrypted_and_shown_masked(admin_client):
    response = admin_client.post(reverse("admin:notifications_gateway_add"), {
        "name": "ding", "kind": "dingtalk", "enabled": "on", "endpoint": "", "config": "{}",
        "timeout_seconds": "10",
        "new_credentials": '{"access_token": "tok-1234567890abcd", "secret": "SECverysecret-9876"}',
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    gateway = Gateway.objects.get(name="ding")
    assert gateway.credentials["secret"] == "SECverysecret-9876"
    assert "SECverysecret" not in gateway.credentials_encrypted
    html = admin_client.get(reverse("admin:notifications_gateway_change",
                                    args=[gateway.pk])).content.decode()
    assert "SECverysecret-9876" not in html and "••••9876" in html
    # Saving without new credentials keeps the stored ones.
    admin_client.post(reverse("admin:notifications_gateway_change", args=[gateway.pk]), {
        "name": "ding", "kind": "dingtalk", "enabled": "on", "endpoint": "", "config": "{}",
        "timeout_seconds": "10", "new_credentials": ""})
    gateway.refresh_from_db()
    assert gateway.credentials["access_token"] == "tok-1234567890abcd"


def test_bad_credentials_json_is_refused(admin_client):
    response = admin_client.post(reverse("admin:notifications_gateway_add"), {
        "name": "w", "kind": "wecom", "config": "{}", "timeout_seconds": "10",
        "new_credentials": "{not json"})
    assert response.status_code == 200 and "not valid JSON" in response.content.decode()
    assert not Gateway.objects.exists()


def test_admin_refuses_template_with_unknown_variable(admin_client):
    template = MessageTemplate.objects.get(event="shipped", audience="buyer", language="en")
    response = admin_client.post(
        reverse("admin:notifications_messagetemplate_change", args=[template.pk]),
        {"event": "shipped", "audience": "buyer", "language": "en", "active": "on",
         "subject": "", "body": "Order {{ order_no }} shipped", "sms_template_code": "",
         "sms_sign_name": ""})
    assert response.status_code == 200
    assert "Unknown variable “order_no”" in response.content.decode()
    template.refresh_from_db()
    assert "order_no }}" not in template.body


def test_message_admin_masks_recipients(admin_client, aliyun):
    from fulfillment.notifications.services import message_enqueue

    message, _ = message_enqueue(kind="sms", event="shipped", gateway=aliyun,
                                 recipient="+8613812345678", body="x", dedupe_key="a",
                                 actor="system:test")
    html = admin_client.get(reverse("admin:notifications_message_changelist")).content.decode()
    assert "138****5678" in html and "13812345678" not in html
    html = admin_client.get(reverse("admin:notifications_message_change",
                                    args=[message.pk])).content.decode()
    assert "13812345678" not in html
