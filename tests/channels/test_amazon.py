"""Amazon SP-API connector against the Orders v0 / Tokens / LWA documentation.

Payloads under tests/fixtures/channels/amazon_* are the examples and sandbox
responses of amzn/selling-partner-api-models (ordersV0.json, tokens_2021-03-01.json).
"""

import copy
import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
import respx
from django.core.cache import cache

from channels.connectors import AuthError, ConnectorError, NormalizationError
from channels.connectors.amazon import RDT_PATH, AmazonConnector, TokenBucket
from channels.connectors.base import (
    CANCELLED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    UNPAID,
    AmbiguousReply,
    PermanentError,
)
from tests.channels.conftest import LWA, SPAPI, load

RDT = f"{SPAPI}{RDT_PATH}"
ORDERS = f"{SPAPI}/orders/v0/orders"
ITEMS = rf"{SPAPI}/orders/v0/orders/(?P<order_id>[^/]+)/orderItems"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
SINCE = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)  # one window (< 6 h) before NOW


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

    return AmazonConnector(amazon_channel, sleep=sleep, clock=clock, now=lambda: NOW)


def lwa_ok(token="Atza|access-1"):
    return httpx.Response(200, json={"access_token": token, "refresh_token": "Atzr|refresh",
                                     "token_type": "bearer", "expires_in": 3600})


def rdt_ok(token="Atz.sprdt|rdt-1", expires=3600):
    return httpx.Response(200, json={"restrictedDataToken": token, "expiresIn": expires})


def items_of(order_id, *items):
    return httpx.Response(200, json={"payload": {"AmazonOrderId": order_id,
                                                 "OrderItems": list(items)}})


def doc_order():
    return copy.deepcopy(load("amazon_getOrders_example.json")["payload"]["Orders"][0])


def doc_items():
    return copy.deepcopy(load("amazon_getOrderItems_example.json")["payload"]["OrderItems"])


def item(item_id="1", *, title="Mug", qty=1, amount="10.00", shipped=None):
    data = {"OrderItemId": item_id, "SellerSKU": f"SKU-{item_id}", "ASIN": f"B{item_id}",
            "Title": title, "QuantityOrdered": qty,
            "ItemPrice": {"CurrencyCode": "USD", "Amount": amount}}
    if shipped is not None:
        data["QuantityShipped"] = shipped
    return data


# --- LWA and the Restricted Data Token ------------------------------------------------------

@respx.mock
def test_pii_calls_use_a_cached_rdt_and_other_calls_the_lwa_token(connector, amazon_channel):
    lwa = respx.post(LWA).mock(return_value=lwa_ok())
    rdt = respx.post(RDT).mock(return_value=rdt_ok())
    orders = load("amazon_getOrders_example.json")
    del orders["payload"]["NextToken"]
    get_orders = respx.get(ORDERS).mock(return_value=httpx.Response(200, json=orders))
    items = respx.get(url__regex=ITEMS).mock(return_value=items_of("x", item()))

    list(connector.fetch_orders(since=SINCE))
    # The next poll (a new connector) reuses both cached tokens.
    again = AmazonConnector(amazon_channel, sleep=lambda s: None, now=lambda: NOW)
    assert again.restricted_token("getOrders") == "Atz.sprdt|rdt-1"
    assert again.access_token() == "Atza|access-1"

    assert lwa.call_count == 1 and rdt.call_count == 1
    form = dict(x.split("=", 1) for x in lwa.calls.last.request.content.decode().split("&"))
    assert form["grant_type"] == "refresh_token" and form["client_id"] == "amzn1.client"
    # createRestrictedDataToken is called with the LWA token, for getOrders' PII elements.
    assert rdt.calls.last.request.headers["x-amz-access-token"] == "Atza|access-1"
    assert json.loads(rdt.calls.last.request.content) == {"restrictedResources": [
        {"method": "GET", "path": "/orders/v0/orders",
         "dataElements": ["buyerInfo", "shippingAddress"]}]}
    assert get_orders.calls.last.request.headers["x-amz-access-token"] == "Atz.sprdt|rdt-1"
    assert items.calls.last.request.headers["x-amz-access-token"] == "Atza|access-1"
    params = get_orders.calls.last.request.url.params
    assert params["MarketplaceIds"] == "ATVPDKIKX0DER"
    assert params["LastUpdatedAfter"] == "2026-11-20T09:00:00Z"
    assert params["LastUpdatedBefore"] == "2026-11-20T11:58:00Z"  # two minutes before now


