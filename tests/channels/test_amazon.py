import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
import respx

from channels.connectors import AuthError
from channels.connectors.amazon import AmazonConnector, TokenBucket
from channels.connectors.base import UNPAID
from tests.channels.conftest import LWA, SPAPI, load


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def connector(amazon_channel, sleeps, clock):
    def sleep(seconds):
        sleeps(seconds)
        clock.now += seconds

    return AmazonConnector(amazon_channel, sleep=sleep, clock=clock)


def lwa_ok(token="Atza|access-1"):
    return httpx.Response(200, json={"access_token": token, "refresh_token": "Atzr|refresh",
                                     "token_type": "bearer", "expires_in": 3600})


@respx.mock
def test_lwa_exchange_once_then_cached_token_on_each_call(connector, amazon_channel):
    lwa = respx.post(LWA).mock(return_value=lwa_ok())
    orders = load("amazon_getOrders_example.json")
    del orders["payload"]["NextToken"]
    get_orders = respx.get(f"{SPAPI}/orders/v0/orders").mock(
        return_value=httpx.Response(200, json=orders))
    items = respx.get(f"{SPAPI}/orders/v0/orders/902-3159896-1390916/orderItems").mock(
        return_value=httpx.Response(200, json={"payload": {"OrderItems": [{"OrderItemId": "1"}]}}))

    list(connector.fetch_orders(since=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)))
    # A new connector (next poll) reuses the cached token.
    AmazonConnector(amazon_channel, sleep=lambda s: None).access_token()

    assert lwa.call_count == 1
    form = dict(x.split("=", 1) for x in lwa.calls.last.request.content.decode().split("&"))
    assert form["grant_type"] == "refresh_token"
    assert form["client_id"] == "amzn1.client"
    for route in (get_orders, items):
        assert route.calls.last.request.headers["x-amz-access-token"] == "Atza|access-1"
    params = get_orders.calls.last.request.url.params
    assert params["MarketplaceIds"] == "ATVPDKIKX0DER"
    assert params["LastUpdatedAfter"] == "2026-11-20T00:00:00Z"


@respx.mock
def test_next_token_pagination_sends_only_token_and_marketplaces(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    page1 = load("amazon_getOrders_example.json")
    page2 = {"payload": {"Orders": [{**page1["payload"]["Orders"][0],
                                     "AmazonOrderId": "902-0000000-0000002"}],
                         "LastUpdatedBefore": "2026-11-20T11:58:00Z"}}
    route = respx.get(f"{SPAPI}/orders/v0/orders").mock(side_effect=[
        httpx.Response(200, json=page1), httpx.Response(200, json=page2)])
    respx.get(url__regex=rf"{SPAPI}/orders/v0/orders/.+/orderItems").mock(
        return_value=httpx.Response(200, json={"payload": {"OrderItems": []}}))

    pages = list(connector.fetch_orders(since=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)))

    assert [p.orders[0]["AmazonOrderId"] for p in pages] == [
        "902-3159896-1390916", "902-0000000-0000002"]
    assert dict(route.calls[1].request.url.params) == {
        "MarketplaceIds": "ATVPDKIKX0DER", "NextToken": "2YgYW55IGNhcm5hbCBwbGVhc3VyZS4"}
    assert pages[1].watermark == dt.datetime(2026, 11, 20, 11, 58, tzinfo=dt.UTC)


def test_token_bucket_paces_after_the_burst(clock):
    bucket = TokenBucket(rate=0.0167, burst=2, clock=clock)
    assert bucket.wait_time() == 0
    assert bucket.wait_time() == 0
    wait = bucket.wait_time()
    assert 59 < wait < 61  # getOrders: about one call a minute after the burst


@respx.mock
def test_429_backs_off_and_retries(connector, sleeps):
    respx.post(LWA).mock(return_value=lwa_ok())
    route = respx.get(f"{SPAPI}/orders/v0/orders").mock(side_effect=[
        httpx.Response(429, json={"errors": [{"code": "QuotaExceeded", "message": "x"}]}),
        httpx.Response(200, json={"payload": {"Orders": []}}),
    ])
    list(connector.fetch_orders(since=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)))
    assert route.call_count == 2
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0


@respx.mock
def test_refused_refresh_token_is_an_auth_error(connector):
    respx.post(LWA).mock(return_value=httpx.Response(400, json={
        "error": "invalid_grant", "error_description": "The request has an invalid grant"}))
    with pytest.raises(AuthError, match="invalid_grant"):
        list(connector.fetch_orders(since=None))


@respx.mock
def test_expired_access_token_is_refreshed_once(connector):
    lwa = respx.post(LWA).mock(side_effect=[lwa_ok("Atza|old"), lwa_ok("Atza|new")])
    route = respx.get(f"{SPAPI}/orders/v0/orders").mock(side_effect=[
        httpx.Response(403, json={"errors": [{
            "code": "Unauthorized", "message": "The access token you provided has expired."}]}),
        httpx.Response(200, json={"payload": {"Orders": []}}),
    ])
    list(connector.fetch_orders(since=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)))
    assert lwa.call_count == 2
    assert route.calls[1].request.headers["x-amz-access-token"] == "Atza|new"


def test_normalizes_the_vendor_examples(connector):
    order = load("amazon_getOrders_example.json")["payload"]["Orders"][0]
    order["OrderItems"] = load("amazon_getOrderItems_example.json")["payload"]["OrderItems"]
    norm = connector.normalize(order)
    assert norm.external_id == "902-3159896-1390916"
    assert norm.status == UNPAID  # Pending
    assert norm.buyer_name == "John Doe"
    assert (norm.ship_name, norm.ship_street, norm.ship_city, norm.ship_province,
            norm.ship_country) == ("Michigan address", "1 Cross St.", "Canton", "MI", "US")
    assert [(ln.platform_sku, ln.listing_id, ln.quantity, ln.unit_price)
            for ln in norm.lines] == [
        ("CBA_OTF_1", "BT0093TELA", 1, Decimal("25.99")),
        ("CBA_OTF_5", "BCTU1104UEFB", 2, Decimal("8.98")),  # ItemPrice is the line total
    ]
    assert norm.currency == "JPY"


@respx.mock
def test_confirm_shipment_request_shape(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    route = respx.post(f"{SPAPI}/orders/v0/orders/902-3159896-1390916/shipmentConfirmation").mock(
        return_value=httpx.Response(204))
    result = connector.push_shipment(
        external_id="902-3159896-1390916", carrier="UPS", tracking_number="1Z999",
        lines=[{"external_line_id": "68828574383266", "quantity": 1}])
    assert result.ok
    body = json.loads(route.calls.last.request.content)
    assert body["marketplaceId"] == "ATVPDKIKX0DER"
    package = body["packageDetail"]
    assert package["trackingNumber"] == "1Z999"
    assert package["carrierName"] == "UPS"
    assert package["orderItems"] == [{"orderItemId": "68828574383266", "quantity": 1}]
    assert package["shipDate"].endswith("Z")
    assert route.calls.last.request.headers["x-amz-access-token"] == "Atza|access-1"
