import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
import respx

from channels.connectors import AuthError, ConnectorError, NormalizationError
from channels.connectors.base import PAID
from channels.connectors.shopify import ShopifyConnector, next_link
from tests.channels.conftest import SHOP_API, load


@pytest.fixture
def connector(shopify_channel, sleeps):
    return ShopifyConnector(shopify_channel, sleep=sleeps)


@respx.mock
def test_fetch_sends_token_and_follows_link_pagination_to_the_end(connector):
    # given two pages linked by a page_info cursor
    next_url = f"{SHOP_API}/orders.json?limit=250&page_info=abc123"
    first = respx.get(f"{SHOP_API}/orders.json", params={"status": "any"}).mock(
        return_value=httpx.Response(200, json={"orders": [{"id": 1}, {"id": 2}]}, headers={
            "Link": f'<{next_url}>; rel="next"', "X-Shopify-Shop-Api-Call-Limit": "1/40"}))
    second = respx.get(f"{SHOP_API}/orders.json", params={"page_info": "abc123"}).mock(
        return_value=httpx.Response(200, json={"orders": [{"id": 3}]}, headers={
            "Link": f'<{SHOP_API}/orders.json?limit=250&page_info=prev>; rel="previous"'}))

    # when
    since = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    pages = list(connector.fetch_orders(since=since))

    # then
    assert [[o["id"] for o in p.orders] for p in pages] == [[1, 2], [3]]
    req1, req2 = first.calls.last.request, second.calls.last.request
    assert req1.headers["X-Shopify-Access-Token"] == "shpat_test_token_123456"
    assert req1.url.params["updated_at_min"] == "2026-11-20T08:00:00+00:00"
    assert req1.url.params["status"] == "any"
    # Shopify refuses other filters next to page_info.
    assert dict(req2.url.params) == {"limit": "250", "page_info": "abc123"}
    assert req2.headers["X-Shopify-Access-Token"] == "shpat_test_token_123456"


@respx.mock
def test_429_waits_retry_after_then_succeeds(connector, sleeps):
    route = respx.get(f"{SHOP_API}/orders.json").mock(side_effect=[
        httpx.Response(429, json={"errors": "Exceeded 2 calls per second"},
                       headers={"Retry-After": "2.0"}),
        httpx.Response(200, json={"orders": [{"id": 7}]}),
    ])
    pages = list(connector.fetch_orders(since=None))
    assert route.call_count == 2
    assert sleeps == [2.0]
    assert pages[0].orders == [{"id": 7}]


@respx.mock
def test_nearly_full_leaky_bucket_slows_down(connector, sleeps):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=httpx.Response(
        200, json={"orders": []}, headers={"X-Shopify-Shop-Api-Call-Limit": "39/40"}))
    list(connector.fetch_orders(since=None))
    assert sleeps == [1.0]


@respx.mock
def test_persistent_5xx_gives_up_with_a_retryable_error(connector, sleeps):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=httpx.Response(503, text="busy"))
    with pytest.raises(ConnectorError) as exc:
        list(connector.fetch_orders(since=None))
    assert exc.value.retryable
    assert len(sleeps) == connector.max_attempts - 1
    # Exponential: each wait at least as long as half the previous nominal step.
    assert sleeps[-1] > sleeps[0]


@respx.mock
def test_bad_token_is_an_auth_error(connector):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=httpx.Response(
        401, json={"errors": "[API] Invalid API key or access token"}))
    with pytest.raises(AuthError):
        list(connector.fetch_orders(since=None))


def test_next_link_parsing():
    header = ('<https://x/orders.json?page_info=p1>; rel="previous", '
              '<https://x/orders.json?page_info=n1>; rel="next"')
    assert next_link(header) == "https://x/orders.json?page_info=n1"
    assert next_link('<https://x/orders.json?page_info=p1>; rel="previous"') is None
    assert next_link(None) is None


