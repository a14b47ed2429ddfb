import base64
import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import httpx
import pytest
import respx

from channels.connectors import AuthError, ConnectorError, NormalizationError, PermanentError
from channels.connectors.base import NOT_SHIPPED, PAID, SHIPPED, AmbiguousReply
from channels.connectors.woo_states import state_name
from channels.connectors.woocommerce import WooCommerceConnector
from tests.channels.conftest import WOO, WOO_API, load


@pytest.fixture
def connector(woo_channel, sleeps):
    return WooCommerceConnector(woo_channel, sleep=sleeps)


@respx.mock
def test_fetch_uses_basic_auth_and_documented_modified_filters(connector):
    route = respx.get(f"{WOO_API}/orders").mock(return_value=httpx.Response(
        200, json=[{"id": 1, "date_modified_gmt": "2026-11-20T08:00:05"}],
        headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"}))
    since = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    pages = list(connector.fetch_orders(since=since))

    assert [[o["id"] for o in p.orders] for p in pages] == [[1]]
    request = route.calls[0].request
    expected = "Basic " + base64.b64encode(b"ck_test:cs_test").decode()
    assert request.headers["Authorization"] == expected
    params = request.url.params
    # modified_after is exclusive: one second back so orders modified at ``since`` count
    assert params["modified_after"] == "2026-11-20T07:59:59"
    assert params["dates_are_gmt"] == "true"
    assert params["orderby"] == "modified" and params["order"] == "asc"
    assert params["per_page"] == "100" and params["page"] == "1"


@respx.mock
def test_rate_limited_proxy_is_retried(connector, sleeps):
    respx.get(f"{WOO_API}/orders").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, json=[], headers={"X-WP-TotalPages": "0"}),
    ])
    pages = list(connector.fetch_orders(since=None))
    assert [p.orders for p in pages] == [[]] and pages[0].watermark is None
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
    # "CA" is a code of WooCommerce's US state table: carriers get the name.
    assert (norm.ship_city, norm.ship_province, norm.ship_street, norm.ship_postcode) == (
        "San Francisco", "California", "969 Market", "94103")
    first, second = norm.lines
    assert (first.platform_sku, first.listing_id, first.quantity, first.unit_price) == (
        "", "93", 2, Decimal("3.00"))
    assert (second.platform_sku, second.listing_id, second.unit_price) == (
        "Bar3", "23", Decimal("12.00"))
    assert second.name == "Ship Your Idea – Color: Black, Size: M Test"


@pytest.mark.parametrize("status, expected, fulfillment", [
    ("pending", "unpaid", NOT_SHIPPED), ("failed", "unpaid", NOT_SHIPPED),
    ("checkout-draft", "unpaid", NOT_SHIPPED), ("processing", "paid", NOT_SHIPPED),
    ("completed", "paid", SHIPPED), ("cancelled", "cancelled", NOT_SHIPPED),
    ("refunded", "cancelled", NOT_SHIPPED),
])
def test_status_mapping(connector, woo_order, status, expected, fulfillment):
    norm = connector.normalize({**woo_order, "status": status})
    assert (norm.status, norm.fulfillment) == (expected, fulfillment)


def test_on_hold_awaits_payment_unless_woocommerce_recorded_one(connector, woo_order):
    # WooCommerce: "On hold – awaiting payment" (bank transfer, cheque).
    unpaid = {**woo_order, "status": "on-hold", "date_paid": None, "date_paid_gmt": None}
    assert connector.normalize(unpaid).status == "unpaid"
    # The documented example has date_paid set: a paid order someone put on hold.
    assert connector.normalize({**woo_order, "status": "on-hold"}).status == "paid"


def test_unknown_status_is_a_clear_error(connector, woo_order):
    with pytest.raises(NormalizationError, match="unknown status “wc-awaiting-pickup”"):
        connector.normalize({**woo_order, "status": "wc-awaiting-pickup"})


def test_completed_order_is_shipped_with_the_shipment_tracking_item(connector):
    norm = connector.normalize(load("shipped/woocommerce.json")[0])
    assert (norm.status, norm.fulfillment) == (PAID, SHIPPED)
    [shipment] = norm.shipments
    assert (shipment.carrier, shipment.tracking_number) == ("USPS", "9400111899560000000000")
    assert shipment.shipped_at == dt.datetime(2017, 3, 23, tzinfo=dt.UTC)
    assert [ln.shipped_quantity for ln in norm.lines] == [2, 1]


