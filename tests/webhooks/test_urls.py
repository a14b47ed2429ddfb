"""Deliveries go to public http(s) URLs only (SSRF guard), checked before every try."""

import pytest
import respx
from django.utils import timezone
from httpx import Response

from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import NewDelivery, deliveries_record, url_problem


@pytest.fixture
def dns(monkeypatch):
    answers = {}
    monkeypatch.setattr(services, "resolve", lambda host, port: answers[host])
    return answers


@pytest.mark.parametrize("url", [
    "ftp://example.com/hook", "file:///etc/passwd", "gopher://example.com/", "javascript:x",
    "https://user:pw@example.com/hook", "https:///nohost",
])
def test_only_plain_http_and_https_urls(url, settings):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = False
    assert url_problem(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8000/", "http://api.localhost/",
    "http://10.1.2.3/", "http://172.16.0.9/", "http://192.168.1.1/", "http://169.254.169.254/",
    "http://[::1]/", "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "http://100.64.0.1/", "http://224.0.0.1/",
])
def test_private_and_local_addresses_are_refused(url, settings, dns):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = True
    assert url_problem(url)
    assert url_problem(url, resolve_host=False)


def test_a_name_resolving_to_a_private_address_is_refused(settings, dns):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = True
    dns["internal.example.com"] = ["10.0.0.5"]
    dns["mixed.example.com"] = ["93.184.216.34", "127.0.0.1"]
    dns["public.example.com"] = ["93.184.216.34", "2606:2800:220:1::1"]
    assert url_problem("https://internal.example.com/hook")
    assert url_problem("https://mixed.example.com/hook")
    assert url_problem("https://public.example.com/hook") == ""
    # the admin form does not resolve (the name may not exist yet)
    assert url_problem("https://internal.example.com/hook", resolve_host=False) == ""


def test_private_addresses_are_allowed_when_the_setting_is_off(settings, dns):
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = False
    assert url_problem("http://127.0.0.1:8000/hook") == ""


@pytest.mark.django_db
@respx.mock
def test_a_delivery_to_a_private_address_is_not_sent(make_subscription, queued, settings, dns):
    # given: a name that now resolves inside our network (DNS changed after saving)
    settings.WEBHOOK_BLOCK_PRIVATE_ADDRESSES = True
    dns["hooks.example.com"] = ["192.168.0.10"]
    subscription = make_subscription()
    [delivery] = deliveries_record([NewDelivery(
        subscription=subscription, event="stock.low", occurred_at=timezone.now(), data={})])
    route = respx.post("https://hooks.example.com/orderhub").mock(return_value=Response(200))

    # when
    outcome = services.delivery_send(delivery_id=delivery.pk)

    # then: nothing left the hub; the delivery failed with the reason
    assert outcome == "failed"
    assert route.call_count == 0
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED
    assert "private" in DeliveryAttempt.objects.get(delivery=delivery).error


def test_blocking_is_off_with_debug_and_can_be_switched_on(fresh_settings):
    assert fresh_settings({}).WEBHOOK_BLOCK_PRIVATE_ADDRESSES is False  # fresh_settings: DEBUG=1
    assert fresh_settings({"WEBHOOK_BLOCK_PRIVATE_ADDRESSES": "1"}
                          ).WEBHOOK_BLOCK_PRIVATE_ADDRESSES is True
