"""Shopify Admin REST API connector (orders, fulfillment orders, webhooks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

import httpx

from channels.connectors.base import (
    CANCELLED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    UNPAID,
    AmbiguousReply,
    Connector,
    FetchedPage,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    NormalizedShipment,
    PermanentError,
    ShipmentResult,
    hmac_sha256_base64_matches,
    is_gift_line,
    line_items,
    money,
    person_name,
    quantity,
    require,
    required_time,
    text,
    timestamp,
)
from channels.connectors.once import request_once

FINANCIAL_STATUS = {
    "pending": UNPAID,
    "partially_paid": UNPAID,
    # Authorized payments are captured when Shopify fulfils, so they can ship.
    "authorized": PAID,
    "paid": PAID,
    "partially_refunded": PAID,
    "refunded": CANCELLED,
    "voided": CANCELLED,
    "expired": CANCELLED,
}

# Order-level ``fulfillment_status`` (REST Order resource): null means nothing
# shipped yet; ``restocked`` (older API versions) means the items went back to
# stock, i.e. nothing is on its way.
FULFILLMENT_STATUS = {
    "": NOT_SHIPPED,
    "unfulfilled": NOT_SHIPPED,
    "restocked": NOT_SHIPPED,
    "partial": PARTIALLY_SHIPPED,
    "fulfilled": SHIPPED,
}

# A fulfillment in these states is (or is about to be) on its way; cancelled,
# error and failure ones never left.
LIVE_FULFILLMENT = {"pending", "open", "success", ""}


def _tracking_numbers(fulfillment: dict) -> list[str]:
    numbers = fulfillment.get("tracking_numbers")
    if not isinstance(numbers, list) or not numbers:
        numbers = [fulfillment.get("tracking_number")]
    return [text(n).strip() for n in numbers if text(n).strip()]


def _live(fulfillments) -> list[dict]:
    if fulfillments is None:
        return []
    if not isinstance(fulfillments, list):
        raise NormalizationError("fulfillments is not a list")
    return [f for f in fulfillments if isinstance(f, dict)
            and text(f.get("status")).lower() in LIVE_FULFILLMENT]


def fulfillment_shipments(fulfillments) -> list[NormalizedShipment]:
    """One shipment per tracking number of each live fulfillment.

    A fulfillment may carry several tracking numbers (one parcel each) without
    saying which units went in which parcel: each gets the fulfillment's lines.
    """
    shipments = []
    for f in _live(fulfillments):
        lines: dict[str, int] = {}
        for i, item in enumerate(f.get("line_items") or []):
            if isinstance(item, dict) and item.get("id") is not None:
                key = text(item["id"])
                lines[key] = lines.get(key, 0) + quantity(
                    item.get("quantity"), f"fulfillments.line_items[{i}].quantity")
        shipped_at = timestamp(f.get("created_at"), "fulfillments.created_at")
        for number in _tracking_numbers(f):
            shipments.append(NormalizedShipment(
                carrier=text(f.get("tracking_company")), tracking_number=number,
                shipped_at=shipped_at, lines=dict(lines)))
    return shipments


def shipped_quantities(raw: dict) -> dict[str, int]:
    """Units of each line Shopify has shipped: from the fulfillments when they say,
    else from each line's ``fulfillable_quantity`` (what is left to ship)."""
    shipped: dict[str, int] = {}
    for f in _live(raw.get("fulfillments")):
        for item in f.get("line_items") or []:
            if isinstance(item, dict) and item.get("id") is not None:
                key = text(item["id"])
                try:
                    shipped[key] = shipped.get(key, 0) + int(item.get("quantity") or 0)
                except (TypeError, ValueError):
                    continue
    if shipped:
        return shipped
    for item in raw.get("line_items") or []:
        if not isinstance(item, dict) or item.get("id") is None:
            continue
        key = text(item["id"])
        try:
            qty = int(item.get("quantity") or 0)
        except (TypeError, ValueError):
            continue
        if text(item.get("fulfillment_status")).lower() == "fulfilled":
            shipped[key] = qty
        elif isinstance(item.get("fulfillable_quantity"), int):
            shipped[key] = max(0, qty - item["fulfillable_quantity"])
    return shipped


