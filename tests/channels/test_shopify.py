import base64
import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
import respx

from channels.connectors import AuthError, ConnectorError, NormalizationError
from channels.connectors.base import (
    CANCELLED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    AmbiguousReply,
)
from channels.connectors.shopify import ShopifyConnector, next_link
from tests.channels.conftest import SHOP_API, load, shopify_cn_order


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


# --- fulfilment state, from the documented payloads --------------------------------------

def test_documented_failed_fulfillment_is_not_a_shipment(connector, shopify_order):
    # The documented fixture: fulfillment_status null, one fulfillment with status "failure".
    norm = connector.normalize(shopify_order)
    assert norm.fulfillment == NOT_SHIPPED
    assert norm.shipments == []
    assert [ln.shipped_quantity for ln in norm.lines] == [0, 0, 0]


def test_fulfilled_order_is_paid_and_shipped_with_its_tracking(connector):
    raw = load("shipped/shopify.json")[0]
    norm = connector.normalize(raw)
    assert (norm.status, norm.fulfillment) == (PAID, SHIPPED)
    [shipment] = norm.shipments
    assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z2345")
    assert shipment.shipped_at == dt.datetime(2014, 1, 22, 20, 58, 27, tzinfo=dt.UTC)
    assert shipment.lines == {"466157049": 1, "518995019": 1, "703073504": 1}
    assert [ln.shipped_quantity for ln in norm.lines] == [1, 1, 1]


def test_partial_order_ships_only_what_the_fulfillments_hold(connector, shopify_order):
    shopify_order["financial_status"] = "paid"
    shopify_order["fulfillment_status"] = "partial"
    shopify_order["line_items"][0]["quantity"] = 3
    shopify_order["fulfillments"] = [
        {"id": 1, "status": "success", "created_at": "2026-11-20T10:00:00+08:00",
         "tracking_company": "SF Express", "tracking_numbers": ["SF1001", "SF1002"],
         "line_items": [{"id": 466157049, "quantity": 2}]},
        {"id": 2, "status": "cancelled", "tracking_company": "ZTO Express",
         "tracking_number": "ZTO9", "line_items": [{"id": 518995019, "quantity": 1}]},
    ]
    norm = connector.normalize(shopify_order)
    assert norm.fulfillment == PARTIALLY_SHIPPED
    assert [(s.carrier, s.tracking_number, s.lines) for s in norm.shipments] == [
        ("SF Express", "SF1001", {"466157049": 2}), ("SF Express", "SF1002", {"466157049": 2})]
    assert [ln.shipped_quantity for ln in norm.lines] == [2, 0, 0]


def test_partial_without_fulfillments_uses_fulfillable_quantity(connector, shopify_order):
    shopify_order.update(financial_status="paid", fulfillment_status="partial", fulfillments=[])
    shopify_order["line_items"][0].update(quantity=3, fulfillable_quantity=1)
    shopify_order["line_items"][1].update(fulfillment_status="fulfilled", fulfillable_quantity=0)
    shopify_order["line_items"][2].update(fulfillable_quantity=1)
    norm = connector.normalize(shopify_order)
    assert norm.fulfillment == PARTIALLY_SHIPPED
    assert [ln.shipped_quantity for ln in norm.lines] == [2, 1, 0]


@pytest.mark.parametrize("status, expected", [
    (None, NOT_SHIPPED), ("restocked", NOT_SHIPPED), ("partial", PARTIALLY_SHIPPED),
    ("fulfilled", SHIPPED),
])
def test_fulfillment_status_mapping(connector, shopify_order, status, expected):
    shopify_order.update(financial_status="paid", fulfillment_status=status)
    assert connector.normalize(shopify_order).fulfillment == expected


def test_unknown_fulfillment_status_is_a_clear_error(connector, shopify_order):
    shopify_order["fulfillment_status"] = "beamed_up"
    with pytest.raises(NormalizationError, match="unknown fulfillment_status “beamed_up”"):
        connector.normalize(shopify_order)


def test_cancelled_fulfilled_order_stays_cancelled(connector):
    raw = {**load("shipped/shopify.json")[0], "cancelled_at": "2014-01-23T00:00:00Z"}
    norm = connector.normalize(raw)
    assert (norm.status, norm.fulfillment, norm.shipments) == (CANCELLED, NOT_SHIPPED, [])


