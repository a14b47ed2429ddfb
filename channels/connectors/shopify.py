"""Shopify Admin REST API connector (orders, fulfillment orders, webhooks)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator, Mapping

import httpx

from channels.connectors.base import (
    CANCELLED,
    PAID,
    UNPAID,
    Connector,
    FetchedPage,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    PermanentError,
    ShipmentResult,
    money,
    quantity,
    require,
    text,
    timestamp,
)

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
        params = {"status": "any", "limit": self.page_size, "order": "updated_at asc"}
        if since:
            params["updated_at_min"] = since.astimezone(dt.UTC).isoformat()
        url, kwargs = f"{self.base}/orders.json", {"params": params}
        while url:
            response = self.request("GET", url, **kwargs)
            data = self.json(response)
            if not isinstance(data, dict) or not isinstance(data.get("orders"), list):
                raise PermanentError("shopify: the orders response has no “orders” list")
            yield FetchedPage(orders=data["orders"])
            # The next URL carries page_info; other filters are not allowed with it.
            url, kwargs = next_link(response.headers.get("Link")), {}

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "id"))

    def updated_at(self, raw: dict) -> dt.datetime | None:
        return timestamp(raw.get("updated_at"), "updated_at")

    def normalize(self, raw: dict) -> NormalizedOrder:
        if isinstance(raw, dict) and isinstance(raw.get("order"), dict) and len(raw) == 1:
            raw = raw["order"]
        external_id = self.external_id(raw)
        items = raw.get("line_items")
        if not isinstance(items, list) or not items:
            raise NormalizationError("order has no line_items")
        lines = []
        for i, item in enumerate(items):
            what = f"line_items[{i}]"
            if not isinstance(item, dict):
                raise NormalizationError(f"{what} is not an object")
            price = money(item.get("price"), f"{what}.price")
            listing = item.get("variant_id") or item.get("product_id") or ""
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "id", what)),
                platform_sku=text(item.get("sku")),
                listing_id=text(listing),
                name=text(item.get("name") or item.get("title")),
                quantity=quantity(item.get("quantity"), f"{what}.quantity"),
                unit_price=price,
                is_gift=price == 0,
            ))
        financial = text(raw.get("financial_status")).lower()
        if raw.get("cancelled_at"):
            status = CANCELLED
        elif financial in FINANCIAL_STATUS:
            status = FINANCIAL_STATUS[financial]
        else:
            raise NormalizationError(f"unknown financial_status “{financial}”")
        ship = raw.get("shipping_address") or raw.get("billing_address") or {}
        customer = raw.get("customer") or {}
        if not isinstance(ship, dict) or not isinstance(customer, dict):
            raise NormalizationError("shipping_address / customer is not an object")
        buyer = " ".join(
            p for p in (text(customer.get("first_name")), text(customer.get("last_name"))) if p
        ) or text(ship.get("name"))
        shipping = sum(
            (money(s.get("price"), "shipping_lines.price") for s in raw.get("shipping_lines") or []
             if isinstance(s, dict)),
            start=money(0, ""),
        )
        placed = timestamp(raw.get("created_at"), "created_at")
        if placed is None:
            raise NormalizationError("order has no “created_at”")
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
            ship_name=text(ship.get("name")),
            ship_phone=text(ship.get("phone")),
            ship_country=text(ship.get("country_code")),
            ship_province=text(ship.get("province")),
            ship_city=text(ship.get("city")),
            ship_street=" ".join(p for p in (text(ship.get("address1")),
                                             text(ship.get("address2"))) if p),
            ship_postcode=text(ship.get("zip")),
            cancel_reason=text(raw.get("cancel_reason")),
            extra={"name": text(raw.get("name"))},
        )

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict) and isinstance(data.get("orders"), list):
            return data["orders"]
        if isinstance(data, dict) and isinstance(data.get("order"), dict):
            return [data["order"]]
        return super().orders_from_file(data)

    def count_orders(self, *, start: dt.datetime, end: dt.datetime) -> int | None:
        response = self.request("GET", f"{self.base}/orders/count.json", params={
            "status": "any", "created_at_min": start.isoformat(), "created_at_max": end.isoformat(),
        })
        data = self.json(response)
        return int(data["count"]) if isinstance(data, dict) and "count" in data else None

    # --- webhooks --------------------------------------------------------------------

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        given = headers.get("X-Shopify-Hmac-Sha256", "")
        secret = self.credentials.get("webhook_secret", "")
        if not given or not secret:
            return False
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), given.strip())

    def webhook_orders(self, *, data, headers: Mapping[str, str]) -> list[dict]:
        topic = headers.get("X-Shopify-Topic", "")
        if topic.startswith("orders/") and isinstance(data, dict):
            return [data]
        return []

    # --- shipments -------------------------------------------------------------------

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None) -> ShipmentResult:
        response = self.request("GET", f"{self.base}/orders/{external_id}/fulfillment_orders.json")
        data = self.json(response)
        fulfillment_orders = [
            fo for fo in (data.get("fulfillment_orders") or [])
            if fo.get("status") in ("open", "in_progress")
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
        response = self.request("POST", f"{self.base}/fulfillments.json", json=body)
        fulfillment = (self.json(response) or {}).get("fulfillment") or {}
        return ShipmentResult(ok=True, detail=f"fulfillment {fulfillment.get('id', '')}".strip(),
                              status_code=response.status_code)