def test_completed_without_shipment_tracking_is_shipped_without_a_parcel(connector, woo_order):
    norm = connector.normalize({**woo_order, "status": "completed"})
    assert (norm.fulfillment, norm.shipments) == (SHIPPED, [])


def test_custom_tracking_provider_and_keyed_meta(connector, woo_order):
    woo_order["status"] = "completed"
    woo_order["meta_data"].append({"id": 1, "key": "_wc_shipment_tracking_items", "value": {
        "0": {"tracking_provider": "", "custom_tracking_provider": "SF Express",
              "tracking_number": "SF1234567890", "date_shipped": "2026-11-20"}}})
    [shipment] = connector.normalize(woo_order).shipments
    assert (shipment.carrier, shipment.tracking_number) == ("SF Express", "SF1234567890")
    assert shipment.shipped_at == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def test_broken_tracking_meta_is_a_clear_error(connector, woo_order):
    woo_order["status"] = "completed"
    woo_order["meta_data"].append({"key": "_wc_shipment_tracking_items", "value": "SF123"})
    with pytest.raises(NormalizationError, match="_wc_shipment_tracking_items is not a list"):
        connector.normalize(woo_order)


# --- names, states, gifts -----------------------------------------------------------------

def test_chinese_names_family_first_and_province_names(connector, woo_order):
    cn = {"first_name": "伟", "last_name": "王", "address_1": "世纪大道100号", "address_2": "",
          "city": "浦东新区", "state": "CN10", "postcode": "200120", "country": "CN"}
    woo_order["billing"] = {**cn, "first_name": "芳", "last_name": "李", "state": "CN2",
                            "email": "li@example.com", "phone": "13800138000"}
    woo_order["shipping"] = cn
    norm = connector.normalize(woo_order)
    assert (norm.buyer_name, norm.ship_name) == ("李芳", "王伟")
    assert (norm.ship_country, norm.ship_province) == ("CN", "上海市")
    woo_order["shipping"] = {**cn, "state": "CN2"}
    assert connector.normalize(woo_order).ship_province == "北京市"


@pytest.mark.parametrize("country, state, expected", [
    ("CN", "CN10", "上海市"), ("CN", "CN2", "北京市"), ("CN", "CN20", "广东省"),
    ("US", "CA", "California"), ("CA", "QC", "Quebec"),
    # GB has no state list in WooCommerce: the county is free text, kept as typed
    ("GB", "Greater London", "Greater London"),
    ("US", "ZZ", "ZZ"),  # an unknown code is still the buyer's words
])
def test_state_codes_become_names(connector, woo_order, country, state, expected):
    woo_order["shipping"].update(country=country, state=state)
    assert connector.normalize(woo_order).ship_province == expected
    assert state_name(country, state) == expected


def test_documented_example_state_is_a_name(connector, woo_order):
    assert connector.normalize(woo_order).ship_province == "California"


def test_gifts_by_zero_subtotal_or_keyword_bound_to_the_main_item(connector, woo_order):
    main, second = woo_order["line_items"]
    free = {**second, "id": 400, "name": "Sample", "subtotal": "0.00", "total": "0.00",
            "price": 0}
    card = {**second, "id": 401, "name": "Free gift: card sleeve", "subtotal": "1.00",
            "total": "1.00", "price": 1}
    # a 100 % coupon: free to the buyer, but sold (subtotal is the list price)
    coupon = {**second, "id": 402, "name": "Mug", "subtotal": "12.00", "total": "0.00",
              "price": 0}
    # a product whose name only contains the word "gift" is sold, not given
    box = {**second, "id": 403, "name": "Gift box set", "subtotal": "12.00", "total": "12.00",
           "price": 12}
    woo_order["line_items"] = [main, free, card, coupon, box]
    lines = connector.normalize(woo_order).lines
    assert [(ln.is_gift, ln.gift_for) for ln in lines] == [
        (False, ""), (True, "315"), (True, "315"), (False, ""), (False, "")]


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