def test_fulfilled_cash_on_delivery_order_is_never_left_awaiting_payment(connector):
    raw = {**load("shipped/shopify.json")[0], "financial_status": "pending"}
    norm = connector.normalize(raw)
    assert (norm.status, norm.fulfillment) == (PAID, SHIPPED)


# --- names, provinces, gifts -------------------------------------------------------------

def test_chinese_names_are_family_name_first(connector):
    raw = shopify_cn_order(customer={"first_name": "伟", "last_name": "王"},
                           shipping_address={**shopify_cn_order()["shipping_address"],
                                             "first_name": "芳", "last_name": "李",
                                             "name": "芳 李"})
    norm = connector.normalize(raw)
    assert (norm.buyer_name, norm.ship_name) == ("王伟", "李芳")


def test_western_names_stay_first_last(connector, shopify_order):
    norm = connector.normalize(shopify_order)
    assert (norm.buyer_name, norm.ship_name) == ("Bob Norman", "Bob Norman")


def test_province_code_only_when_the_name_is_missing(connector, shopify_order):
    shopify_order["shipping_address"]["province"] = None
    assert connector.normalize(shopify_order).ship_province == "KY"


def test_gifts_by_zero_price_and_keyword_are_bound_to_the_main_item(connector):
    raw = shopify_cn_order(line_items=[
        {"id": 1, "sku": "CUP-1", "name": "保温杯", "quantity": 2, "price": "59.00"},
        {"id": 2, "sku": "SLEEVE-1", "name": "杯套", "quantity": 1, "price": "0.00"},
        {"id": 3, "sku": "CARD-1", "name": "【赠品】贺卡", "quantity": 1, "price": "1.00"},
        {"id": 4, "sku": "TEA-1", "name": "龙井茶", "quantity": 1, "price": "128.00"},
    ])
    norm = connector.normalize(raw)
    assert [(ln.is_gift, ln.gift_for) for ln in norm.lines] == [
        (False, ""), (True, "1"), (True, "1"), (False, "")]


def test_channel_gift_keywords_count(connector, shopify_channel):
    shopify_channel.config["gift_keywords"] = "小样"
    connector = ShopifyConnector(shopify_channel)
    raw = shopify_cn_order(line_items=[
        {"id": 1, "sku": "A", "name": "面霜", "quantity": 1, "price": "99.00"},
        {"id": 2, "sku": "B", "name": "面霜 小样", "quantity": 1, "price": "5.00"},
    ])
    assert [ln.is_gift for ln in connector.normalize(raw).lines] == [False, True]


# --- polling that cannot lose an order ----------------------------------------------------

class KeysetShop:
    """A Shopify orders endpoint as documented: ``updated_at_min`` inclusive, sorted by
    ``updated_at`` (then id), ``page_info`` cursors that resume after the last row's
    sort key, and no other filters next to ``page_info``. ``between`` holds changes to
    make before the n-th request (the order is edited/created while we page)."""

    def __init__(self, orders, limit=2):
        self.orders = {o["id"]: o for o in orders}
        self.limit = limit
        self.calls = 0
        self.between = {}

    @staticmethod
    def now():
        return dt.datetime.now(dt.UTC).replace(microsecond=0)

    def edit(self, order_id, **change):
        self.orders[order_id] = {**self.orders[order_id], **change,
                                 "updated_at": self.now().isoformat()}

    def create(self, order_id):
        self.orders[order_id] = {"id": order_id, "updated_at": self.now().isoformat()}

    def __call__(self, request):
        hook = self.between.get(self.calls)
        self.calls += 1
        if hook:
            hook(self)
        params = request.url.params
        if "page_info" in params:
            assert set(params) <= {"page_info", "limit", "fields"}
            state = json.loads(base64.urlsafe_b64decode(params["page_info"]))
            since, after = state["since"], tuple(state["after"])
        else:
            assert params["order"] == "updated_at asc"
            since, after = params.get("updated_at_min"), None

        def key(o):
            return (dt.datetime.fromisoformat(o["updated_at"]).timestamp(), o["id"])

        rows = sorted(self.orders.values(), key=key)
        if since:
            rows = [o for o in rows if key(o)[0] >= dt.datetime.fromisoformat(since).timestamp()]
        if after:
            rows = [o for o in rows if key(o) > after]
        chunk, headers = rows[:self.limit], {}
        if len(rows) > self.limit:
            token = base64.urlsafe_b64encode(json.dumps(
                {"since": since, "after": key(chunk[-1])}).encode()).decode()
            headers["Link"] = f'<{SHOP_API}/orders.json?limit={self.limit}&page_info={token}>; ' \
                              'rel="next"'
        return httpx.Response(200, json={"orders": [dict(o) for o in chunk]}, headers=headers)


