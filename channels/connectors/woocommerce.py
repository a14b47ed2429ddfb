"""WooCommerce REST API v3 connector."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from channels.connectors.base import (
    CANCELLED,
    PAID,
    SHIPPED,
    UNPAID,
    Connector,
    ConnectorError,
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
from channels.connectors.woo_states import state_name

STATUS = {
    "pending": UNPAID,  # created, no payment yet
    # WooCommerce's order-status docs: "On hold – Awaiting payment – stock is
    # reduced, but you need to confirm payment" (bank transfer, cheque). Shipping
    # it would ship unpaid goods, so it waits as unpaid, unless WooCommerce
    # recorded a payment (``date_paid``): then a person put a paid order on hold.
    "on-hold": UNPAID,
    "failed": UNPAID,  # payment failed or was declined; the buyer may retry
    "checkout-draft": UNPAID,  # block checkout still in progress
    "processing": PAID,  # paid, awaiting fulfilment
    "completed": PAID,  # fulfilled: see ``fulfillment``
    "cancelled": CANCELLED,
    "refunded": CANCELLED,
    "trash": CANCELLED,
}

# The Shipment Tracking extension keeps its parcels in this order meta.
TRACKING_META = "_wc_shipment_tracking_items"

# Providers the Shipment Tracking extension has built in (its "United States"
# and "United Kingdom" groups); any other carrier is sent as a custom provider.
TRACKING_PROVIDERS = {"Fedex", "FedEx Sameday", "OnTrac", "UPS", "USPS", "DHL US", "DHL",
                      "Royal Mail", "ParcelForce"}


def _date_shipped(value) -> dt.datetime | None:
    """Shipment Tracking stores ``date_shipped`` as a Unix timestamp; its REST
    replies show it as ``YYYY-MM-DD``."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    return timestamp(text(value), "date_shipped")


def _version(raw) -> tuple[str, str]:
    """One version of one order: an order edited since it was read is new again."""
    if not isinstance(raw, dict):
        return ("", repr(raw)[:200])
    return (repr(raw.get("id")), repr(raw.get("date_modified_gmt")))


def tracking_items(raw: dict) -> list[dict]:
    """The Shipment Tracking items of an order (``[]`` when the extension is absent)."""
    for meta in raw.get("meta_data") or []:
        if isinstance(meta, dict) and meta.get("key") == TRACKING_META:
            value = meta.get("value")
            if isinstance(value, dict):  # a PHP array with gaps arrives as an object
                value = list(value.values())
            if not isinstance(value, list):
                raise NormalizationError(f"{TRACKING_META} is not a list")
            return [item for item in value if isinstance(item, dict)]
    return []


