"""WooCommerce REST API v3 connector."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

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

STATUS = {
    "pending": UNPAID,
    "on-hold": UNPAID,  # awaiting an offline payment (bank transfer, cheque)
    "failed": UNPAID,
    "checkout-draft": UNPAID,
    "processing": PAID,
    "completed": PAID,
    "cancelled": CANCELLED,
    "refunded": CANCELLED,
    "trash": CANCELLED,
}

LOOPBACK = {"localhost", "127.0.0.1", "::1", "testserver"}


class WooCommerceConnector(Connector):
    platform = "woocommerce"
    page_size = 100
    supports_webhooks = True

    @property
    def base(self) -> str:
        site = str(self.config.get("site_url", "")).rstrip("/")
        if not site:
            raise PermanentError("The WooCommerce channel has no site_url setting.")
        parts = urlsplit(site)
        # Basic auth over plain HTTP would send the key in clear text.
        if parts.scheme != "https" and parts.hostname not in LOOPBACK:
            raise PermanentError("WooCommerce needs an https:// site_url (keys are sent with "
                                 "every request).")
        return f"{site}/wp-json/wc/v3"

    def before_request(self, request_kwargs: dict) -> None:
        request_kwargs["auth"] = httpx.BasicAuth(self.credential("consumer_key"),
                                                 self.credential("consumer_secret"))

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        page, total_pages = 1, 1
        while page <= total_pages:
            params = {"per_page": self.page_size, "page": page, "orderby": "modified",
                      "order": "asc", "dates_are_gmt": "true"}
            if since:
                params["modified_after"] = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            response = self.request("GET", f"{self.base}/orders", params=params)
            data = self.json(response)
            if not isinstance(data, list):
                raise PermanentError("woocommerce: the orders response is not a list")
            try:
                total_pages = int(response.headers.get("X-WP-TotalPages", "1"))
            except ValueError:
                total_pages = 1
            if not data:
                break
            yield FetchedPage(orders=data)
            page += 1

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "id"))

    def updated_at(self, raw: dict) -> dt.datetime | None:
        return timestamp(raw.get("date_modified_gmt"), "date_modified_gmt")

    def normalize(self, raw: dict) -> NormalizedOrder:
        external_id = self.external_id(raw)
        status_text = text(raw.get("status")).lower()
        if status_text not in STATUS:
            raise NormalizationError(f"unknown status “{status_text}”")
        items = raw.get("line_items")
        if not isinstance(items, list) or not items:
            raise NormalizationError("order has no line_items")
        lines = []
        for i, item in enumerate(items):
            what = f"line_items[{i}]"
            if not isinstance(item, dict):
                raise NormalizationError(f"{what} is not an object")
            qty = quantity(item.get("quantity"), f"{what}.quantity")
            # "price" is a number (unit price after discounts); totals are strings.
            if item.get("price") not in (None, ""):
                price = money(item.get("price"), f"{what}.price")
            else:
                price = (money(item.get("total"), f"{what}.total") / qty).quantize(money(0, ""))
            listing = item.get("variation_id") or item.get("product_id") or ""
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "id", what)),
                platform_sku=text(item.get("sku")),
                listing_id=text(listing) if listing else "",
                name=html.unescape(text(item.get("name"))),
                quantity=qty,
                unit_price=price,
                is_gift=price == 0,
            ))
        billing = raw.get("billing") or {}
        ship = raw.get("shipping") or {}
        if not isinstance(billing, dict) or not isinstance(ship, dict):
            raise NormalizationError("billing / shipping is not an object")
        if not ship.get("address_1"):
            ship = {**billing, **{k: v for k, v in ship.items() if v}}

        def full_name(part):
            return " ".join(p for p in (text(part.get("first_name")),
                                        text(part.get("last_name"))) if p)

        placed = timestamp(raw.get("date_created_gmt"), "date_created_gmt")
        if placed is None:
            raise NormalizationError("order has no “date_created_gmt”")
        status = STATUS[status_text]
        return NormalizedOrder(
            external_id=external_id,
            status=status,
            updated_at=self.updated_at(raw),
            placed_at=placed,
            paid_at=timestamp(raw.get("date_paid_gmt"), "date_paid_gmt"),
            lines=lines,
            currency=text(raw.get("currency") or "USD")[:3],
            total=money(raw.get("total"), "total"),
            shipping_fee=money(raw.get("shipping_total"), "shipping_total"),
            discount=money(raw.get("discount_total"), "discount_total"),
            buyer_name=full_name(billing),
            buyer_phone=text(billing.get("phone")),
            buyer_email=text(billing.get("email")),
            buyer_message=text(raw.get("customer_note")),
            ship_name=full_name(ship),
            ship_phone=text(ship.get("phone") or billing.get("phone")),
            ship_country=text(ship.get("country")),
            ship_province=text(ship.get("state")),
            ship_city=text(ship.get("city")),
            ship_street=" ".join(p for p in (text(ship.get("address_1")),
                                             text(ship.get("address_2"))) if p),
            ship_postcode=text(ship.get("postcode")),
            extra={"number": text(raw.get("number"))},
        )

    def count_orders(self, *, start: dt.datetime, end: dt.datetime) -> int | None:
        response = self.request("GET", f"{self.base}/orders", params={
            "per_page": 1, "after": start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "before": end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "dates_are_gmt": "true",
        })
        total = response.headers.get("X-WP-Total")
        return int(total) if total and total.isdigit() else None

    # --- webhooks --------------------------------------------------------------------

    @staticmethod
    def is_ping(*, body: bytes, headers: Mapping[str, str]) -> bool:
        """WooCommerce's unsigned ping when a webhook is created (form body webhook_id=N)."""
        return (not headers.get("X-WC-Webhook-Signature")
                and body.startswith(b"webhook_id=") and body[11:].isdigit())

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        given = headers.get("X-WC-Webhook-Signature", "")
        secret = self.credentials.get("webhook_secret", "")
        if not given or not secret:
            return False
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), given.strip())

    def webhook_orders(self, *, data, headers: Mapping[str, str]) -> list[dict]:
        topic = headers.get("X-WC-Webhook-Topic", "")
        # order.deleted carries only {"id": …}: nothing to ingest.
        if topic in ("order.created", "order.updated", "order.restored") and isinstance(data, dict):
            return [data]
        return []

    # --- shipments -------------------------------------------------------------------

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None) -> ShipmentResult:
        note = f"Shipped with {carrier}, tracking number {tracking_number}"
        if tracking_url:
            note += f" ({tracking_url})"
        self.request("POST", f"{self.base}/orders/{external_id}/notes",
                     json={"note": note, "customer_note": True})
        response = self.request("PUT", f"{self.base}/orders/{external_id}",
                                json={"status": "completed"})
        return ShipmentResult(ok=True, detail="completed with tracking note",
                              status_code=response.status_code)