def test_normalizes_the_vendor_fixture(connector):
    order = load("shopify_order_fixture.json")
    norm = connector.normalize(order["order"])
    assert norm.external_id == "450789469"
    assert norm.status == PAID  # "authorized" can ship
    assert norm.currency == "USD"
    assert norm.total == Decimal("409.94")
    assert norm.discount == Decimal("0.00")
    assert norm.shipping_fee == Decimal("0.00")
    assert norm.placed_at == dt.datetime(2008, 1, 10, 16, 0, tzinfo=dt.UTC)
    assert norm.buyer_name == "Bob Norman"
    assert norm.buyer_email == "bob.norman@hostmail.com"
    assert (norm.ship_country, norm.ship_province, norm.ship_city, norm.ship_street,
            norm.ship_postcode) == ("US", "Kentucky", "Louisville", "Chestnut Street 92", "40202")
    assert [(ln.platform_sku, ln.quantity, ln.unit_price, ln.external_line_id)
            for ln in norm.lines] == [
        ("IPOD2008GREEN", 1, Decimal("199.00"), "466157049"),
        ("IPOD2008RED", 1, Decimal("199.00"), "518995019"),
        ("IPOD2008BLACK", 1, Decimal("199.00"), "703073504"),
    ]
    # The {"order": …} envelope of a single-order response is accepted too.
    assert connector.normalize(order).external_id == "450789469"


@pytest.mark.parametrize("change, message", [
    ({"line_items": []}, "no line_items"),
    ({"id": None}, "no “id”"),
    ({"financial_status": "weird"}, "unknown financial_status"),
    ({"total_price": {"amount": 1}}, "total_price is not an amount"),
    ({"created_at": "yesterday"}, "created_at is not a date"),
])
def test_bad_payloads_raise_a_readable_error(connector, shopify_order, change, message):
    shopify_order.update(change)
    with pytest.raises(NormalizationError, match=message):
        connector.normalize(shopify_order)


def test_cancelled_and_refunded_map_to_cancelled(connector, shopify_order):
    assert connector.normalize({**shopify_order, "financial_status": "refunded"}).status \
        == "cancelled"
    assert connector.normalize({**shopify_order, "cancelled_at": "2008-01-11T00:00:00Z"}).status \
        == "cancelled"
    assert connector.normalize({**shopify_order, "financial_status": "pending"}).status \
        == "unpaid"


def test_webhook_signature_good_bad_missing(connector):
    body = b'{"id":1,"name":"#1001"}'
    # The reference vector from PROTOCOLS.md (secret "hush").
    good = {"X-Shopify-Hmac-Sha256": "ybi5GMyq3UlgsyWLTJU1wvBRjL3uJyvuWTBki5k2cJY="}
    assert connector.verify_webhook(body=body, headers=good)
    assert not connector.verify_webhook(body=body + b" ", headers=good)
    assert not connector.verify_webhook(body=body, headers={"X-Shopify-Hmac-Sha256": "AAAA"})
    assert not connector.verify_webhook(body=body, headers={})


@respx.mock
def test_push_shipment_uses_fulfillment_orders_with_tracking(connector):
    fo = load("shopify_fulfillment_order_fixture.json")["fulfillment_order"]
    closed = {**fo, "id": 99, "status": "closed"}
    respx.get(f"{SHOP_API}/orders/450789469/fulfillment_orders.json").mock(
        return_value=httpx.Response(200, json={"fulfillment_orders": [fo, closed]}))
    create = respx.post(f"{SHOP_API}/fulfillments.json").mock(
        return_value=httpx.Response(201, json={"fulfillment": {"id": 255858046}}))

    result = connector.push_shipment(external_id="450789469", carrier="SF Express",
                                     tracking_number="SF1234567890",
                                     tracking_url="https://sf.example/SF1234567890")

    assert result.ok
    body = json.loads(create.calls.last.request.content)
    assert body == {"fulfillment": {
        "notify_customer": True,
        "tracking_info": {"number": "SF1234567890", "company": "SF Express",
                          "url": "https://sf.example/SF1234567890"},
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": 2558888935587}],
    }}
    assert create.calls.last.request.headers["X-Shopify-Access-Token"] == "shpat_test_token_123456"