def poll(connector, since):
    """One poll as the pipeline runs it: the cursor moves only to the last watermark."""
    seen, cursor = [], since
    for page in connector.fetch_orders(since=since):
        seen += [(o["id"], o["updated_at"]) for o in page.orders]
        if page.watermark:
            cursor = page.watermark
    return seen, cursor


@respx.mock
def test_orders_edited_or_created_mid_scan_are_neither_lost_nor_duplicated(connector):
    # given six orders updated over the last hour, two per page
    start = KeysetShop.now() - dt.timedelta(hours=1)
    shop = KeysetShop([{"id": i, "updated_at": (start + dt.timedelta(minutes=i)).isoformat()}
                       for i in range(1, 7)])
    # while page 2 is being asked for: an order already read and one not yet read are
    # edited, and a new order comes in; before page 3 another read order is edited
    shop.between[1] = lambda s: (s.edit(1, note="new address"), s.edit(4), s.create(7))
    shop.between[2] = lambda s: s.edit(2)
    respx.get(f"{SHOP_API}/orders.json").mock(side_effect=shop)

    # when two polls run, the second from the first one's cursor
    first, cursor = poll(connector, start - dt.timedelta(minutes=5))
    # and between the polls one more edit and one more order
    shop.edit(3)
    shop.create(8)
    second, _ = poll(connector, cursor)

    # then every order's latest version was read, and no poll read one version twice
    latest = {(o["id"], o["updated_at"]) for o in shop.orders.values()}
    assert latest <= set(first) | set(second)
    assert len(first) == len(set(first)) and len(second) == len(set(second))
    assert cursor <= KeysetShop.now()


@respx.mock
def test_watermarks_follow_the_pages(connector):
    base_time = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    shop = KeysetShop([{"id": i, "updated_at": (base_time + dt.timedelta(minutes=i)).isoformat()}
                       for i in range(1, 4)])
    respx.get(f"{SHOP_API}/orders.json").mock(side_effect=shop)
    pages = list(connector.fetch_orders(since=base_time))
    # each page ends at its last order: everything updated before that has been read
    # (never our own clock, which may be ahead of Shopify's)
    assert [p.watermark for p in pages] == [base_time + dt.timedelta(minutes=2),
                                            base_time + dt.timedelta(minutes=3)]


# --- write-back ----------------------------------------------------------------------------

def test_carrier_names_are_the_ones_shopify_recognises(connector, shopify_channel):
    assert [connector.carrier_name(c) for c in ("SF", "ZTO", "YTO", "STO", "YUNDA", "JD", "EMS",
                                                "JTSD", "DHL", "FEDEX", "UPS", "USPS")] == [
        "SF Express", "ZTO Express", "YTO Express", "STO Express", "Yunda Express",
        "JD Logistics", "China Post", "J&T Express", "DHL Express", "FedEx", "UPS", "USPS"]
    shopify_channel.config["carrier_map"] = {"ZTO": "ZTO Express (Intl)"}
    assert ShopifyConnector(shopify_channel).carrier_name("ZTO") == "ZTO Express (Intl)"


def _open_fulfillment_order():
    fo = load("shopify_fulfillment_order_fixture.json")["fulfillment_order"]
    respx.get(f"{SHOP_API}/orders/450789469/fulfillment_orders.json").mock(
        return_value=httpx.Response(200, json={"fulfillment_orders": [fo]}))


@pytest.mark.parametrize("reply", [
    httpx.ReadTimeout("read timed out"),
    httpx.Response(201, text='{"fulfillment": {"id": 2558'),  # cut off mid-body
    httpx.Response(201, json={}),  # 2xx without the fulfillment it created
    httpx.Response(502, text="Bad Gateway"),
])
@respx.mock
def test_a_reply_that_does_not_say_is_ambiguous_and_not_resent(connector, sleeps, reply):
    _open_fulfillment_order()
    create = respx.post(f"{SHOP_API}/fulfillments.json").mock(side_effect=[reply])
    with pytest.raises(AmbiguousReply):
        connector.push_shipment(external_id="450789469", carrier="SF Express",
                                tracking_number="SF1234567890")
    assert create.call_count == 1  # a second POST could fulfil twice
    assert sleeps == []