@respx.mock
def test_rdt_lives_as_long_as_its_expires_in(connector, amazon_channel):
    respx.post(LWA).mock(return_value=lwa_ok())
    rdt = respx.post(RDT).mock(side_effect=[rdt_ok("Atz.sprdt|a", expires=300),
                                            rdt_ok("Atz.sprdt|b")])
    assert connector.restricted_token("getOrders") == "Atz.sprdt|a"
    key = connector._rdt_cache_key("getOrders")
    assert cache.get(key) and "Atz.sprdt" not in cache.get(key)  # stored encrypted
    cache.delete(key)  # what the cache does when expiresIn is over
    fresh = AmazonConnector(amazon_channel, sleep=lambda s: None)
    assert fresh.restricted_token("getOrders") == "Atz.sprdt|b"
    assert rdt.call_count == 2


@respx.mock
def test_unshipped_order_without_address_gets_it_from_getorderaddress(connector):
    # The documented sandbox getOrders reply has no ShippingAddress for its MFN orders.
    respx.post(LWA).mock(return_value=lwa_ok())
    rdt = respx.post(RDT).mock(return_value=rdt_ok())
    page = load("amazon_getOrders_sandbox_unshipped.json")
    page["payload"]["Orders"] = page["payload"]["Orders"][:1]
    order_id = page["payload"]["Orders"][0]["AmazonOrderId"]
    respx.get(ORDERS).mock(return_value=httpx.Response(200, json=page))
    respx.get(url__regex=ITEMS).mock(return_value=items_of(order_id, item()))
    address = respx.get(f"{ORDERS}/{order_id}/address").mock(return_value=httpx.Response(
        200, json=load("amazon_getOrderAddress_example.json")))
    buyer = respx.get(f"{ORDERS}/{order_id}/buyerInfo").mock(return_value=httpx.Response(
        200, json=load("amazon_getOrderBuyerInfo_example.json")))

    pages = list(connector.fetch_orders(since=SINCE))
    norm = connector.normalize(pages[0].orders[0])

    assert (norm.ship_name, norm.ship_street, norm.ship_city, norm.ship_province,
            norm.ship_postcode, norm.ship_country) == (
        "Michigan address", "1 cross st", "Canton", "MI", "48817", "US")
    assert (norm.buyer_name, norm.buyer_email) == ("John Smith", "user@example.com")
    for route in (address, buyer):
        assert route.calls.last.request.headers["x-amz-access-token"] == "Atz.sprdt|rdt-1"
    assert json.loads(rdt.calls[-1].request.content)["restrictedResources"] == [
        {"method": "GET", "path": "/orders/v0/orders/{orderId}/address"},
        {"method": "GET", "path": "/orders/v0/orders/{orderId}/buyerInfo"}]


@respx.mock
def test_refused_rdt_lets_orders_in_without_pii_and_says_why(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=httpx.Response(403, json={"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied."}]}))
    orders = load("amazon_getOrders_example.json")
    del orders["payload"]["NextToken"]
    route = respx.get(ORDERS).mock(return_value=httpx.Response(200, json=orders))
    respx.get(url__regex=ITEMS).mock(return_value=items_of("x", item()))

    pages = list(connector.fetch_orders(since=SINCE))

    assert route.calls.last.request.headers["x-amz-access-token"] == "Atza|access-1"
    assert pages[0].orders[0]["AmazonOrderId"] == "902-3159896-1390916"


@respx.mock
def test_refused_refresh_token_is_an_auth_error(connector):
    respx.post(LWA).mock(return_value=httpx.Response(400, json={
        "error": "invalid_grant", "error_description": "The request has an invalid grant"}))
    with pytest.raises(AuthError, match="invalid_grant"):
        list(connector.fetch_orders(since=None))


@pytest.mark.parametrize("error", ["invalid_client", "unauthorized_client"])
@respx.mock
def test_refused_client_is_an_auth_error(connector, error):
    respx.post(LWA).mock(return_value=httpx.Response(401, json={"error": error}))
    with pytest.raises(AuthError):
        connector.access_token()


@respx.mock
def test_lwa_outage_is_retried_and_never_an_auth_error(connector, sleeps):
    lwa = respx.post(LWA).mock(side_effect=[
        httpx.Response(503), httpx.Response(500, json={"error": "server_error"}),
        httpx.ConnectTimeout("slow"), httpx.Response(429), httpx.Response(502)])
    with pytest.raises(ConnectorError) as exc:
        connector.access_token()
    assert not isinstance(exc.value, AuthError)
    assert exc.value.retryable
    assert lwa.call_count == connector.max_attempts
    assert len(sleeps) == connector.max_attempts - 1


@respx.mock
def test_lwa_blip_recovers(connector):
    respx.post(LWA).mock(side_effect=[httpx.Response(500), lwa_ok("Atza|later")])
    assert connector.access_token() == "Atza|later"


