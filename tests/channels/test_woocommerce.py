import base64
import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import httpx
import pytest
import respx

from channels.connectors import AuthError, PermanentError
from channels.connectors.base import PAID
from channels.connectors.woocommerce import WooCommerceConnector
from tests.channels.conftest import WOO_API, load


@pytest.fixture
def connector(woo_channel, sleeps):
    return WooCommerceConnector(woo_channel, sleep=sleeps)


@respx.mock
def test_fetch_uses_basic_auth_modified_after_and_total_pages(connector):
    route = respx.get(f"{WOO_API}/orders").mock(side_effect=[
        httpx.Response(200, json=[{"id": 1}, {"id": 2}], headers={"X-WP-TotalPages": "3"}),
        httpx.Response(200, json=[{"id": 3}], headers={"X-WP-TotalPages": "3"}),
        httpx.Response(200, json=[{"id": 4}], headers={"X-WP-TotalPages": "3"}),
    ])
    since = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    pages = list(connector.fetch_orders(since=since))

    assert [[o["id"] for o in p.orders] for p in pages] == [[1, 2], [3], [4]]
    assert route.call_count == 3
    request = route.calls[0].request
    expected = "Basic " + base64.b64encode(b"ck_test:cs_test").decode()
    assert request.headers["Authorization"] == expected
    params = request.url.params
    assert params["modified_after"] == "2026-11-20T08:00:00"
    assert params["dates_are_gmt"] == "true"
    assert params["orderby"] == "modified" and params["order"] == "asc"
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2", "3"]


@respx.mock
def test_rate_limited_proxy_is_retried(connector, sleeps):
    respx.get(f"{WOO_API}/orders").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, json=[], headers={"X-WP-TotalPages": "0"}),
    ])
    assert list(connector.fetch_orders(since=None)) == []
    assert sleeps == [3.0]


@respx.mock
def test_wrong_keys_are_an_auth_error(connector):
    respx.get(f"{WOO_API}/orders").mock(return_value=httpx.Response(401, json={
        "code": "woocommerce_rest_cannot_view", "message": "Sorry", "data": {"status": 401}}))
    with pytest.raises(AuthError):
        list(connector.fetch_orders(since=None))


def test_plain_http_site_is_refused(woo_channel):
    woo_channel.config = {"site_url": "http://woo.example.com"}
    with pytest.raises(PermanentError, match="https"):
        list(WooCommerceConnector(woo_channel).fetch_orders(since=None))


def test_normalizes_the_vendor_example(connector):
    norm = connector.normalize(load("woocommerce_order_example.json"))
    assert norm.external_id == "727"
    assert norm.status == PAID
    assert norm.total == Decimal("29.35")
    assert norm.shipping_fee == Decimal("10.00")
    assert norm.placed_at == dt.datetime(2017, 3, 22, 19, 28, 2, tzinfo=dt.UTC)
    assert norm.buyer_name == "John Doe"
    assert norm.buyer_phone == "(555) 555-5555"
    assert (norm.ship_city, norm.ship_province, norm.ship_street, norm.ship_postcode) == (
        "San Francisco", "CA", "969 Market", "94103")
    first, second = norm.lines
    assert (first.platform_sku, first.listing_id, first.quantity, first.unit_price) == (
        "", "93", 2, Decimal("3.00"))
    assert (second.platform_sku, second.listing_id, second.unit_price) == (
        "Bar3", "23", Decimal("12.00"))
    assert second.name == "Ship Your Idea – Color: Black, Size: M Test"


@pytest.mark.parametrize("status, expected", [
    ("pending", "unpaid"), ("on-hold", "unpaid"), ("processing", "paid"),
    ("completed", "paid"), ("cancelled", "cancelled"), ("refunded", "cancelled"),
])
def test_status_mapping(connector, woo_order, status, expected):
    assert connector.normalize({**woo_order, "status": status}).status == expected


def _sign(body: bytes, secret: str = "hush") -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_webhook_signature_good_bad_missing_and_ping(connector):
    body = b'{"id":1,"name":"#1001"}'
    assert _sign(body) == "ybi5GMyq3UlgsyWLTJU1wvBRjL3uJyvuWTBki5k2cJY="
    assert connector.verify_webhook(body=body, headers={"X-WC-Webhook-Signature": _sign(body)})
    assert not connector.verify_webhook(body=body,
                                        headers={"X-WC-Webhook-Signature": _sign(body, "nope")})
    assert not connector.verify_webhook(body=body, headers={})
    assert connector.is_ping(body=b"webhook_id=12", headers={})
    assert not connector.is_ping(body=body, headers={})


@respx.mock
def test_push_shipment_adds_tracking_note_and_completes(connector):
    note = respx.post(f"{WOO_API}/orders/727/notes").mock(
        return_value=httpx.Response(201, json={"id": 1}))
    update = respx.put(f"{WOO_API}/orders/727").mock(
        return_value=httpx.Response(200, json={"id": 727, "status": "completed"}))

    result = connector.push_shipment(external_id="727", carrier="SF Express",
                                     tracking_number="SF1234567890")

    assert result.ok
    assert json.loads(note.calls.last.request.content) == {
        "note": "Shipped with SF Express, tracking number SF1234567890", "customer_note": True}
    assert json.loads(update.calls.last.request.content) == {"status": "completed"}
    assert update.calls.last.request.headers["Authorization"].startswith("Basic ")