@respx.mock
def test_a_refused_connection_is_retryable_not_ambiguous(connector):
    _open_fulfillment_order()
    respx.post(f"{SHOP_API}/fulfillments.json").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ConnectorError) as exc:
        connector.push_shipment(external_id="450789469", carrier="SF Express",
                                tracking_number="SF1234567890")
    assert not isinstance(exc.value, AmbiguousReply) and exc.value.retryable


@pytest.mark.parametrize("fulfillments, expected", [
    ([{"status": "success", "tracking_number": "SF1", "tracking_numbers": ["SF1"]}], True),
    ([{"status": "success", "tracking_number": "SF0", "tracking_numbers": ["SF0", "SF1"]}], True),
    ([{"status": "cancelled", "tracking_number": "SF1", "tracking_numbers": ["SF1"]}], False),
    ([{"status": "success", "tracking_number": "SF2", "tracking_numbers": ["SF2"]}], False),
    ([], False),
])
@respx.mock
def test_confirm_shipment_reads_the_order_back(connector, fulfillments, expected):
    route = respx.get(f"{SHOP_API}/orders/450789469.json").mock(return_value=httpx.Response(
        200, json={"order": {"id": 450789469, "fulfillments": fulfillments}}))
    assert connector.confirm_shipment(external_id="450789469", tracking_number="SF1") is expected
    assert route.calls.last.request.headers["X-Shopify-Access-Token"]


@respx.mock
def test_confirm_shipment_cannot_tell_for_a_missing_order(connector):
    respx.get(f"{SHOP_API}/orders/1.json").mock(return_value=httpx.Response(
        404, json={"errors": "Not Found"}))
    assert connector.confirm_shipment(external_id="1", tracking_number="SF1") is None


def test_the_shipped_fixture_imports_with_import_orders(shopify_channel, capsys):
    from django.core.management import call_command

    from tests.channels.conftest import FIXTURES

    call_command("import_orders", "shopify-demo", str(FIXTURES / "shipped" / "shopify.json"))
    assert "created=1 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out


def test_a_file_may_hold_one_order(connector, shopify_order):
    assert connector.orders_from_file(shopify_order) == [shopify_order]
    assert connector.orders_from_file({"order": shopify_order}) == [shopify_order]
    with pytest.raises(NormalizationError):
        connector.orders_from_file({"something": "else"})


@respx.mock
def test_two_real_polls_hold_exactly_what_the_shop_holds(mapped):
    """End to end through ``channel_poll``: edits and new orders between page fetches
    and between polls all end up in the hub, each order once, in its latest form."""
    from channels.services import channel_poll
    from orderhub.models import Order

    start = KeysetShop.now() - dt.timedelta(minutes=30)

    def order(i, when):
        raw = shopify_cn_order(i, updated_at=when.isoformat())
        raw["id"] = i
        raw["shipping_address"] = {**raw["shipping_address"], "city": f"City {i}"}
        return raw

    shop = KeysetShop([order(i, start + dt.timedelta(minutes=i)) for i in range(1, 7)])

    def edit(s, i, city):
        s.edit(i, shipping_address={**s.orders[i]["shipping_address"], "city": city})

    def create(s, i):
        s.orders[i] = order(i, KeysetShop.now())

    shop.between[1] = lambda s: (edit(s, 1, "Moved 1"), edit(s, 4, "Moved 4"), create(s, 7))
    respx.get(f"{SHOP_API}/orders.json").mock(side_effect=shop)
    connector = ShopifyConnector(mapped, sleep=lambda s: None)

    assert channel_poll(channel=mapped, connector=connector).status == "ok"
    edit(shop, 5, "Moved 5")
    create(shop, 8)
    assert channel_poll(channel=mapped, connector=connector).status == "ok"

    held = dict(Order.objects.filter(channel=mapped).values_list("external_id", "ship_city"))
    assert held == {str(i): o["shipping_address"]["city"] for i, o in shop.orders.items()}