# --- reading orders ---------------------------------------------------------------------------

@respx.mock
def test_next_token_pagination_sends_only_token_and_marketplaces(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    page1 = load("amazon_getOrders_example.json")
    page2 = {"payload": {"Orders": [{**page1["payload"]["Orders"][0],
                                     "AmazonOrderId": "902-0000000-0000002"}],
                         "LastUpdatedBefore": "2026-11-20T11:57:00Z"}}
    route = respx.get(ORDERS).mock(side_effect=[
        httpx.Response(200, json=page1), httpx.Response(200, json=page2),
        # The check pass reads the window again and finds nothing new.
        httpx.Response(200, json=page1), httpx.Response(200, json=page2)])
    respx.get(url__regex=ITEMS).mock(return_value=items_of("x", item()))

    pages = list(connector.fetch_orders(since=SINCE))

    assert [o["AmazonOrderId"] for p in pages for o in p.orders] == [
        "902-3159896-1390916", "902-0000000-0000002"]
    assert dict(route.calls[1].request.url.params) == {
        "MarketplaceIds": "ATVPDKIKX0DER", "NextToken": "2YgYW55IGNhcm5hbCBwbGVhc3VyZS4"}
    # Only the end of a whole scan is a watermark: Amazon's "consistent up to" value.
    assert [p.watermark for p in pages] == [None, None, dt.datetime(
        2026, 11, 20, 11, 57, tzinfo=dt.UTC)]


def test_token_bucket_paces_after_the_burst(clock):
    bucket = TokenBucket(rate=0.0167, burst=2, clock=clock)
    assert bucket.wait_time() == 0
    assert bucket.wait_time() == 0
    wait = bucket.wait_time()
    assert 59 < wait < 61  # getOrders: about one call a minute after the burst


@respx.mock
def test_429_backs_off_and_retries_and_rate_header_is_learnt(connector, sleeps):
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    route = respx.get(ORDERS).mock(side_effect=[
        httpx.Response(429, json={"errors": [{"code": "QuotaExceeded", "message": "x"}]}),
        httpx.Response(200, json={"payload": {"Orders": []}},
                       headers={"x-amzn-RateLimit-Limit": "0.5"}),
    ])
    list(connector.fetch_orders(since=SINCE))
    assert route.call_count == 2
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0
    assert connector._bucket("getOrders").rate == 0.5


@respx.mock
def test_expired_rdt_is_renewed_once(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    rdt = respx.post(RDT).mock(side_effect=[rdt_ok("Atz.sprdt|old"), rdt_ok("Atz.sprdt|new")])
    route = respx.get(ORDERS).mock(side_effect=[
        httpx.Response(403, json={"errors": [{
            "code": "Unauthorized", "message": "The access token you provided has expired."}]}),
        httpx.Response(200, json={"payload": {"Orders": []}}),
    ])
    list(connector.fetch_orders(since=SINCE))
    assert rdt.call_count == 2
    assert route.calls[1].request.headers["x-amz-access-token"] == "Atz.sprdt|new"


@respx.mock
def test_item_fetches_stop_at_the_budget_and_resume_next_poll(amazon_channel, clock):
    # given 5 orders and a budget of one getOrders call + 3 item calls per poll
    amazon_channel.config = {**amazon_channel.config, "fetch_budget_requests": 4}
    amazon_channel.save()
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    orders = [{**doc_order(), "AmazonOrderId": f"902-0000000-000000{n}"} for n in range(5)]
    respx.get(ORDERS).mock(return_value=httpx.Response(200, json={"payload": {
        "Orders": orders}}))
    items = respx.get(url__regex=ITEMS).mock(side_effect=lambda request, order_id: items_of(
        order_id, item()))
    since = SINCE

    def poll():
        conn = AmazonConnector(amazon_channel, sleep=lambda s: None, clock=clock,
                               now=lambda: NOW)
        return list(conn.fetch_orders(since=since))

    # when
    first = poll()
    second = poll()

    # then: no watermark until every order has its items; nothing fetched twice
    assert [o["AmazonOrderId"][-1] for p in first for o in p.orders] == ["0", "1", "2"]
    assert all(p.watermark is None for p in first)
    assert [o["AmazonOrderId"][-1] for p in second for o in p.orders] == [
        "0", "1", "2", "3", "4"]
    assert second[-1].watermark == dt.datetime(2026, 11, 20, 11, 58, tzinfo=dt.UTC)
    assert items.call_count == 5
    assert all(o["OrderItems"] for p in second for o in p.orders)


@respx.mock
def test_item_pages_follow_next_token(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    route = respx.get(url__regex=ITEMS).mock(side_effect=[
        httpx.Response(200, json={"payload": {"OrderItems": [item("1")], "NextToken": "t2"}}),
        httpx.Response(200, json={"payload": {"OrderItems": [item("2")]}})])
    assert [i["OrderItemId"] for i in connector.order_items("902-1-1")] == ["1", "2"]
    assert route.calls[1].request.url.params["NextToken"] == "t2"


class AmazonServer:
    """Orders held like Amazon's getOrders: a LastUpdated window, offset pages of two.

    ``between_pages`` runs after each page is served (an edit or a new order
    arriving while the hub reads), so later pages shift like a live server's.
    """

    def __init__(self, now):
        self.now = now
        self.orders = {}
        self.between_pages = []

    def put(self, n, updated, status="Unshipped"):
        self.orders[n] = {**doc_order(), "AmazonOrderId": f"902-0000000-{n:07d}",
                          "OrderStatus": status, "LastUpdateDate": updated.strftime(
                              "%Y-%m-%dT%H:%M:%SZ")}

    def get_orders(self, request):
        params = request.url.params
        if "NextToken" in params:
            after, before, offset = json.loads(params["NextToken"])
        else:
            after, before, offset = params["LastUpdatedAfter"], params["LastUpdatedBefore"], 0
        window = sorted((o for o in self.orders.values()
                         if after <= o["LastUpdateDate"] <= before),
                        key=lambda o: (o["LastUpdateDate"], o["AmazonOrderId"]))
        payload = {"Orders": copy.deepcopy(window[offset:offset + 2])}
        if offset + 2 < len(window):
            payload["NextToken"] = json.dumps([after, before, offset + 2])
        if self.between_pages:
            self.between_pages.pop(0)()
        return httpx.Response(200, json={"payload": payload})


@respx.mock
def test_orders_edited_or_created_mid_scan_are_neither_lost_nor_duplicated(amazon_channel):
    # given five orders in the window and a server whose pages shift during the scan
    t0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    server = AmazonServer(t0)
    for n in range(5):
        server.put(n, t0 + dt.timedelta(minutes=n))
    clock_now = {"now": dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)}
    # After page 1: order 0 is edited (it leaves the window: page 2 would skip order 2)
    # and order 9 is created.
    server.between_pages = [lambda: (server.put(0, clock_now["now"] - dt.timedelta(minutes=1),
                                                status="Shipped"),
                                     server.put(9, clock_now["now"] - dt.timedelta(minutes=1)))]
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    respx.get(ORDERS).mock(side_effect=server.get_orders)
    respx.get(url__regex=ITEMS).mock(side_effect=lambda request, order_id: items_of(
        order_id, item()))

    def poll(since):
        conn = AmazonConnector(amazon_channel, sleep=lambda s: None,
                               now=lambda: clock_now["now"])
        pages = list(conn.fetch_orders(since=since))
        marks = [p.watermark for p in pages if p.watermark]
        return [o for p in pages for o in p.orders], (marks[-1] if marks else None)

    # when: two polls, the second from the first one's watermark (minus the overlap)
    first, cursor = poll(t0 - dt.timedelta(hours=1))
    clock_now["now"] += dt.timedelta(minutes=10)
    second, cursor2 = poll(cursor - dt.timedelta(minutes=1))

    # then: every order read, each once per poll, and the edit seen in its new state
    ids = [o["AmazonOrderId"][-1] for o in first]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == ["0", "1", "2", "3", "4"]
    assert cursor == dt.datetime(2026, 11, 20, 10, 58, tzinfo=dt.UTC)
    second_ids = [o["AmazonOrderId"][-1] for o in second]
    assert sorted(second_ids) == ["0", "9"]
    assert {o["AmazonOrderId"][-1]: o["OrderStatus"] for o in second}["0"] == "Shipped"
    assert cursor2 == dt.datetime(2026, 11, 20, 11, 8, tzinfo=dt.UTC)


# --- normalizing -------------------------------------------------------------------------------

def test_normalizes_the_vendor_examples(connector):
    order = doc_order()
    order["OrderItems"] = doc_items()
    norm = connector.normalize(order)
    assert norm.external_id == "902-3159896-1390916"
    assert (norm.status, norm.fulfillment) == (UNPAID, NOT_SHIPPED)  # Pending
    assert norm.buyer_name == "John Doe" and norm.buyer_email == "user@example.com"
    assert (norm.ship_name, norm.ship_street, norm.ship_city, norm.ship_province,
            norm.ship_postcode, norm.ship_country) == (
        "Michigan address", "1 Cross St.", "Canton", "MI", "48817", "US")
    assert [(ln.platform_sku, ln.listing_id, ln.quantity, ln.unit_price, ln.is_gift)
            for ln in norm.lines] == [
        ("CBA_OTF_1", "BT0093TELA", 1, Decimal("25.99"), False),
        ("CBA_OTF_5", "BCTU1104UEFB", 2, Decimal("8.98"), False),  # ItemPrice: line total
    ]
    assert norm.currency == "JPY"
    assert norm.platform_data["marketplace_id"] == "ATVPDKIKX0DER"
    assert norm.shipments == []  # Orders v0 gives no tracking number


def test_full_address_with_all_documented_fields(connector):
    order = {**doc_order(), "OrderStatus": "Unshipped", "OrderItems": [item()],
             "ShippingAddress": {"Name": "王伟", "AddressLine1": "世纪大道100号",
                                 "AddressLine2": "2号楼", "AddressLine3": "1201室",
                                 "City": "上海市", "County": "浦东新区",
                                 "StateOrRegion": "上海市", "PostalCode": "200120",
                                 "CountryCode": "CN", "Phone": "13800138000"}}
    norm = connector.normalize(order)
    assert (norm.ship_name, norm.ship_phone, norm.buyer_phone, norm.ship_street,
            norm.ship_district, norm.ship_country) == (
        "王伟", "13800138000", "13800138000", "世纪大道100号 2号楼 1201室", "浦东新区", "CN")


@pytest.mark.parametrize("status, expected", [
    ("PendingAvailability", (UNPAID, NOT_SHIPPED)),
    ("Pending", (UNPAID, NOT_SHIPPED)),
    ("Unshipped", (PAID, NOT_SHIPPED)),
    ("PartiallyShipped", (PAID, PARTIALLY_SHIPPED)),
    ("Shipped", (PAID, SHIPPED)),
    ("InvoiceUnconfirmed", (PAID, SHIPPED)),
    ("Canceled", (CANCELLED, NOT_SHIPPED)),
    ("Unfulfillable", (CANCELLED, NOT_SHIPPED)),
])
def test_documented_order_statuses(connector, status, expected):
    order = {**doc_order(), "OrderStatus": status, "FulfillmentChannel": "MFN",
             "OrderItems": [item("1", qty=2, shipped=1), item("2", qty=1, shipped=0)]}
    norm = connector.normalize(order)
    assert (norm.status, norm.fulfillment) == expected
    shipped = [ln.shipped_quantity for ln in norm.lines]
    if status == "PartiallyShipped":
        assert shipped == [1, 0]  # each item's QuantityShipped
    elif expected[1] == SHIPPED:
        assert shipped == [2, 1]
    if status == "Unfulfillable":
        assert "Unfulfillable" in norm.cancel_reason


def test_unknown_status_is_a_clear_error(connector):
    order = {**doc_order(), "OrderStatus": "Teleported", "OrderItems": [item()]}
    with pytest.raises(NormalizationError, match="unknown OrderStatus “Teleported”"):
        connector.normalize(order)


def test_bad_quantity_shipped_is_a_clear_error(connector):
    order = {**doc_order(), "OrderStatus": "PartiallyShipped",
             "OrderItems": [item(shipped="lots")]}
    with pytest.raises(NormalizationError, match="QuantityShipped"):
        connector.normalize(order)


def test_fba_orders_are_fulfilled_by_amazon_never_by_the_seller(connector):
    # The documented getOrder sandbox reply: Shipped, AFN, Amazon.de.
    order = load("amazon_getOrder_sandbox_shipped_afn.json")["payload"]
    norm = connector.normalize({**order, "OrderItems": [item("1", qty=1)]})
    assert (norm.status, norm.fulfillment) == (PAID, SHIPPED)
    assert norm.platform_data == {"marketplace_id": "A1PA6795UKMFR9",
                                  "fulfillment_channel": "AFN"}
    unshipped = connector.normalize({**order, "OrderStatus": "Unshipped",
                                     "OrderItems": [item("1", qty=1)]})
    assert unshipped.fulfillment == SHIPPED  # Amazon's warehouse ships it


def test_shipped_fixture_for_the_cross_platform_test(connector):
    orders = connector.orders_from_file(load("shipped/amazon.json"))
    norm = connector.normalize(orders[0])
    assert (norm.status, norm.fulfillment) == (PAID, SHIPPED)
    assert all(ln.shipped_quantity == ln.quantity for ln in norm.lines)


def test_gifts_by_zero_price_and_keyword_are_bound_to_the_main_item(connector):
    order = {**doc_order(), "OrderStatus": "Unshipped", "OrderItems": [
        item("g1", title="杯套", amount="0.00"),
        item("main", title="保温杯 500ml", amount="59.00"),
        item("g2", title="【赠品】茶包", amount="1.00"),
        item("other", title="钢笔", amount="88.00"),
    ]}
    norm = connector.normalize(order)
    assert [(ln.external_line_id, ln.is_gift, ln.gift_for) for ln in norm.lines] == [
        ("g1", True, "main"), ("main", False, ""), ("g2", True, "main"),
        ("other", False, "")]


def test_pending_orders_without_prices_have_no_gifts(connector):
    # "While an order is Pending, pricing ... fields are not returned."
    unpriced = item("1")
    del unpriced["ItemPrice"]
    norm = connector.normalize({**doc_order(), "OrderItems": [unpriced]})
    assert norm.lines[0].is_gift is False


def test_files_single_order_and_get_order_response(connector):
    order = doc_order()
    assert connector.orders_from_file(order) == [order]
    assert connector.orders_from_file({"payload": order}) == [order]
    with pytest.raises(NormalizationError):
        connector.orders_from_file({"something": "else"})


def test_attach_items_matches_by_order_id_and_joins_pages(connector):
    orders = [doc_order(), {**doc_order(), "AmazonOrderId": "902-0000000-0000002"}]
    items_files = [
        [{"payload": {"AmazonOrderId": "902-3159896-1390916", "OrderItems": [item("1")]}},
         {"payload": {"AmazonOrderId": "902-3159896-1390916",
                      "OrderItems": [item("2"), item("1")]}}],
        {"payload": {"AmazonOrderId": "902-0000000-0000002", "OrderItems": [item("3")]}},
    ]
    joined = list(connector.attach_items(orders, items_files))
    assert [[i["OrderItemId"] for i in o["OrderItems"]] for o in joined] == [["1", "2"], ["3"]]
    with pytest.raises(NormalizationError, match="getOrderItems"):
        connector.attach_items(orders, [{"orders": []}])  # at once, before any order


# --- write-back --------------------------------------------------------------------------------

@respx.mock
def test_confirm_shipment_uses_the_orders_own_marketplace(amazon_channel, connector):
    amazon_channel.config = {"marketplace_ids": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]}
    amazon_channel.save()
    connector = AmazonConnector(amazon_channel, sleep=lambda s: None)
    respx.post(LWA).mock(return_value=lwa_ok())
    route = respx.post(f"{ORDERS}/902-3159896-1390916/shipmentConfirmation").mock(
        return_value=httpx.Response(204))

    result = connector.push_shipment(
        external_id="902-3159896-1390916", carrier=connector.carrier_name("SF"),
        tracking_number="SF1234567890",
        lines=[{"external_line_id": "68828574383266", "quantity": 1}],
        platform_data={"marketplace_id": "A2EUQ1WTGCTBG2"})

    assert result.ok and result.status_code == 204
    body = json.loads(route.calls.last.request.content)
    assert body["marketplaceId"] == "A2EUQ1WTGCTBG2"
    package = body["packageDetail"]
    assert (package["carrierCode"], package["carrierName"]) == ("SF Express", "SF Express")
    assert package["trackingNumber"] == "SF1234567890"
    assert package["orderItems"] == [{"orderItemId": "68828574383266", "quantity": 1}]
    assert package["shipDate"].endswith("Z") and package["packageReferenceId"] == "1"
    assert route.calls.last.request.headers["x-amz-access-token"] == "Atza|access-1"
    # Without the order's marketplace, a multi-marketplace channel must not guess.
    with pytest.raises(PermanentError, match="marketplace"):
        connector.push_shipment(external_id="902-3159896-1390916", carrier="UPS",
                                tracking_number="1Z", lines=[{"external_line_id": "1",
                                                              "quantity": 1}])


@respx.mock
def test_carrier_outside_amazons_codes_goes_as_other_with_its_name(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    route = respx.post(url__regex=rf"{ORDERS}/.+/shipmentConfirmation").mock(
        return_value=httpx.Response(204))
    assert connector.carrier_name("ZTO") == "ZTO Express"
    assert connector.carrier_name("FEDEX") == "FedEx"
    connector.push_shipment(external_id="902-1-1", carrier=connector.carrier_name("ZTO"),
                            tracking_number="ZT1", lines=[{"external_line_id": "1",
                                                           "quantity": 1}],
                            platform_data={"marketplace_id": "ATVPDKIKX0DER"})
    package = json.loads(route.calls.last.request.content)["packageDetail"]
    assert (package["carrierCode"], package["carrierName"]) == ("Other", "ZTO Express")
    # A channel can declare more of Amazon's codes (and map hub carriers to them).
    connector.config["carrier_codes"] = ["Yun Express"]
    connector.config["carrier_map"] = {"ZTO": "Yun Express"}
    connector.push_shipment(external_id="902-1-1", carrier=connector.carrier_name("ZTO"),
                            tracking_number="YT1", lines=[{"external_line_id": "1",
                                                           "quantity": 1}],
                            platform_data={"marketplace_id": "ATVPDKIKX0DER"})
    package = json.loads(route.calls.last.request.content)["packageDetail"]
    assert package["carrierCode"] == "Yun Express"


@pytest.mark.parametrize("reply", [
    httpx.ReadTimeout("no answer"),
    httpx.Response(200, content=b'{"payload": {"stat'),
    httpx.Response(500, json={"errors": [{"code": "InternalFailure", "message": "x"}]}),
])
@respx.mock
def test_unclear_write_reply_is_ambiguous(connector, reply):
    respx.post(LWA).mock(return_value=lwa_ok())
    route = respx.post(url__regex=rf"{ORDERS}/.+/shipmentConfirmation")
    if isinstance(reply, Exception):
        route.mock(side_effect=reply)
    else:
        route.mock(return_value=reply)
    with pytest.raises(AmbiguousReply):
        connector.push_shipment(external_id="902-1-1", carrier="UPS", tracking_number="1Z",
                                lines=[{"external_line_id": "1", "quantity": 1}],
                                platform_data={"marketplace_id": "ATVPDKIKX0DER"})
    assert route.call_count == 1  # never sent twice blindly


@respx.mock
def test_refused_write_is_permanent(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(url__regex=rf"{ORDERS}/.+/shipmentConfirmation").mock(
        return_value=httpx.Response(400, json={"errors": [{
            "code": "InvalidInput", "message": "Invalid Input"}]}))
    with pytest.raises(PermanentError, match="InvalidInput"):
        connector.push_shipment(external_id="902-1-1", carrier="UPS", tracking_number="1Z",
                                lines=[{"external_line_id": "1", "quantity": 1}],
                                platform_data={"marketplace_id": "ATVPDKIKX0DER"})


@pytest.mark.parametrize("status, expected", [
    ("Shipped", True), ("InvoiceUnconfirmed", True), ("Unshipped", False),
    ("Canceled", False), ("PartiallyShipped", None)])
@respx.mock
def test_confirm_shipment_reads_the_order_back(connector, status, expected):
    respx.post(LWA).mock(return_value=lwa_ok())
    order = load("amazon_getOrder_sandbox_shipped_afn.json")
    order["payload"]["OrderStatus"] = status
    respx.get(f"{ORDERS}/921-3175655-0452641").mock(return_value=httpx.Response(
        200, json=order))
    assert connector.confirm_shipment(external_id="921-3175655-0452641",
                                      tracking_number="1Z") is expected


@respx.mock
def test_confirm_shipment_cannot_tell_when_amazon_is_down(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.get(f"{ORDERS}/921-3175655-0452641").mock(return_value=httpx.Response(503))
    assert connector.confirm_shipment(external_id="921-3175655-0452641",
                                      tracking_number="1Z") is None


@respx.mock
def test_backlog_is_read_window_by_window_and_the_cursor_follows(amazon_channel):
    # given 30 orders over the last 60 hours and a budget of 12 requests per poll
    amazon_channel.config = {**amazon_channel.config, "fetch_budget_requests": 12}
    amazon_channel.save()
    server = AmazonServer(NOW)
    for n in range(30):
        server.put(n, NOW - dt.timedelta(hours=60) + dt.timedelta(hours=2 * n))
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    listing = respx.get(ORDERS).mock(side_effect=server.get_orders)
    items = respx.get(url__regex=ITEMS).mock(side_effect=lambda request, order_id: items_of(
        order_id, item()))
    cursor, polls, read = NOW - dt.timedelta(days=3), 0, {}

    # when: polls run from the last watermark until the cursor is current
    while cursor < NOW - dt.timedelta(minutes=2) and polls < 20:
        polls += 1
        conn = AmazonConnector(amazon_channel, sleep=lambda s: None, now=lambda: NOW)
        for page in conn.fetch_orders(since=cursor):
            for order in page.orders:
                read[order["AmazonOrderId"]] = order["LastUpdateDate"]
            if page.watermark:
                assert page.watermark > cursor  # the cursor only moves forwards...
                # ...and only past orders already read
                assert all(o["AmazonOrderId"] in read for o in server.orders.values()
                           if o["LastUpdateDate"] < iso(page.watermark))
                cursor = page.watermark

    # then: several budgeted polls, each order's items fetched once, nothing lost
    assert polls > 1
    assert cursor == NOW - dt.timedelta(minutes=2)
    assert len(read) == 30
    assert items.call_count == 30
    windows = [(c.request.url.params.get("LastUpdatedAfter"),
                c.request.url.params.get("LastUpdatedBefore")) for c in listing.calls
               if "NextToken" not in c.request.url.params]
    assert windows[0] == ("2026-11-17T12:00:00Z", "2026-11-17T18:00:00Z")


@respx.mock
def test_amazons_earlier_consistent_point_is_the_watermark(connector):
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    route = respx.get(ORDERS).mock(return_value=httpx.Response(200, json={"payload": {
        "Orders": [], "LastUpdatedBefore": "2026-11-20T10:30:00Z"}}))
    pages = list(connector.fetch_orders(since=NOW - dt.timedelta(hours=4)))
    # The window was 08:00-11:58 but Amazon vouched only up to 10:30: the cursor stops
    # there and the next poll reads on from it.
    assert [p.watermark for p in pages] == [dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)]
    assert route.call_count == 1


def iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@respx.mock
def test_cursor_with_microseconds_still_reaches_the_end(connector):
    # Amazon echoes whole seconds; a cursor with microseconds must not stall on that.
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    respx.get(ORDERS).mock(side_effect=lambda request: httpx.Response(200, json={"payload": {
        "Orders": [], "LastUpdatedBefore": request.url.params["LastUpdatedBefore"]}}))
    since = NOW - dt.timedelta(hours=20, microseconds=-123456)
    marks = [p.watermark for p in connector.fetch_orders(since=since) if p.watermark]
    # Windows of 6 h, then 12 h (the first had one page), then what is left.
    assert marks == [dt.datetime(2026, 11, 19, 22, 0, tzinfo=dt.UTC),
                     dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
                     NOW - dt.timedelta(minutes=2)]


@respx.mock
def test_refused_buyer_data_does_not_stop_the_channel(connector):
    # given an Unshipped order without address and an app without the PII role
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=httpx.Response(403, json={"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied."}]}))
    page = load("amazon_getOrders_sandbox_unshipped.json")
    respx.get(ORDERS).mock(return_value=httpx.Response(200, json=page))
    respx.get(url__regex=ITEMS).mock(return_value=items_of("x", item()))
    address = respx.get(url__regex=rf"{ORDERS}/.+/address")

    # when
    pages = list(connector.fetch_orders(since=SINCE))

    # then: the orders come in without PII, saying why, and no PII call was tried
    orders = [o for p in pages for o in p.orders]
    assert len(orders) == 2 and address.call_count == 0
    norm = connector.normalize(orders[0])
    assert norm.ship_street == "" and "Restricted Data Token" in norm.extra["pii_problem"]


