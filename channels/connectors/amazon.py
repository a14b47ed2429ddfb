"""Amazon Selling Partner API connector (Orders v0, Login with Amazon)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import httpx
from django.core.cache import cache

from channels.connectors.base import (
    CANCELLED,
    PAID,
    UNPAID,
    AuthError,
    Connector,
    FetchedPage,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    PermanentError,
    ShipmentResult,
    iso_utc,
    money,
    quantity,
    require,
    text,
    timestamp,
)
from channels.crypto import CredentialsUnreadable, decrypt_text, encrypt_text

STATUS = {
    "PendingAvailability": UNPAID,
    "Pending": UNPAID,
    "Unshipped": PAID,
    "PartiallyShipped": PAID,
    "Shipped": PAID,
    "InvoiceUnconfirmed": PAID,
    "Unfulfillable": PAID,
    "Canceled": CANCELLED,
}

# Default usage plans (requests per second, burst) from the Orders v0 model.
RATES = {
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
}
LWA_URL = "https://api.amazon.com/auth/o2/token"


class TokenBucket:
    """A token bucket like the one SP-API applies per operation and seller."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()
        self.lock = threading.Lock()

    def wait_time(self) -> float:
        """Take a token; return how long to sleep first (0 when one was available)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1
            if self.tokens >= 0:
                return 0.0
            return -self.tokens / self.rate


# Buckets outlive one connector instance: limits apply per seller account.
_buckets: dict[tuple, TokenBucket] = {}
_buckets_lock = threading.Lock()


class AmazonConnector(Connector):
    platform = "amazon"
    supports_webhooks = False

    def __init__(self, *args, clock=time.monotonic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self._token: str | None = None

    @property
    def endpoint(self) -> str:
        return str(self.config.get("endpoint", "https://sellingpartnerapi-na.amazon.com")).rstrip("/")

    @property
    def marketplace_ids(self) -> list[str]:
        ids = self.config.get("marketplace_ids") or []
        if isinstance(ids, str):
            ids = [i.strip() for i in ids.split(",") if i.strip()]
        if not ids:
            raise PermanentError("The Amazon channel has no marketplace_ids setting.")
        return list(ids)

    # --- auth ------------------------------------------------------------------------

    def _token_cache_key(self) -> str:
        return f"channels:amazon-lwa:{self.channel.pk}"

    def access_token(self, *, refresh: bool = False) -> str:
        """An LWA access token, cached (encrypted) until shortly before it expires."""
        if self._token and not refresh:
            return self._token
        cached = None if refresh else cache.get(self._token_cache_key())
        if cached:
            try:
                self._token = decrypt_text(cached)
                return self._token
            except CredentialsUnreadable:
                pass
        lwa_url = self.config.get("lwa_url", LWA_URL)
        try:
            response = self.client.post(lwa_url, data={
                "grant_type": "refresh_token",
                "refresh_token": self.credential("refresh_token"),
                "client_id": self.credential("client_id"),
                "client_secret": self.credential("client_secret"),
            })
        except httpx.HTTPError as exc:
            raise AuthError(
                f"amazon: cannot reach Login with Amazon ({type(exc).__name__})") from exc
        if response.status_code != 200:
            # The body says e.g. invalid_grant; it never contains our secret.
            raise AuthError(f"amazon: token exchange refused (HTTP {response.status_code}: "
                            f"{self.error_text(response)})", status_code=response.status_code)
        data = self.json(response)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise AuthError("amazon: the token response has no access_token")
        expires = int(data.get("expires_in") or 3600)
        cache.set(self._token_cache_key(), encrypt_text(token), max(60, expires - 300))
        self._token = token
        return token

    def _bucket(self, operation: str) -> TokenBucket:
        key = (self.channel.pk, operation)
        with _buckets_lock:
            if key not in _buckets:
                rate, burst = RATES[operation]
                _buckets[key] = TokenBucket(rate, burst, clock=self.clock)
            return _buckets[key]

    def call(self, operation: str, method: str, path: str, **kwargs) -> httpx.Response:
        wait = self._bucket(operation).wait_time()
        if wait:
            self.sleep(wait)
        headers = kwargs.pop("headers", {})
        headers["x-amz-access-token"] = self.access_token()
        try:
            return self.request(method, f"{self.endpoint}{path}", headers=headers, **kwargs)
        except AuthError as exc:
            # An access token can be revoked before it expires: refresh once, then give up.
            if exc.status_code != 403:
                raise
            cache.delete(self._token_cache_key())
            headers["x-amz-access-token"] = self.access_token(refresh=True)
            return self.request(method, f"{self.endpoint}{path}", headers=headers, **kwargs)

    # --- orders ----------------------------------------------------------------------

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        marketplaces = ",".join(self.marketplace_ids)
        since = since or dt.datetime.now(dt.UTC) - dt.timedelta(days=self.channel.backfill_days)
        params = {"MarketplaceIds": marketplaces, "LastUpdatedAfter": iso_utc(since),
                  "MaxResultsPerPage": 100}
        while True:
            data = self.json(self.call("getOrders", "GET", "/orders/v0/orders", params=params))
            payload = data.get("payload") if isinstance(data, dict) else None
            if not isinstance(payload, dict) or not isinstance(payload.get("Orders"), list):
                raise PermanentError("amazon: getOrders response has no payload.Orders")
            orders = []
            for order in payload["Orders"]:
                order_id = order.get("AmazonOrderId") if isinstance(order, dict) else None
                if order_id:
                    order = {**order, "OrderItems": self.order_items(order_id)}
                orders.append(order)
            yield FetchedPage(
                orders=orders,
                watermark=timestamp(payload.get("LastUpdatedBefore"), "LastUpdatedBefore"),
            )
            token = payload.get("NextToken")
            if not token:
                return
            # With NextToken the other criteria must not be sent (MarketplaceIds still is).
            params = {"MarketplaceIds": marketplaces, "NextToken": token}

    def order_items(self, order_id: str) -> list[dict]:
        items, params = [], {}
        while True:
            data = self.json(self.call("getOrderItems", "GET",
                                       f"/orders/v0/orders/{order_id}/orderItems", params=params))
            payload = data.get("payload") or {}
            items.extend(payload.get("OrderItems") or [])
            if not payload.get("NextToken"):
                return items
            params = {"NextToken": payload["NextToken"]}

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "AmazonOrderId"))

    def updated_at(self, raw: dict) -> dt.datetime | None:
        return timestamp(raw.get("LastUpdateDate"), "LastUpdateDate")

    def normalize(self, raw: dict) -> NormalizedOrder:
        external_id = self.external_id(raw)
        status_text = text(raw.get("OrderStatus"))
        if status_text not in STATUS:
            raise NormalizationError(f"unknown OrderStatus “{status_text}”")
        items = raw.get("OrderItems")
        if not isinstance(items, list) or not items:
            raise NormalizationError("order has no OrderItems (getOrderItems returned nothing)")
        lines = []
        for i, item in enumerate(items):
            what = f"OrderItems[{i}]"
            if not isinstance(item, dict):
                raise NormalizationError(f"{what} is not an object")
            qty = quantity(item.get("QuantityOrdered"), f"{what}.QuantityOrdered")
            # ItemPrice is the total for the quantity; absent while the order is Pending.
            line_total = money((item.get("ItemPrice") or {}).get("Amount"), f"{what}.ItemPrice")
            unit = (line_total / qty).quantize(money(0, ""))
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "OrderItemId", what)),
                platform_sku=text(item.get("SellerSKU")),
                listing_id=text(item.get("ASIN")),
                name=text(item.get("Title")),
                quantity=qty,
                unit_price=unit,
                is_gift=str(item.get("IsGift", "")).lower() == "true" and unit == 0,
            ))
        total = raw.get("OrderTotal") or {}
        address = raw.get("ShippingAddress") or {}
        buyer = raw.get("BuyerInfo") or {}
        if not all(isinstance(x, dict) for x in (total, address, buyer)):
            raise NormalizationError("OrderTotal / ShippingAddress / BuyerInfo is not an object")
        placed = timestamp(raw.get("PurchaseDate"), "PurchaseDate")
        if placed is None:
            raise NormalizationError("order has no “PurchaseDate”")
        currency = text(total.get("CurrencyCode") or next(
            ((it.get("ItemPrice") or {}).get("CurrencyCode") for it in items
             if (it.get("ItemPrice") or {}).get("CurrencyCode")), "USD"))
        return NormalizedOrder(
            external_id=external_id,
            status=STATUS[status_text],
            updated_at=self.updated_at(raw),
            placed_at=placed,
            lines=lines,
            currency=currency[:3],
            total=money(total.get("Amount"), "OrderTotal.Amount") if total else None,
            shipping_fee=sum((money((it.get("ShippingPrice") or {}).get("Amount"),
                                    "ShippingPrice") for it in items), start=money(0, "")),
            buyer_name=text(buyer.get("BuyerName")),
            buyer_email=text(buyer.get("BuyerEmail")),
            ship_name=text(address.get("Name")),
            ship_phone=text(address.get("Phone")),
            ship_country=text(address.get("CountryCode")),
            ship_province=text(address.get("StateOrRegion")),
            ship_city=text(address.get("City")),
            ship_district=text(address.get("District") or address.get("County")),
            ship_street=" ".join(p for p in (text(address.get(f"AddressLine{n}"))
                                             for n in (1, 2, 3)) if p),
            ship_postcode=text(address.get("PostalCode")),
            extra={"fulfillment_channel": text(raw.get("FulfillmentChannel")),
                   "marketplace_id": text(raw.get("MarketplaceId"))},
        )

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict) and isinstance((data.get("payload") or {}).get("Orders"), list):
            return data["payload"]["Orders"]
        return super().orders_from_file(data)

    # --- shipments -------------------------------------------------------------------

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None) -> ShipmentResult:
        body = {
            "marketplaceId": self.marketplace_ids[0],
            "packageDetail": {
                "packageReferenceId": "1",
                "carrierCode": self.config.get("carrier_codes", {}).get(carrier, "Other"),
                "carrierName": carrier,
                "trackingNumber": tracking_number,
                "shipDate": iso_utc(dt.datetime.now(dt.UTC)),
                "orderItems": [
                    {"orderItemId": line["external_line_id"], "quantity": line["quantity"]}
                    for line in (lines or []) if line.get("external_line_id")
                ],
            },
        }
        response = self.call("confirmShipment", "POST",
                             f"/orders/v0/orders/{external_id}/shipmentConfirmation", json=body)
        return ShipmentResult(ok=True, detail="shipment confirmed",
                              status_code=response.status_code)
