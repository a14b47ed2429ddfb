"""The sandbox APIs, exercised by the real connectors over (in-process) HTTP."""

import base64
import datetime as dt
import json
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


# --- Shopify and WooCommerce answer like their documentation -----------------------------

SHOPIFY = ("shopify", {"shop_url": "http://testserver/sandbox/shopify"},
           {"access_token": "sandbox-token"})
WOO = ("woocommerce", {"site_url": "http://testserver/sandbox/woocommerce"},
       {"consumer_key": "ck", "consumer_secret": "cs"})


def _all(connector):
    return [o for page in connector.fetch_orders(since=None) for o in page.orders]


@pytest.mark.parametrize("platform, config, credentials", [SHOPIFY, WOO])
def test_sandbox_has_orders_the_store_already_shipped(db, http, platform, config, credentials):
    connector = get_connector(make(platform, config, credentials), client=http,
                              sleep=lambda s: None)
    normalized = [connector.normalize(raw) for raw in _all(connector)]
    shipped = [n for n in normalized if n.fulfillment == "shipped"]
    assert shipped, "every fifth paid order older than six hours is shipped"
    for order in shipped:
        assert order.status == "paid"
        [parcel] = order.shipments
        assert parcel.tracking_number and parcel.carrier in ("SF Express", "ZTO Express", "UPS")
        assert all(line.shipped_quantity == line.quantity for line in order.lines)
    # names in the seller's form, provinces as names
    chinese = [n for n in normalized if n.ship_country == "CN"]
    assert chinese and all(n.ship_name in ("张伟", "王芳", "李娜") for n in chinese)
    assert {n.ship_province for n in chinese} <= {"上海市", "北京市", "广东省"}
    assert {n.ship_province for n in normalized if n.ship_country == "US"} <= {"California"}


def test_woo_sandbox_stores_state_codes_and_filters_like_woocommerce(db, http):
    connector = get_connector(make(*WOO), client=http, sleep=lambda s: None)
    raws = _all(connector)
    assert {r["shipping"]["state"] for r in raws if r["shipping"]["country"] == "CN"} <= {
        "CN10", "CN2", "CN20"}
    raws.sort(key=lambda r: (r["date_modified_gmt"], r["id"]))
    pivot = raws[len(raws) // 2]["date_modified_gmt"]
    response = http.get("/sandbox/woocommerce/wp-json/wc/v3/orders", params={
        "modified_after": pivot, "orderby": "modified", "order": "asc", "per_page": 100,
        "dates_are_gmt": "true"}, auth=("ck", "cs"))
    got = response.json()
    # exclusive bound, oldest first with the ID as tie-break
    assert [r["id"] for r in got] == [r["id"] for r in raws if r["date_modified_gmt"] > pivot]


def test_shopify_sandbox_cursor_resumes_after_the_last_row(db, http):
    first = http.get("/sandbox/shopify/admin/api/2024-10/orders.json",
                     params={"status": "any", "limit": 5, "order": "updated_at asc"},
                     headers={"X-Shopify-Access-Token": "t"})
    link = first.headers["Link"]
    assert 'rel="next"' in link
    state = json.loads(base64.urlsafe_b64decode(link.split("page_info=")[1].split(">")[0]))
    last = first.json()["orders"][-1]
    assert state["after"][1] == last["id"] - 5_000_000_000


@pytest.mark.parametrize("platform, config, credentials, carrier", [
    (*SHOPIFY, "SF Express"), (*WOO, "SF Express"),
])
def test_push_then_read_back_through_the_sandbox(db, http, platform, config, credentials,
                                                 carrier):
    connector = get_connector(make(platform, config, credentials), client=http,
                              sleep=lambda s: None)
    raw = next(r for r in _all(connector)
               if connector.normalize(r).status == "paid"
               and connector.normalize(r).fulfillment == "")
    external_id = connector.external_id(raw)
    number = f"SFTEST{external_id}"
    assert connector.confirm_shipment(external_id=external_id, tracking_number=number) is False

    result = connector.push_shipment(external_id=external_id, carrier=carrier,
                                     tracking_number=number)

    assert result.ok
    assert connector.confirm_shipment(external_id=external_id, tracking_number=number) is True
    assert connector.confirm_shipment(external_id=external_id, tracking_number="nope") is False
