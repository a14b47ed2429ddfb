"""The Amazon part of /sandbox/ answers like the SP-API documentation."""

import datetime as dt
from unittest import mock

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from channels.connectors.amazon import AmazonConnector
from channels.connectors.base import PAID, PARTIALLY_SHIPPED, SHIPPED, PermanentError
from channels.models import Channel

BASE = "http://testserver/sandbox/amazon"


@pytest.fixture
def http():
    # Like Django's test client: requests must not close the test's DB connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with mock.patch("channels.sandbox._throttled", return_value=None), \
                mock.patch("channels.sandbox.WINDOW", dt.timedelta(hours=12)):
            yield httpx.Client(transport=httpx.WSGITransport(app=get_wsgi_application()),
                               base_url="http://testserver")
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def connector(db, http):
    channel = Channel(code="sb-amazon", name="Sandbox Amazon", platform="amazon",
                      config={"endpoint": BASE, "lwa_url": f"{BASE}/auth/o2/token",
                              "marketplace_ids": ["ATVPDKIKX0DER", "A1F83G8C2ARO7P"]})
    channel.credentials = {"refresh_token": "Atzr|x", "client_id": "c", "client_secret": "s"}
    channel.save()
    return AmazonConnector(channel, client=http, sleep=lambda s: None)


def test_sandbox_orders_carry_pii_only_with_an_rdt(connector, http):
    params = {"MarketplaceIds": "ATVPDKIKX0DER", "LastUpdatedAfter": "2000-01-01T00:00:00Z"}
    plain = http.get(f"{BASE}/orders/v0/orders", params=params,
                     headers={"x-amz-access-token": connector.access_token()}).json()
    paid = [o for o in plain["payload"]["Orders"] if o["OrderStatus"] != "Pending"]
    assert paid and all("Name" not in o["ShippingAddress"] for o in paid)
    assert all(not o["BuyerInfo"] for o in plain["payload"]["Orders"])
    refused = http.get(f"{BASE}/orders/v0/orders/{paid[0]['AmazonOrderId']}/address",
                       headers={"x-amz-access-token": connector.access_token()})
    assert refused.status_code == 403

    pages = list(connector.fetch_orders(since=None))
    orders = [connector.normalize(o) for p in pages for o in p.orders]
    shippable = [o for o in orders if o.status == PAID]
    assert shippable and all(o.ship_street and o.ship_name and o.buyer_name
                             for o in shippable)
    assert pages[-1].watermark is not None


def test_sandbox_shipped_and_partially_shipped_orders(connector):
    with mock.patch("channels.sandbox.WINDOW", dt.timedelta(days=2)):
        orders = [connector.normalize(o) for p in connector.fetch_orders(since=None)
                  for o in p.orders]
    states = {o.fulfillment for o in orders if o.status == PAID}
    assert SHIPPED in states
    partial = [o for o in orders if o.fulfillment == PARTIALLY_SHIPPED]
    assert partial
    for order in partial:
        assert [ln.shipped_quantity for ln in order.lines][0] == order.lines[0].quantity
        assert any(ln.shipped_quantity == 0 for ln in order.lines)


def test_sandbox_write_back_needs_the_orders_marketplace(connector):
    orders = [connector.normalize(o) for p in connector.fetch_orders(since=None)
              for o in p.orders]
    order = next(o for o in orders if o.status == PAID and o.fulfillment == "")
    lines = [{"external_line_id": ln.external_line_id, "quantity": ln.quantity}
             for ln in order.lines]
    wrong = next(m for m in connector.marketplace_ids
                 if m != order.platform_data["marketplace_id"])
    with pytest.raises(PermanentError, match="marketplace"):
        connector.push_shipment(external_id=order.external_id, carrier="UPS",
                                tracking_number="1Z1", lines=lines,
                                platform_data={"marketplace_id": wrong})
    assert connector.confirm_shipment(external_id=order.external_id,
                                      tracking_number="1Z1") is False

    result = connector.push_shipment(external_id=order.external_id,
                                     carrier=connector.carrier_name("ZTO"),
                                     tracking_number="ZT1", lines=lines,
                                     platform_data=order.platform_data)

    assert result.ok
    assert connector.confirm_shipment(external_id=order.external_id,
                                      tracking_number="ZT1") is True
    # The confirmation is an update: the next poll reads the order again, Shipped.
    again = connector.get_order(order.external_id)
    assert connector.updated_at(again) > order.updated_at
