"""The sandbox APIs, exercised by the real connectors over (in-process) HTTP."""

import datetime as dt
from unittest import mock

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from channels.connectors import get_connector
from channels.models import Channel
from channels.sandbox import generate
from channels.services import channel_poll
from orderhub.models import Order


@pytest.fixture
def http():
    # Like Django's test client: requests must not close the test's DB connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield httpx.Client(transport=httpx.WSGITransport(app=get_wsgi_application()),
                           base_url="http://testserver")
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def no_random_429():
    # A 12-hour window (48 orders) keeps the test quick; the shape is the same.
    with mock.patch("channels.sandbox._throttled", return_value=None), \
            mock.patch("channels.sandbox.WINDOW", dt.timedelta(hours=12)):
        yield


def make(platform, config, credentials):
    channel = Channel(code=f"sb-{platform}", name=f"Sandbox {platform}", platform=platform,
                      config=config)
    channel.credentials = credentials
    channel.save()
    return channel


@pytest.mark.parametrize("platform, config, credentials", [
    ("shopify", {"shop_url": "http://testserver/sandbox/shopify"},
     {"access_token": "sandbox-token"}),
    ("woocommerce", {"site_url": "http://testserver/sandbox/woocommerce"},
     {"consumer_key": "ck", "consumer_secret": "cs"}),
    ("amazon", {"endpoint": "http://testserver/sandbox/amazon",
                "lwa_url": "http://testserver/sandbox/amazon/auth/o2/token",
                "marketplace_ids": ["ATVPDKIKX0DER"]},
     {"refresh_token": "Atzr|x", "client_id": "c", "client_secret": "s"}),
])
def test_poll_pulls_every_sandbox_order_once(db, http, platform, config, credentials):
    channel = make(platform, config, credentials)
    connector = get_connector(channel, client=http, sleep=lambda s: None)
    expected = len(generate())

    outcome = channel_poll(channel=channel, connector=connector)

    assert outcome.status == "ok", outcome.error
    assert outcome.result.created == pytest.approx(expected, abs=1)  # a slot may tick over
    assert outcome.result.rejected == 0
    statuses = set(Order.objects.filter(channel=channel).values_list("status", flat=True))
    assert "pending_payment" in statuses and "review" in statuses  # unmapped SKUs → review
    # A second poll re-reads only the overlap and creates nothing.
    again = channel_poll(channel=channel, connector=connector)
    assert again.result.created <= 1


def test_sandbox_is_off_when_disabled(client, settings):
    settings.SANDBOX_ENABLED = False
    response = client.get("/sandbox/shopify/admin/api/2024-10/orders.json",
                          headers={"X-Shopify-Access-Token": "t"})
    assert response.status_code == 404


def test_shopify_sandbox_refuses_filters_with_page_info(client):
    response = client.get("/sandbox/shopify/admin/api/2024-10/orders.json",
                          {"page_info": "e30=", "status": "any"},
                          headers={"X-Shopify-Access-Token": "t"})
    assert response.status_code == 400
