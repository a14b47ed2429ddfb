"""The demo: seed_demo's subscription posts to the hub's own sandbox receiver, which checks
the signature as README tells receivers to."""

from io import StringIO

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone

from webhooks import demo, services, signing
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.sandbox import DEMO_SECRET
from webhooks.services import NewDelivery, deliveries_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_process():
    """An httpx client that hands requests to this Django app (no sockets).

    Like Django's test client, the request must not close the test's connection.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())) as client:
            yield client
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_demo_subscription_delivers_to_the_sandbox_receiver(settings, in_process, queued):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = False
    settings.SANDBOX_ENABLED = True
    demo.seed(StringIO())
    demo.seed(StringIO())  # idempotent
    subscription = Subscription.objects.get()
    assert subscription.active and subscription.url.endswith("/sandbox/webhooks/receiver/")
    [delivery] = deliveries_record([NewDelivery(
        subscription=subscription, event="order.paid", occurred_at=timezone.now(),
        data={"order": {"number": "OH1"}})])

    assert services.delivery_send(delivery_id=delivery.pk, client=in_process) == "succeeded"
    assert DeliveryAttempt.objects.get(delivery=delivery).status_code == 204


def test_the_sandbox_receiver_refuses_a_bad_signature(client, settings):
    settings.SANDBOX_ENABLED = True
    body = b'{"event":"order.paid"}'
    now = int(timezone.now().timestamp())
    good = signing.signature_header(DEMO_SECRET, now, body)
    bad = signing.signature_header("not-the-secret", now, body)
    url = "/sandbox/webhooks/receiver/"
    assert client.post(url, body, content_type="application/json",
                       headers={"X-OrderHub-Signature": good}).status_code == 204
    assert client.post(url, body, content_type="application/json",
                       headers={"X-OrderHub-Signature": bad}).status_code == 401
    assert client.post(url, body + b" ", content_type="application/json",
                       headers={"X-OrderHub-Signature": good}).status_code == 401


def test_the_demo_subscription_is_inactive_when_private_addresses_are_blocked(settings):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = True
    demo.seed(StringIO())
    assert not Subscription.objects.get().active
    assert not Delivery.objects.exists()