@respx.mock
def test_revoked_access_token_is_renewed_once(connector):
    lwa = respx.post(LWA).mock(side_effect=[lwa_ok("Atza|old"), lwa_ok("Atza|new")])
    route = respx.get(url__regex=ITEMS).mock(side_effect=[
        httpx.Response(403, json={"errors": [{
            "code": "Unauthorized", "message": "The access token you provided has expired."}]}),
        items_of("902-1-1", item())])
    assert len(connector.order_items("902-1-1")) == 1
    assert lwa.call_count == 2
    assert route.calls[1].request.headers["x-amz-access-token"] == "Atza|new"


@respx.mock
def test_budget_is_checked_between_listing_pages(amazon_channel):
    # given a window of many pages whose items are all cached already
    amazon_channel.config = {**amazon_channel.config, "fetch_budget_requests": 2}
    amazon_channel.save()
    server = AmazonServer(NOW)
    for n in range(6):
        server.put(n, SINCE + dt.timedelta(minutes=n))
        cache.set(f"channels:amazon-items:{amazon_channel.pk}:902-0000000-{n:07d}:"
                  f"{server.orders[n]['LastUpdateDate']}", [item()])
    respx.post(LWA).mock(return_value=lwa_ok())
    respx.post(RDT).mock(return_value=rdt_ok())
    listing = respx.get(ORDERS).mock(side_effect=server.get_orders)
    conn = AmazonConnector(amazon_channel, sleep=lambda s: None, now=lambda: NOW)

    pages = list(conn.fetch_orders(since=SINCE))

    # then: two listing calls, the orders they held, and no watermark
    assert listing.call_count == 2
    assert [o["AmazonOrderId"][-1] for p in pages for o in p.orders] == ["0", "1", "2", "3"]
    assert all(p.watermark is None for p in pages)