# --- polling that cannot lose an order ----------------------------------------------------

class OffsetWoo:
    """WooCommerce's orders list as documented: ``modified_after``/``modified_before``
    exclusive, ``orderby=modified`` with ID as tie-break, and page/per_page OFFSET
    pages (an order edited mid-scan moves to the end and the rest slide up).
    ``between`` holds changes to make before the n-th request."""

    def __init__(self, orders):
        self.orders = {o["id"]: o for o in orders}
        self.calls = 0
        self.between = {}

    @staticmethod
    def now():
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def edit(self, order_id):
        self.orders[order_id] = {**self.orders[order_id], "date_modified_gmt": self.now()}

    def create(self, order_id):
        self.orders[order_id] = {"id": order_id, "date_modified_gmt": self.now()}

    def __call__(self, request):
        hook = self.between.get(self.calls)
        self.calls += 1
        if hook:
            hook(self)
        p = request.url.params
        assert (p["orderby"], p["order"], p["dates_are_gmt"]) == ("modified", "asc", "true")
        rows = sorted(self.orders.values(), key=lambda o: (o["date_modified_gmt"], o["id"]))
        if "modified_after" in p:
            rows = [o for o in rows if o["date_modified_gmt"] > p["modified_after"]]
        if "modified_before" in p:
            rows = [o for o in rows if o["date_modified_gmt"] < p["modified_before"]]
        per_page, page = int(p["per_page"]), int(p.get("page", 1))
        chunk = rows[(page - 1) * per_page:page * per_page]
        return httpx.Response(200, json=[dict(o) for o in chunk], headers={
            "X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(-(-len(rows) // per_page))})


def poll(connector, since):
    """One poll as the pipeline runs it: the cursor moves only to the last watermark."""
    seen, cursor = [], since
    for page in connector.fetch_orders(since=since):
        seen += [(o["id"], o["date_modified_gmt"]) for o in page.orders]
        if page.watermark:
            cursor = page.watermark
    return seen, cursor


def _at(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


@respx.mock
def test_orders_edited_or_created_mid_scan_are_neither_lost_nor_duplicated(connector):
    # given six orders modified over the last hour, two per page
    connector.page_size = 2
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    woo = OffsetWoo([{"id": i, "date_modified_gmt": _at(start + dt.timedelta(minutes=i))}
                     for i in range(1, 7)])
    # before page 2: an order already read and one not yet read are edited (offset
    # pages would now skip order 3) and a new order comes in; later another edit
    woo.between[1] = lambda w: (w.edit(1), w.edit(4), w.create(7))
    woo.between[3] = lambda w: w.edit(2)
    respx.get(f"{WOO_API}/orders").mock(side_effect=woo)

    # when two polls run, the second from the first one's cursor, with more changes between
    first, cursor = poll(connector, start - dt.timedelta(minutes=5))
    woo.edit(3)
    woo.create(8)
    second, _ = poll(connector, cursor)

    # then every order's latest version was read, and no poll read one version twice
    latest = {(o["id"], o["date_modified_gmt"]) for o in woo.orders.values()}
    assert latest <= set(first) | set(second)
    assert {i for i, _ in first} >= {1, 2, 3, 4, 5, 6, 7}
    assert len(first) == len(set(first)) and len(second) == len(set(second))


@respx.mock
def test_more_orders_in_one_second_than_a_page_are_all_read(connector):
    connector.page_size = 2
    second = dt.datetime(2026, 11, 20, 8, 0, 7, tzinfo=dt.UTC)
    woo = OffsetWoo([{"id": i, "date_modified_gmt": _at(second)} for i in range(1, 6)]
                    + [{"id": 9, "date_modified_gmt": _at(second + dt.timedelta(seconds=3))}])
    respx.get(f"{WOO_API}/orders").mock(side_effect=woo)

    pages = list(connector.fetch_orders(since=second - dt.timedelta(minutes=1)))

    ids = [o["id"] for p in pages for o in p.orders]
    assert sorted(ids) == [1, 2, 3, 4, 5, 9] and len(ids) == len(set(ids))
    marks = [p.watermark for p in pages if p.watermark]
    assert marks == sorted(marks)
    # no page inside the crowded second promised more than the time before it: an
    # order may still be modified within that second
    assert second in marks and not [m for m in marks if second < m < second + dt.timedelta(
        seconds=3)]
    assert woo.calls < 12


@respx.mock
def test_page_watermark_is_the_last_orders_modified_time(connector):
    connector.page_size = 2
    t = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    woo = OffsetWoo([{"id": i, "date_modified_gmt": _at(t + dt.timedelta(minutes=i))}
                     for i in range(1, 4)])
    route = respx.get(f"{WOO_API}/orders").mock(side_effect=woo)
    pages = list(connector.fetch_orders(since=t))
    assert [[o["id"] for o in p.orders] for p in pages] == [[1, 2], [3], []]
    # each page ends at its last order's time (never our own clock)
    assert [p.watermark for p in pages] == [t + dt.timedelta(minutes=2),
                                            t + dt.timedelta(minutes=3),
                                            t + dt.timedelta(minutes=3)]
    # each request is page 1 again, restarting one second before the last order read
    assert [(c.request.url.params["page"], c.request.url.params["modified_after"])
            for c in route.calls] == [("1", "2026-11-20T07:59:59"), ("1", "2026-11-20T08:01:59"),
                                      ("1", "2026-11-20T08:02:59")]


# --- write-back ----------------------------------------------------------------------------

TRACKING_API = f"{WOO}/wp-json/wc-shipment-tracking/v3"


def test_carrier_names(connector):
    assert [connector.carrier_name(c) for c in ("SF", "ZTO", "JD", "EMS", "FEDEX", "UPS",
                                                "USPS", "DHL")] == [
        "SF Express", "ZTO Express", "JD Logistics", "China Post EMS", "Fedex", "UPS", "USPS",
        "DHL"]


@respx.mock
def test_push_adds_a_custom_provider_tracking_item_and_completes(connector):
    item = respx.post(f"{TRACKING_API}/orders/727/shipment-trackings").mock(
        return_value=httpx.Response(201, json={"tracking_id": "a1", "tracking_number": "SF1"}))
    update = respx.put(f"{WOO_API}/orders/727").mock(
        return_value=httpx.Response(200, json={"id": 727, "status": "completed"}))

    result = connector.push_shipment(external_id="727", carrier="SF Express",
                                     tracking_number="SF1234567890",
                                     tracking_url="https://sf.example/SF1234567890")

    assert result.ok
    assert json.loads(item.calls.last.request.content) == {
        "custom_tracking_provider": "SF Express", "tracking_number": "SF1234567890",
        "custom_tracking_link": "https://sf.example/SF1234567890"}
    assert item.calls.last.request.headers["Authorization"].startswith("Basic ")
    assert json.loads(update.calls.last.request.content) == {"status": "completed"}


@respx.mock
def test_push_uses_a_built_in_provider_by_name(connector):
    item = respx.post(f"{TRACKING_API}/orders/727/shipment-trackings").mock(
        return_value=httpx.Response(201, json={"tracking_id": "a1"}))
    respx.put(f"{WOO_API}/orders/727").mock(return_value=httpx.Response(200, json={"id": 727}))
    connector.push_shipment(external_id="727", carrier="UPS", tracking_number="1Z999")
    assert json.loads(item.calls.last.request.content) == {
        "tracking_provider": "UPS", "tracking_number": "1Z999"}


@respx.mock
def test_push_without_shipment_tracking_adds_a_note_and_completes(connector):
    respx.post(f"{TRACKING_API}/orders/727/shipment-trackings").mock(return_value=httpx.Response(
        404, json={"code": "rest_no_route", "message": "No route was found",
                   "data": {"status": 404}}))
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


@pytest.mark.parametrize("reply", [
    httpx.ReadTimeout("read timed out"),
    httpx.Response(201, text='{"tracking_id": "7f49'),  # cut off mid-body
    httpx.Response(504, text="Gateway Timeout"),
])
@respx.mock
def test_a_reply_that_does_not_say_is_ambiguous_and_not_resent(connector, sleeps, reply):
    item = respx.post(f"{TRACKING_API}/orders/727/shipment-trackings").mock(side_effect=[reply])
    update = respx.put(f"{WOO_API}/orders/727")
    with pytest.raises(AmbiguousReply):
        connector.push_shipment(external_id="727", carrier="SF Express", tracking_number="SF1")
    assert item.call_count == 1 and sleeps == []
    assert update.call_count == 0


@respx.mock
def test_a_refused_connection_is_retryable_not_ambiguous(connector):
    respx.post(f"{TRACKING_API}/orders/727/shipment-trackings").mock(
        side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ConnectorError) as exc:
        connector.push_shipment(external_id="727", carrier="SF Express", tracking_number="SF1")
    assert not isinstance(exc.value, AmbiguousReply) and exc.value.retryable


@respx.mock
def test_confirm_shipment_finds_the_tracking_item(connector):
    respx.get(f"{WOO_API}/orders/727").mock(return_value=httpx.Response(
        200, json=load("shipped/woocommerce.json")[0]))
    notes = respx.get(f"{WOO_API}/orders/727/notes")
    assert connector.confirm_shipment(external_id="727",
                                      tracking_number="9400111899560000000000") is True
    assert notes.call_count == 0


@respx.mock
def test_confirm_shipment_finds_our_note_or_says_no(connector, woo_order):
    respx.get(f"{WOO_API}/orders/727").mock(return_value=httpx.Response(200, json=woo_order))
    respx.get(f"{WOO_API}/orders/727/notes").mock(return_value=httpx.Response(200, json=[
        {"id": 1, "note": "Shipped with SF Express, tracking number SF1", "customer_note": True}]))
    assert connector.confirm_shipment(external_id="727", tracking_number="SF1") is True
    assert connector.confirm_shipment(external_id="727", tracking_number="SF2") is False


@respx.mock
def test_confirm_shipment_cannot_tell_for_a_missing_order(connector):
    respx.get(f"{WOO_API}/orders/9").mock(return_value=httpx.Response(404, json={
        "code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.",
        "data": {"status": 404}}))
    assert connector.confirm_shipment(external_id="9", tracking_number="SF1") is None


def test_the_shipped_fixture_imports_with_import_orders(woo_channel, capsys):
    from django.core.management import call_command

    from tests.channels.conftest import FIXTURES

    call_command("import_orders", "woo-demo", str(FIXTURES / "shipped" / "woocommerce.json"))
    assert "created=1 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out


@respx.mock
def test_two_real_polls_hold_exactly_what_the_shop_holds(woo_channel, woo_order):
    """End to end through ``channel_poll``: edits and new orders between page fetches
    and between polls all end up in the hub, each order once, in its latest form."""
    from channels.services import channel_poll
    from orderhub.models import Order

    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=30)

    def order(i, when):
        return {**woo_order, "id": i, "number": str(i), "date_modified_gmt": _at(when),
                "shipping": {**woo_order["shipping"], "city": f"City {i}"}}

    woo = OffsetWoo([order(i, start + dt.timedelta(minutes=i)) for i in range(1, 7)])

    def edit(w, i, city):
        w.orders[i] = {**w.orders[i], "date_modified_gmt": w.now(),
                       "shipping": {**w.orders[i]["shipping"], "city": city}}

    def create(w, i):
        w.orders[i] = order(i, dt.datetime.now(dt.UTC))

    woo.between[1] = lambda w: (edit(w, 1, "Moved 1"), edit(w, 4, "Moved 4"), create(w, 7))
    respx.get(f"{WOO_API}/orders").mock(side_effect=woo)
    connector = WooCommerceConnector(woo_channel, sleep=lambda s: None)
    connector.page_size = 2

    assert channel_poll(channel=woo_channel, connector=connector).status == "ok"
    edit(woo, 5, "Moved 5")
    create(woo, 8)
    assert channel_poll(channel=woo_channel, connector=connector).status == "ok"

    held = dict(Order.objects.filter(channel=woo_channel).values_list("external_id", "ship_city"))
    assert held == {str(i): o["shipping"]["city"] for i, o in woo.orders.items()}


def test_a_file_may_hold_one_order(connector, woo_order):
    assert connector.orders_from_file(woo_order) == [woo_order]
    assert connector.orders_from_file([woo_order]) == [woo_order]
    with pytest.raises(NormalizationError):
        connector.orders_from_file({"code": "woocommerce_rest_cannot_view"})
