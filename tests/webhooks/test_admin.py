"""Subscriptions are configured in the admin; deliveries and their attempts are visible there
and can be re-sent."""

import pytest
import respx
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from httpx import Response

from orderhub.roles import role_permissions
from tests.webhooks.conftest import SECRET, URL
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.services import NewDelivery, deliveries_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    user = make_user("admin", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_a_subscription_is_created_with_its_secret_encrypted(admin_client, make_user):
    owner = make_user("manager", email="lead@example.com")
    page = admin_client.get(reverse("admin:webhooks_subscription_add"))
    assert page.status_code == 200
    assert "order.paid" in page.content.decode()

    response = admin_client.post(reverse("admin:webhooks_subscription_add"), {
        "name": "ERP", "url": URL, "events": ["order.paid", "stock.low"], "active": "on",
        "owner": owner.pk, "new_secret": SECRET,
    })

    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = Subscription.objects.get()
    assert subscription.events == ["order.paid", "stock.low"]
    assert subscription.secret == SECRET
    assert SECRET not in subscription.secret_encrypted
    change = admin_client.get(reverse("admin:webhooks_subscription_change",
                                      args=[subscription.pk])).content.decode()
    assert SECRET not in change
    assert "••••" + SECRET[-4:] in change


@pytest.mark.parametrize("data, field", [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "http://127.0.0.1/hook"}, "url"),
    ({"new_secret": "short"}, "new_secret"),
    ({"new_secret": ""}, "new_secret"),
])
def test_bad_subscriptions_are_refused(admin_client, settings, data, field):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = True
    post = {"name": "ERP", "url": URL, "events": ["order.paid"], "active": "on",
            "new_secret": SECRET, **data}
    response = admin_client.post(reverse("admin:webhooks_subscription_add"), post)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Subscription.objects.exists()


def test_an_empty_secret_keeps_the_stored_one(admin_client, make_subscription):
    subscription = make_subscription(["order.paid"])
    response = admin_client.post(
        reverse("admin:webhooks_subscription_change", args=[subscription.pk]),
        {"name": "ERP 2", "url": URL, "events": ["order.shipped"], "active": "on",
         "new_secret": ""})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.events, subscription.secret) == (
        "ERP 2", ["order.shipped"], SECRET)


@respx.mock
def test_deliveries_show_their_attempts_and_can_be_resent(admin_client, make_subscription,
                                                          queued,
                                                          django_capture_on_commit_callbacks):
    subscription = make_subscription()
    [delivery] = deliveries_record([NewDelivery(
        subscription=subscription, event="stock.low", occurred_at=timezone.now(), data={})])
    respx.post(URL).mock(return_value=Response(410, text="gone for good"))
    services.delivery_send(delivery_id=delivery.pk)

    listing = admin_client.get(reverse("admin:webhooks_delivery_changelist"))
    assert listing.status_code == 200
    detail = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))
    assert "gone for good" in detail.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:webhooks_delivery_changelist"), {
            "action": "resend", "_selected_action": [delivery.pk]})
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.QUEUED
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1
    assert ("webhooks.tasks.send_delivery", delivery.pk) in queued


def test_resume_action(admin_client, make_subscription, queued):
    subscription = make_subscription()
    services.subscription_pause(subscription=subscription, reason="test")
    response = admin_client.post(reverse("admin:webhooks_subscription_changelist"), {
        "action": "resume", "_selected_action": [subscription.pk]})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert not subscription.paused


def test_managers_and_admins_hold_the_webhook_permissions():
    manager = role_permissions("manager", labels=("webhooks",))
    assert {"webhooks.change_subscription", "webhooks.resend_delivery",
            "webhooks.view_deliveryattempt"} <= manager
    assert role_permissions("ops", labels=("webhooks",)) == set()
    admin_group = Group.objects.get(name="admin")
    assert admin_group.permissions.filter(content_type__app_label="webhooks",
                                          codename="resend_delivery").exists()
    assert Group.objects.get(name="manager").permissions.filter(
        codename="resend_delivery").exists()