def bind_gifts(lines: list[NormalizedLine]) -> None:
    """Bind each gift line to the main item it comes with: Shopify has no
    parent reference on a line, so the first line that is not a gift."""
    main = next((line for line in lines if not line.is_gift), None)
    for line in lines:
        if line.is_gift and main is not None:
            line.gift_for = main.external_line_id


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a Link header, or None on the last page."""
    if not header:
        return None
    for part in header.split(","):
        if 'rel="next"' in part:
            start, end = part.find("<"), part.find(">")
            if start != -1 and end > start:
                return part[start + 1:end].strip()
    return None


class ShopifyConnector(Connector):
    platform = "shopify"
    page_size = 250
    supports_webhooks = True

    @property
    def base(self) -> str:
        shop = str(self.config.get("shop_url", "")).rstrip("/")
        if not shop:
            raise PermanentError("The Shopify channel has no shop_url setting.")
        if "://" not in shop:
            shop = f"https://{shop}"
        version = self.config.get("api_version", "2024-10")
        return f"{shop}/admin/api/{version}"

    def before_request(self, request_kwargs: dict) -> None:
        headers = request_kwargs.setdefault("headers", {})
        headers["X-Shopify-Access-Token"] = self.credential("access_token")

    def after_response(self, response: httpx.Response) -> None:
        # Leaky bucket: when the bucket is nearly full, wait for it to drain a
        # little rather than run into 429s (standard stores leak 2 calls/s).
        used, _, capacity = response.headers.get("X-Shopify-Shop-Api-Call-Limit", "").partition("/")
        if used.isdigit() and capacity.isdigit() and int(used) >= int(capacity) - 2:
            self.sleep(1.0)

    # --- orders --------------------------------------------------------------------

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        """Orders updated at or after ``since``, oldest change first.

        Shopify's ``page_info`` cursor is a keyset over the sort key (it resumes
        after the last row's ``updated_at``/id, not at an offset), so an order
        edited mid-scan moves to the end of the scan instead of shifting others
        onto a page already read. Hence each page's watermark is the
        ``updated_at`` of its last order: every order updated before it was on
        this page or an earlier one. The last page too: never our own clock,
        which may run ahead of Shopify's (the next poll re-reads from there).
        """
        params = {"status": "any", "limit": self.page_size, "order": "updated_at asc"}
        if since:
            params["updated_at_min"] = since.astimezone(dt.UTC).isoformat()
        url, kwargs = f"{self.base}/orders.json", {"params": params}
        while url:
            response = self.request("GET", url, **kwargs)
            data = self.json(response)
            if not isinstance(data, dict) or not isinstance(data.get("orders"), list):
                raise PermanentError("shopify: the orders response has no “orders” list")
            orders = data["orders"]
            yield FetchedPage(orders=orders, watermark=self._last_updated(orders))
            # The next URL carries page_info; other filters are not allowed with it.
            url, kwargs = next_link(response.headers.get("Link")), {}

    def _last_updated(self, orders: list) -> dt.datetime | None:
        try:
            return timestamp(orders[-1].get("updated_at"), "updated_at") if orders else None
        except (NormalizationError, AttributeError):
            return None  # a broken row promises nothing; the next page will

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "id"))

    def updated_at(self, raw: dict) -> dt.datetime | None:
        return timestamp(raw.get("updated_at"), "updated_at")

    def normalize(self, raw: dict) -> NormalizedOrder:
        if isinstance(raw, dict) and isinstance(raw.get("order"), dict) and len(raw) == 1:
            raw = raw["order"]
        external_id = self.external_id(raw)
        keywords = self.gift_keywords()
        lines = []
        for what, item in line_items(raw, "line_items"):
            # ``price`` is the unit price before discounts: zero means the shop
            # gives the item away, not that a coupon covered it.
            price = money(item.get("price"), f"{what}.price")
            name = text(item.get("name") or item.get("title"))
            listing = item.get("variant_id") or item.get("product_id") or ""
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "id", what)),
                platform_sku=text(item.get("sku")),
                listing_id=text(listing),
                name=name,
                quantity=quantity(item.get("quantity"), f"{what}.quantity"),
                unit_price=price,
                is_gift=price == 0 or is_gift_line(name, price, keywords),
            ))
        bind_gifts(lines)
        financial = text(raw.get("financial_status")).lower()
        if raw.get("cancelled_at"):
            status = CANCELLED
        elif financial in FINANCIAL_STATUS:
            status = FINANCIAL_STATUS[financial]
        else:
            raise NormalizationError(f"unknown financial_status “{financial}”")
        fulfillment_text = text(raw.get("fulfillment_status")).lower()
        if fulfillment_text not in FULFILLMENT_STATUS:
            raise NormalizationError(f"unknown fulfillment_status “{fulfillment_text}”")
        fulfillment = FULFILLMENT_STATUS[fulfillment_text]
        shipments: list[NormalizedShipment] = []
        if status == CANCELLED:
            fulfillment = NOT_SHIPPED
        elif fulfillment != NOT_SHIPPED:
            # Goods Shopify already sent out are the seller's decision to release
            # them (cash on delivery, manual payment): awaiting payment or not, the
            # hub must never pick them again.
            status = PAID
            shipments = fulfillment_shipments(raw.get("fulfillments"))
            shipped = shipped_quantities(raw)
            for line in lines:
                if fulfillment == SHIPPED:
                    line.shipped_quantity = line.quantity
                else:
                    line.shipped_quantity = min(line.quantity,
                                                shipped.get(line.external_line_id, 0))
        ship = raw.get("shipping_address") or raw.get("billing_address") or {}
        customer = raw.get("customer") or {}
        billing = raw.get("billing_address") or {}
        if not all(isinstance(part, dict) for part in (ship, customer, billing)):
            raise NormalizationError("shipping_address / billing_address / customer is not an "
                                     "object")
        # Shopify's ``name`` is "first last", which is backwards for Chinese names:
        # build names from the parts when there are any.
        buyer = (person_name(customer.get("first_name"), customer.get("last_name"))
                 or person_name(billing.get("first_name"), billing.get("last_name"))
                 or text(billing.get("name")) or text(ship.get("name")))
        recipient = (person_name(ship.get("first_name"), ship.get("last_name"))
                     or text(ship.get("name")))
        shipping = sum(
            (money(s.get("price"), "shipping_lines.price") for s in raw.get("shipping_lines") or []
             if isinstance(s, dict)),
            start=money(0, ""),
        )
        placed = required_time(timestamp(raw.get("created_at"), "created_at"), "created_at")
        return NormalizedOrder(
            external_id=external_id,
            status=status,
            updated_at=self.updated_at(raw),
            placed_at=placed,
            paid_at=timestamp(raw.get("processed_at"), "processed_at") if status == PAID else None,
            lines=lines,
            currency=text(raw.get("currency") or "USD")[:3],
            total=money(raw.get("total_price"), "total_price"),
            shipping_fee=shipping,
            discount=money(raw.get("total_discounts"), "total_discounts"),
            buyer_name=buyer,
            buyer_phone=text(raw.get("phone") or customer.get("phone") or ""),
            buyer_email=text(raw.get("email") or customer.get("email") or ""),
            buyer_message=text(raw.get("note")),
            ship_name=recipient,
            ship_phone=text(ship.get("phone")),
            ship_country=text(ship.get("country_code")),
            # ``province`` is the name carriers need; the code only when it is missing.
            ship_province=text(ship.get("province") or ship.get("province_code")),
            ship_city=text(ship.get("city")),
            ship_street=" ".join(p for p in (text(ship.get("address1")),
                                             text(ship.get("address2"))) if p),
            ship_postcode=text(ship.get("zip")),
            cancel_reason=text(raw.get("cancel_reason")),
            extra={"name": text(raw.get("name"))},
            fulfillment=fulfillment,
            shipments=shipments,
        )

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict) and isinstance(data.get("orders"), list):
            return data["orders"]
        if isinstance(data, dict) and isinstance(data.get("order"), dict):
            return [data["order"]]
        if isinstance(data, dict) and "line_items" in data:
            return [data]  # one order as a webhook delivers it
        return super().orders_from_file(data)

    def count_orders(self, *, start: dt.datetime, end: dt.datetime) -> int | None:
        response = self.request("GET", f"{self.base}/orders/count.json", params={
            "status": "any", "created_at_min": start.isoformat(), "created_at_max": end.isoformat(),
        })
        data = self.json(response)
        return int(data["count"]) if isinstance(data, dict) and "count" in data else None

    # --- webhooks --------------------------------------------------------------------

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        return hmac_sha256_base64_matches(self.credentials.get("webhook_secret", ""), body,
                                          headers.get("X-Shopify-Hmac-Sha256", ""))

    def webhook_orders(self, *, data, headers: Mapping[str, str]) -> list[dict]:
        topic = headers.get("X-Shopify-Topic", "")
        if topic.startswith("orders/") and isinstance(data, dict):
            return [data]
        return []

    # --- shipments -------------------------------------------------------------------

    # Names from Shopify's list of supported tracking companies
    # (FulfillmentTrackingInfo.company): with these Shopify builds the tracking
    # link and follows the parcel itself.
    CARRIER_NAMES = {
        "SF": "SF Express", "ZTO": "ZTO Express", "YTO": "YTO Express", "STO": "STO Express",
        "YUNDA": "Yunda Express", "JD": "JD Logistics", "EMS": "China Post",
        "JTSD": "J&T Express", "DHL": "DHL Express", "FEDEX": "FedEx", "UPS": "UPS",
        "USPS": "USPS",
    }

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None,
                      platform_data: dict | None = None) -> ShipmentResult:
        response = self.request("GET", f"{self.base}/orders/{external_id}/fulfillment_orders.json")
        data = self.json(response)
        if not isinstance(data, dict):
            raise PermanentError("shopify: the fulfillment orders response is not an object")
        fulfillment_orders = [
            fo for fo in (data.get("fulfillment_orders") or [])
            if isinstance(fo, dict) and fo.get("status") in ("open", "in_progress")
            and "create_fulfillment" in (fo.get("supported_actions") or [])
        ]
        if not fulfillment_orders:
            return ShipmentResult(ok=True, detail="nothing left to fulfil on Shopify")
        tracking = {"number": tracking_number, "company": carrier}
        if tracking_url:
            tracking["url"] = tracking_url
        body = {"fulfillment": {
            "notify_customer": True,
            "tracking_info": tracking,
            # No line list per fulfillment order: fulfil everything left on it.
            "line_items_by_fulfillment_order": [
                {"fulfillment_order_id": fo["id"]} for fo in fulfillment_orders
            ],
        }}
        # Sent once: a second POST after a lost reply would fulfil twice.
        response, reply = request_once(self, "POST", f"{self.base}/fulfillments.json", json=body)
        fulfillment = reply.get("fulfillment") if isinstance(reply, dict) else None
        if not isinstance(fulfillment, dict) or not fulfillment.get("id"):
            raise AmbiguousReply(f"shopify: HTTP {response.status_code} without the created "
                                 "fulfillment", status_code=response.status_code)
        return ShipmentResult(ok=True, detail=f"fulfillment {fulfillment['id']}",
                              status_code=response.status_code)

    def confirm_shipment(self, *, external_id: str, tracking_number: str,
                         platform_data: dict | None = None) -> bool | None:
        """True when a live fulfillment of the order carries ``tracking_number``."""
        try:
            response = self.request("GET", f"{self.base}/orders/{external_id}.json",
                                    params={"fields": "id,fulfillments"})
        except PermanentError:
            return None  # the order is gone or unreadable: we cannot tell
        data = self.json(response)
        order = data.get("order") if isinstance(data, dict) else None
        if not isinstance(order, dict):
            return None
        wanted = tracking_number.strip()
        try:
            live = _live(order.get("fulfillments"))
        except NormalizationError:
            return None
        return any(wanted in _tracking_numbers(f) for f in live)