def tracking_shipments(raw: dict) -> list[NormalizedShipment]:
    shipments = []
    for item in tracking_items(raw):
        number = text(item.get("tracking_number")).strip()
        if not number:
            continue
        shipments.append(NormalizedShipment(
            carrier=text(item.get("custom_tracking_provider") or item.get("tracking_provider")),
            tracking_number=number, shipped_at=_date_shipped(item.get("date_shipped"))))
    return shipments

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

    def _gmt(self, value: dt.datetime) -> str:
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def _list(self, params: dict) -> tuple[list, httpx.Response]:
        response = self.request("GET", f"{self.base}/orders", params=params)
        data = self.json(response)
        if not isinstance(data, list):
            raise PermanentError("woocommerce: the orders response is not a list")
        return data, response

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        """Orders modified at or after ``since``, scanned by modification time.

        WooCommerce pages by offset: an order edited while we read page 2 jumps
        to the end and the rest slide up one place, so page 3 would skip one.
        Instead every request asks for page 1 of "modified after the last time
        we read whole" (keyset scanning), sorted by ``modified`` (with ``ID`` as
        WooCommerce's tie-break). Times have whole seconds, so each request
        re-reads the last second of the page before and drops what it already
        yielded. The watermark of a page is the modification time of its last
        order: everything modified before that second has been read. Never our
        own clock, which may run ahead of the shop's.
        """
        base = {"per_page": self.page_size, "orderby": "modified", "order": "asc",
                "dates_are_gmt": "true"}
        # ``modified_after`` is exclusive: one second back includes ``since`` itself.
        after = since.astimezone(dt.UTC) - dt.timedelta(seconds=1) if since else None
        seen: set[tuple[str, str]] = set()

        while True:
            params = dict(base, page=1)
            if after is not None:
                params["modified_after"] = self._gmt(after)
            data, _ = self._list(params)
            fresh = [raw for raw in data if _version(raw) not in seen]
            seen.update(_version(raw) for raw in data)
            last = self._modified(data[-1]) if data else None
            if len(data) < self.page_size:
                yield FetchedPage(orders=fresh, watermark=last)
                return
            if last is None:
                raise PermanentError("woocommerce: an order in the list has no "
                                     "date_modified_gmt, the scan cannot go on safely")
            if after is not None and last <= after + dt.timedelta(seconds=1) and not fresh:
                # A whole page inside one second we already stand on: read that
                # second by page numbers instead, then step past it.
                yield from self._one_second(last, base, seen)
                after = last
                continue
            yield FetchedPage(orders=fresh, watermark=last)
            after = last - dt.timedelta(seconds=1)

    def _one_second(self, second: dt.datetime, base: dict,
                    seen: set) -> Iterator[FetchedPage]:
        """Every order modified within ``second``, paged by number.

        Offsets are safe here only if nothing leaves the window meanwhile:
        ``X-WP-Total`` is compared before and after, and the window is read
        again (up to three times) when it changed.
        """
        window = {"modified_after": self._gmt(second - dt.timedelta(seconds=1)),
                  "modified_before": self._gmt(second + dt.timedelta(seconds=1))}
        for _ in range(3):
            page, total, changed = 1, None, False
            while True:
                data, response = self._list(dict(base, page=page, **window))
                now_total = response.headers.get("X-WP-Total")
                if total is None:
                    total = now_total
                elif now_total != total:
                    changed = True
                fresh = [raw for raw in data if _version(raw) not in seen]
                seen.update(_version(raw) for raw in data)
                if fresh:
                    yield FetchedPage(orders=fresh)  # no promise until the window is whole
                if len(data) < self.page_size:
                    break
                page += 1
            if not changed:
                # Not past ``second``: it may still be going on at the shop, and an
                # order modified later in it has this same time.
                yield FetchedPage(orders=[], watermark=second)
                return
        # Retryable: a burst of edits settles, and the next poll starts before it.
        raise ConnectorError("woocommerce: orders kept changing within one second while "
                             "being read; trying again next poll")

    def _modified(self, raw) -> dt.datetime | None:
        try:
            return self.updated_at(raw) if isinstance(raw, dict) else None
        except NormalizationError:
            return None

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "id"))

    def updated_at(self, raw: dict) -> dt.datetime | None:
        return timestamp(raw.get("date_modified_gmt"), "date_modified_gmt")

    def normalize(self, raw: dict) -> NormalizedOrder:
        external_id = self.external_id(raw)
        status_text = text(raw.get("status")).lower()
        if status_text not in STATUS:
            raise NormalizationError(
                f"unknown status “{status_text}” (a plugin's own order status? map it in the "
                "WooCommerce connector)")
        keywords = self.gift_keywords()
        lines = []
        for what, item in line_items(raw, "line_items"):
            qty = quantity(item.get("quantity"), f"{what}.quantity")
            # "price" is a number (unit price after discounts); totals are strings.
            if item.get("price") not in (None, ""):
                price = money(item.get("price"), f"{what}.price")
            else:
                price = (money(item.get("total"), f"{what}.total") / qty).quantize(money(0, ""))
            # A gift by price is free before discounts (``subtotal``): a 100 %
            # coupon makes ``price`` zero too, and that is a sale, not a gift.
            free = (money(item.get("subtotal"), f"{what}.subtotal") == 0
                    if item.get("subtotal") not in (None, "") else price == 0)
            name = html.unescape(text(item.get("name")))
            listing = item.get("variation_id") or item.get("product_id") or ""
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "id", what)),
                platform_sku=text(item.get("sku")),
                listing_id=text(listing) if listing else "",
                name=name,
                quantity=qty,
                unit_price=price,
                is_gift=free or is_gift_line(name, price, keywords),
            ))
        main = next((line for line in lines if not line.is_gift), None)
        for line in lines:
            # No parent reference on a core line item: the first non-gift line.
            if line.is_gift and main is not None:
                line.gift_for = main.external_line_id
        billing = raw.get("billing") or {}
        ship = raw.get("shipping") or {}
        if not isinstance(billing, dict) or not isinstance(ship, dict):
            raise NormalizationError("billing / shipping is not an object")
        if not ship.get("address_1"):
            ship = {**billing, **{k: v for k, v in ship.items() if v}}

        placed = required_time(timestamp(raw.get("date_created_gmt"), "date_created_gmt"),
                               "date_created_gmt")
        paid_at = timestamp(raw.get("date_paid_gmt"), "date_paid_gmt")
        status = STATUS[status_text]
        if status_text == "on-hold" and paid_at is not None:
            status = PAID
        fulfillment, shipments = "", []
        if status_text == "completed":
            # Completed is WooCommerce's "fulfilled": everything went out. The
            # tracking number exists only with the Shipment Tracking extension.
            fulfillment = SHIPPED
            shipments = tracking_shipments(raw)
            for line in lines:
                line.shipped_quantity = line.quantity
        country = text(ship.get("country"))
        return NormalizedOrder(
            external_id=external_id,
            status=status,
            updated_at=self.updated_at(raw),
            placed_at=placed,
            paid_at=paid_at,
            lines=lines,
            currency=text(raw.get("currency") or "USD")[:3],
            total=money(raw.get("total"), "total"),
            shipping_fee=money(raw.get("shipping_total"), "shipping_total"),
            discount=money(raw.get("discount_total"), "discount_total"),
            buyer_name=person_name(billing.get("first_name"), billing.get("last_name")),
            buyer_phone=text(billing.get("phone")),
            buyer_email=text(billing.get("email")),
            buyer_message=text(raw.get("customer_note")),
            ship_name=person_name(ship.get("first_name"), ship.get("last_name")),
            ship_phone=text(ship.get("phone") or billing.get("phone")),
            ship_country=country,
            ship_province=state_name(country, text(ship.get("state"))),
            ship_city=text(ship.get("city")),
            ship_street=" ".join(p for p in (text(ship.get("address_1")),
                                             text(ship.get("address_2"))) if p),
            ship_postcode=text(ship.get("postcode")),
            extra={"number": text(raw.get("number"))},
            fulfillment=fulfillment,
            shipments=shipments,
        )

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict) and "line_items" in data:
            return [data]  # one order, as GET /orders/{id} or a webhook gives it
        return super().orders_from_file(data)

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
        return hmac_sha256_base64_matches(self.credentials.get("webhook_secret", ""), body,
                                          headers.get("X-WC-Webhook-Signature", ""))

    def webhook_orders(self, *, data, headers: Mapping[str, str]) -> list[dict]:
        topic = headers.get("X-WC-Webhook-Topic", "")
        # order.deleted carries only {"id": …}: nothing to ingest.
        if topic in ("order.created", "order.updated", "order.restored") and isinstance(data, dict):
            return [data]
        return []

    # --- shipments -------------------------------------------------------------------

    # Carrier names for the Shipment Tracking extension: its built-in providers
    # where it has one (FedEx is spelt "Fedex" there), otherwise the name sent
    # as a custom provider, which the buyer sees as is.
    CARRIER_NAMES = {
        "SF": "SF Express", "ZTO": "ZTO Express", "YTO": "YTO Express", "STO": "STO Express",
        "YUNDA": "Yunda Express", "JD": "JD Logistics", "EMS": "China Post EMS",
        "JTSD": "J&T Express", "DEPPON": "Deppon", "BEST": "Best Express",
        "UPS": "UPS", "FEDEX": "Fedex", "DHL": "DHL", "USPS": "USPS",
    }

    @property
    def tracking_base(self) -> str:
        return self.base.replace("/wp-json/wc/v3", "/wp-json/wc-shipment-tracking/v3")

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None,
                      platform_data: dict | None = None) -> ShipmentResult:
        """Add a Shipment Tracking item (a note where the extension is absent), then
        mark the order completed, which sends the buyer WooCommerce's e-mail."""
        if carrier in TRACKING_PROVIDERS:
            item = {"tracking_provider": carrier, "tracking_number": tracking_number}
        else:
            item = {"custom_tracking_provider": carrier, "tracking_number": tracking_number,
                    "custom_tracking_link": tracking_url}
        detail = "tracking item added"
        try:
            # Sent once: a repeat after a lost reply would add a second item.
            request_once(self, "POST", f"{self.tracking_base}/orders/{external_id}"
                         "/shipment-trackings", json=item)
        except PermanentError as exc:
            if exc.status_code != 404:
                raise
            # rest_no_route: the store has no Shipment Tracking; a customer note
            # is the documented fallback for tracking numbers.
            note = f"Shipped with {carrier}, tracking number {tracking_number}"
            if tracking_url:
                note += f" ({tracking_url})"
            request_once(self, "POST", f"{self.base}/orders/{external_id}/notes",
                         json={"note": note, "customer_note": True})
            detail = "tracking note added"
        # Setting a status is idempotent, so the usual retries are safe here.
        response = self.request("PUT", f"{self.base}/orders/{external_id}",
                                json={"status": "completed"})
        return ShipmentResult(ok=True, detail=f"{detail}, order completed",
                              status_code=response.status_code)

    def confirm_shipment(self, *, external_id: str, tracking_number: str,
                         platform_data: dict | None = None) -> bool | None:
        """True when the order holds ``tracking_number`` (Shipment Tracking item or
        our customer note), False when it certainly does not."""
        try:
            response = self.request("GET", f"{self.base}/orders/{external_id}")
        except PermanentError:
            return None
        order = self.json(response)
        if not isinstance(order, dict):
            return None
        wanted = tracking_number.strip()
        try:
            if any(s.tracking_number == wanted for s in tracking_shipments(order)):
                return True
        except NormalizationError:
            return None
        response = self.request("GET", f"{self.base}/orders/{external_id}/notes")
        notes = self.json(response)
        if not isinstance(notes, list):
            return None
        return any(isinstance(n, dict) and isinstance(n.get("note"), str) and wanted in n["note"]
                   for n in notes)
