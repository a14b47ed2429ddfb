"""Amazon Selling Partner API connector (Orders v0, Tokens API, Login with Amazon).

Channel config: ``marketplace_ids`` (required), ``endpoint`` / ``lwa_url`` (regional
host, sandbox), ``fetch_budget_seconds`` / ``fetch_budget_requests`` (what one poll may
spend before it stops and leaves the rest to the next), ``window_hours`` (first
LastUpdated window of a fetch), ``carrier_map`` and ``gift_keywords`` (see base),
``carrier_codes`` (more of Amazon's carrierCode values to send as such, not as "Other").
Buyer name, e-mail, phone and street come only with a Restricted Data Token.
This module talks to Amazon (tokens, rate buckets, windows, shipments); turning an
order into the hub's shape is ``amazon_orders.AmazonOrderMapping``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
from django.core.cache import cache

from channels.connectors.amazon_orders import AmazonOrderMapping
from channels.connectors.base import (
    AmbiguousReply,
    AuthError,
    Connector,
    ConnectorError,
    FetchedPage,
    NormalizationError,
    PermanentError,
    ShipmentResult,
    iso_utc,
    status_error,
    text,
    timestamp,
)
from channels.crypto import CredentialsUnreadable, decrypt_text, encrypt_text

logger = logging.getLogger(__name__)

# Statuses for which getOrderAddress documents a ShippingAddress.
ADDRESS_STATUSES = {"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"}

# Default usage plans (requests per second, burst) from the Orders v0 and Tokens models;
# ``x-amzn-RateLimit-Limit`` on a response replaces the rate with the one applied.
RATES = {
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "getOrderAddress": (0.5, 30),
    "getOrderBuyerInfo": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "createRestrictedDataToken": (1.0, 10),
}
LWA_URL = "https://api.amazon.com/auth/o2/token"
# LWA (OAuth 2) error codes that mean the credentials themselves were refused.
LWA_CREDENTIAL_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client"}
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
# Restricted resources (Tokens API): one RDT for the bulk getOrders call, one for the
# per-order address / buyer calls (the generic {orderId} path covers any order).
RDT_RESOURCES = {
    "getOrders": [{"method": "GET", "path": "/orders/v0/orders",
                   "dataElements": ["buyerInfo", "shippingAddress"]}],
    "orderPii": [{"method": "GET", "path": "/orders/v0/orders/{orderId}/address"},
                 {"method": "GET", "path": "/orders/v0/orders/{orderId}/buyerInfo"}],
}
# Amazon's carrierCode values for the hub's carrier companies; a carrier outside
# Amazon's list goes as carrierCode "Other" with its name in carrierName.
CARRIER_CODES = {"SF Express", "China Post", "UPS", "USPS", "FedEx", "DHL", "DPD", "GLS",
                 "TNT", "Royal Mail", "Canada Post", "Deutsche Post", "La Poste", "Yodel"}
# Default time and request budget of one fetch (item calls are slow: 0.5/s after a burst
# of 30). Well under the poll task's soft time limit; the next poll resumes.
FETCH_BUDGET_SECONDS = 300
FETCH_BUDGET_REQUESTS = 400
# The first time window of a fetch; it doubles after a window of one page and halves
# (down to MIN_WINDOW) after one of more than WINDOW_MAX_PAGES pages.
WINDOW_HOURS = 6
WINDOW_MAX_PAGES = 5
MIN_WINDOW = dt.timedelta(minutes=5)
# A multi-page getOrders scan is repeated until a pass finds nothing new (at most this
# many passes): NextToken pages may shift when an order leaves the window mid-scan.
MAX_SCAN_PASSES = 3
# Amazon: LastUpdatedBefore "must be ... at least two minutes before current time".
CONSISTENCY_LAG = dt.timedelta(minutes=2)
ITEMS_CACHE_SECONDS = 2 * 24 * 3600


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


class FetchBudget:
    """Time and request allowance of one fetch, so a backlog never meets a task time limit."""

    def __init__(self, *, seconds: float, requests: int, clock):
        self.clock, self.requests = clock, requests
        self.deadline = clock() + seconds

    def spent(self) -> bool:
        return self.requests <= 0 or self.clock() >= self.deadline

    def take(self) -> None:
        self.requests -= 1


class AmazonConnector(AmazonOrderMapping, Connector):
    platform = "amazon"
    supports_webhooks = False
    CARRIER_NAMES = {"SF": "SF Express", "UPS": "UPS", "USPS": "USPS", "FEDEX": "FedEx",
                     "DHL": "DHL", "EMS": "China Post"}

    def __init__(self, *args, clock=time.monotonic, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self._token: str | None = None
        self._rdt: dict[str, str | None] = {}
        self.pii_problem = ""

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

    def _rdt_cache_key(self, resource: str) -> str:
        return f"channels:amazon-rdt:{self.channel.pk}:{resource}"

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
        data = self._lwa_exchange()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise ConnectorError("amazon: the Login with Amazon reply has no access_token")
        expires = int(data.get("expires_in") or 3600)
        cache.set(self._token_cache_key(), encrypt_text(token), max(60, expires - 300))
        self._token = token
        return token

    def _lwa_exchange(self) -> dict:
        """POST the refresh token to LWA. Only a definite refusal of the credentials is an
        AuthError (it pauses the channel); an outage is retried, then stays retryable."""
        lwa_url = self.config.get("lwa_url", LWA_URL)
        form = {"grant_type": "refresh_token", "refresh_token": self.credential("refresh_token"),
                "client_id": self.credential("client_id"),
                "client_secret": self.credential("client_secret")}
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.post(lwa_url, data=form)
            except httpx.HTTPError as exc:
                problem = f"cannot reach Login with Amazon ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    data = self.json(response)
                    return data if isinstance(data, dict) else {}
                body = self._json_or_none(response)
                error = body.get("error") if isinstance(body, dict) else None
                # The body says e.g. invalid_grant; it never contains our secret.
                if status in (400, 401) and error in LWA_CREDENTIAL_ERRORS:
                    raise AuthError(f"amazon: Login with Amazon refused the credentials "
                                    f"(HTTP {status}: {self.error_text(response)})",
                                    status_code=status)
                if status != 429 and status < 500:
                    raise PermanentError(f"amazon: Login with Amazon rejected the request "
                                         f"(HTTP {status}: {self.error_text(response)})",
                                         status_code=status)
                problem = f"Login with Amazon answered HTTP {status}"
            if attempt < self.max_attempts:
                self._backoff(attempt, None)
        raise ConnectorError(f"amazon: {problem} after {self.max_attempts} tries; "
                             f"will try again later")

    @staticmethod
    def _json_or_none(response: httpx.Response):
        try:
            return response.json()
        except ValueError:
            return None

    def restricted_token(self, resource: str, *, refresh: bool = False) -> str | None:
        """A Restricted Data Token for ``resource`` (a key of RDT_RESOURCES), cached per
        channel and resource for its ``expiresIn``; None when Amazon will not grant one
        (the app lacks the PII role): the calls then go with the plain access token,
        the orders come without buyer data and the pipeline holds them with a reason."""
        if resource in self._rdt and not refresh:
            return self._rdt[resource]
        key = self._rdt_cache_key(resource)
        cached = None if refresh else cache.get(key)
        if cached:
            try:
                self._rdt[resource] = decrypt_text(cached)
                return self._rdt[resource]
            except CredentialsUnreadable:
                pass
        # The LWA token first: its refusal is the channel's auth problem, not a PII one.
        self.access_token()
        try:
            response = self.call("createRestrictedDataToken", "POST", RDT_PATH,
                                 json={"restrictedResources": RDT_RESOURCES[resource]})
        except (AuthError, PermanentError) as exc:
            self.pii_problem = f"Amazon refused a Restricted Data Token: {exc.message}"
            logger.warning("amazon channel %s: %s", self.channel.pk, self.pii_problem)
            self._rdt[resource] = None
            return None
        data = self.json(response)
        token = data.get("restrictedDataToken") if isinstance(data, dict) else None
        if not token:
            raise ConnectorError("amazon: the restrictedDataToken reply has no token")
        expires = int(data.get("expiresIn") or 3600)
        cache.set(key, encrypt_text(token), max(30, expires - 60))
        self._rdt[resource] = token
        return token

    def _bucket(self, operation: str) -> TokenBucket:
        key = (self.channel.pk, operation)
        with _buckets_lock:
            if key not in _buckets:
                rate, burst = RATES[operation]
                _buckets[key] = TokenBucket(rate, burst, clock=self.clock)
            return _buckets[key]

    def call(self, operation: str, method: str, path: str, *, rdt: str | None = None,
             **kwargs) -> httpx.Response:
        """One SP-API call, paced by the operation's token bucket; ``rdt`` names the
        restricted resource whose RDT replaces the access token."""
        bucket = self._bucket(operation)
        wait = bucket.wait_time()
        if wait:
            self.sleep(wait)
        headers = kwargs.pop("headers", {})
        token = self.restricted_token(rdt) if rdt else None
        headers["x-amz-access-token"] = token or self.access_token()
        try:
            response = self.request(method, f"{self.endpoint}{path}", headers=headers, **kwargs)
        except AuthError as exc:
            # A token can be revoked or expire before we expect: renew once, then give up.
            if exc.status_code != 403:
                raise
            if token:
                cache.delete(self._rdt_cache_key(rdt))
                headers["x-amz-access-token"] = self.restricted_token(
                    rdt, refresh=True) or self.access_token()
            else:
                cache.delete(self._token_cache_key())
                headers["x-amz-access-token"] = self.access_token(refresh=True)
            response = self.request(method, f"{self.endpoint}{path}", headers=headers, **kwargs)
        self._learn_rate(bucket, response)
        return response

    @staticmethod
    def _learn_rate(bucket: TokenBucket, response: httpx.Response) -> None:
        # The usage plan actually applied to this seller (may be above the default).
        try:
            rate = float(response.headers.get("x-amzn-RateLimit-Limit", ""))
        except ValueError:
            return
        if rate > 0:
            bucket.rate = rate

    # --- orders ----------------------------------------------------------------------

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        """Orders updated in [since, now - 2 min], with their items and buyer data.

        The span is read as consecutive time windows, each sent as LastUpdatedAfter /
        LastUpdatedBefore, so an order edited or created while a window is read falls
        after it and is read later. A window read whole ends with its end as a
        watermark, so a backlog moves the cursor window by window. A window of more
        than one page is read again until a pass finds nothing new (NextToken pages
        can shift when an order leaves the window mid-scan). When the time/request
        budget is spent the fetch stops without a further watermark: the next poll
        starts at the last one, and items already fetched come from the cache.
        """
        now = self.now()
        since = since or now - dt.timedelta(days=self.channel.backfill_days)
        before = (now - CONSISTENCY_LAG).replace(microsecond=0)
        budget = FetchBudget(
            seconds=float(self.config.get("fetch_budget_seconds") or FETCH_BUDGET_SECONDS),
            requests=int(self.config.get("fetch_budget_requests") or FETCH_BUDGET_REQUESTS),
            clock=self.clock)
        span = dt.timedelta(hours=float(self.config.get("window_hours") or WINDOW_HOURS))
        seen: set[str] = set()
        # Amazon's times are whole seconds: rounding down reads a little more, never less.
        start = since.astimezone(dt.UTC).replace(microsecond=0)
        # Amazon cannot answer for the last two minutes yet: nothing to ask before then.
        while start < before and not budget.spent():
            end = min(before, start + span)
            pages, watermark = yield from self._read_window(start, end, budget, seen)
            if watermark is None:
                return  # budget spent or the window kept changing: resume here next poll
            if watermark < end:
                return  # Amazon vouches only up to here; the next poll goes on from it
            start = end
            # Few pages: widen the next window; many: narrow it (cheaper re-reads).
            if pages <= 1:
                span *= 2
            elif pages > WINDOW_MAX_PAGES:
                span = max(span / 2, MIN_WINDOW)

    def _read_window(self, start: dt.datetime, end: dt.datetime, budget: FetchBudget,
                     seen: set[str]):
        """Yield the window's pages; return (pages in the last pass, watermark or None)."""
        pages = 0
        for pass_number in range(1, MAX_SCAN_PASSES + 1):
            pages = found = 0
            consistent = end
            for payload in self._order_pages(start, end, budget):
                pages += 1
                try:
                    reported = timestamp(payload.get("LastUpdatedBefore"), "LastUpdatedBefore")
                except NormalizationError:
                    reported = None
                if reported and start <= reported < consistent:
                    consistent = reported
                orders, complete = self._complete_orders(payload["Orders"], seen, budget)
                found += len(orders)
                if orders or not complete:
                    yield FetchedPage(orders=orders)
                if not complete or (payload.get("NextToken") and budget.spent()):
                    return pages, None  # the next page would overrun the budget
            if pages <= 1 or (pass_number > 1 and not found):
                yield FetchedPage(orders=[], watermark=consistent)
                return pages, consistent
            if budget.spent():
                return pages, None
        logger.warning("amazon channel %s: the orders of %s..%s kept changing; read again "
                       "next poll", self.channel.pk, start, end)
        return pages, None

    def _order_pages(self, since: dt.datetime, before: dt.datetime,
                     budget: FetchBudget) -> Iterator[dict]:
        marketplaces = ",".join(self.marketplace_ids)
        params = {"MarketplaceIds": marketplaces, "LastUpdatedAfter": iso_utc(since),
                  "LastUpdatedBefore": iso_utc(before), "MaxResultsPerPage": 100}
        while True:
            budget.take()
            data = self.json(self.call("getOrders", "GET", "/orders/v0/orders", params=params,
                                       rdt="getOrders"))
            payload = data.get("payload") if isinstance(data, dict) else None
            if not isinstance(payload, dict) or not isinstance(payload.get("Orders"), list):
                raise PermanentError("amazon: getOrders response has no payload.Orders")
            yield payload
            token = payload.get("NextToken")
            if not token:
                return
            # With NextToken the other criteria must not be sent (MarketplaceIds still is).
            params = {"MarketplaceIds": marketplaces, "NextToken": token}

    def _complete_orders(self, orders: list, seen: set[str],
                         budget: FetchBudget) -> tuple[list, bool]:
        """The page's orders not yet yielded, each with its items (and buyer data when the
        bulk call lacked it); False when the budget ran out part way."""
        done = []
        for order in orders:
            order_id = order.get("AmazonOrderId") if isinstance(order, dict) else None
            if not order_id:
                done.append(order)  # quarantined by the pipeline, with its reason
                continue
            if order_id in seen:
                continue
            items = self._cached_items(order)
            if items is None:
                if budget.spent():
                    return done, False
                items = self.order_items(order_id, budget=budget)
                self._cache_items(order, items)
            order = {**order, "OrderItems": items}
            if self._lacks_pii(order):
                if budget.spent():
                    return done, False
                order = self._with_pii(order, budget)
            seen.add(order_id)
            done.append(order)
        return done, True

    def _items_cache_key(self, order: dict) -> str:
        return (f"channels:amazon-items:{self.channel.pk}:{order.get('AmazonOrderId')}:"
                f"{order.get('LastUpdateDate')}")

    def _cached_items(self, order: dict) -> list | None:
        try:
            return cache.get(self._items_cache_key(order))
        except Exception:  # noqa: BLE001 - a cache outage only costs a re-fetch
            logger.warning("amazon: item cache unavailable", exc_info=True)
            return None

    def _cache_items(self, order: dict, items: list) -> None:
        try:
            cache.set(self._items_cache_key(order), items, ITEMS_CACHE_SECONDS)
        except Exception:  # noqa: BLE001 - a cache outage only costs a re-fetch later
            logger.warning("amazon: item cache unavailable", exc_info=True)

    def order_items(self, order_id: str, *, budget: FetchBudget | None = None) -> list[dict]:
        items, params = [], {}
        while True:
            if budget:
                budget.take()
            data = self.json(self.call("getOrderItems", "GET",
                                       f"/orders/v0/orders/{order_id}/orderItems", params=params))
            payload = (data.get("payload") if isinstance(data, dict) else None) or {}
            items.extend(payload.get("OrderItems") or [])
            if not payload.get("NextToken"):
                return items
            params = {"NextToken": payload["NextToken"]}

    @staticmethod
    def _lacks_pii(order: dict) -> bool:
        # Amazon-fulfilled orders never need the seller's address; others need it once
        # Amazon documents one (from Unshipped on).
        if order.get("FulfillmentChannel") == "AFN" or order.get("OrderStatus") not in \
                ADDRESS_STATUSES:
            return False
        address = order.get("ShippingAddress")
        return not (isinstance(address, dict) and address.get("AddressLine1")
                    and address.get("Name"))

    def _with_pii(self, order: dict, budget: FetchBudget) -> dict:
        """Fill the buyer and address from getOrderAddress / getOrderBuyerInfo (RDT)."""
        order_id = order["AmazonOrderId"]
        if self.restricted_token("orderPii") is None:
            return order  # no RDT: the calls would be refused; the pipeline holds the order
        try:
            budget.take()
            address = self.json(self.call("getOrderAddress", "GET",
                                          f"/orders/v0/orders/{order_id}/address",
                                          rdt="orderPii"))
            budget.take()
            buyer = self.json(self.call("getOrderBuyerInfo", "GET",
                                        f"/orders/v0/orders/{order_id}/buyerInfo",
                                        rdt="orderPii"))
        except (AuthError, PermanentError) as exc:
            # This order's buyer data is refused (or gone): it enters without it and is
            # held with this reason rather than stopping the whole channel.
            self.pii_problem = f"Amazon refused the buyer data: {exc.message}"
            logger.warning("amazon channel %s, order %s: %s", self.channel.pk, order_id,
                           self.pii_problem)
            return order
        order = dict(order)
        shipping = ((address.get("payload") or {}) if isinstance(address, dict) else {}).get(
            "ShippingAddress")
        if isinstance(shipping, dict):
            order["ShippingAddress"] = shipping
        info = (buyer.get("payload") if isinstance(buyer, dict) else None) or {}
        if isinstance(info, dict):
            order["BuyerInfo"] = {**(order.get("BuyerInfo") or {}),
                                  **{k: v for k, v in info.items() if k != "AmazonOrderId"}}
        return order

    def get_order(self, order_id: str) -> dict:
        data = self.json(self.call("getOrder", "GET", f"/orders/v0/orders/{order_id}"))
        payload = data.get("payload") if isinstance(data, dict) else None
        if not isinstance(payload, dict):
            raise PermanentError("amazon: getOrder response has no payload")
        return payload

    # --- shipments -------------------------------------------------------------------

    def _marketplace_for(self, platform_data: dict | None) -> str:
        marketplace = (platform_data or {}).get("marketplace_id")
        if marketplace:
            return str(marketplace)
        # An order kept before marketplaces were recorded: only safe with one marketplace.
        ids = self.marketplace_ids
        if len(ids) == 1:
            return ids[0]
        raise PermanentError("amazon: the order does not say which marketplace it belongs to "
                             "and the channel sells on several; re-import it")

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None,
                      platform_data: dict | None = None) -> ShipmentResult:
        """confirmShipment for the order's own marketplace. ``carrier`` is Amazon's
        carrier name (``carrier_name``): a documented carrierCode goes as is, any other
        as carrierCode "Other" with the name in carrierName (which Amazon then requires)."""
        items = [{"orderItemId": str(line["external_line_id"]), "quantity": int(line["quantity"])}
                 for line in (lines or []) if line.get("external_line_id")]
        if not items:
            raise PermanentError("amazon: confirmShipment needs the order's items")
        if not tracking_number:
            raise PermanentError("amazon: confirmShipment needs a tracking number")
        extra_codes = self.config.get("carrier_codes") or []
        known = CARRIER_CODES | {str(c) for c in extra_codes if isinstance(extra_codes, list)}
        code = carrier if carrier in known else "Other"
        package = {
            "packageReferenceId": "1",
            "carrierCode": code,
            "trackingNumber": tracking_number,
            "shipDate": iso_utc(dt.datetime.now(dt.UTC)),
            "orderItems": items,
        }
        if code == "Other" or carrier:
            package["carrierName"] = carrier or "Other"
        body = {"marketplaceId": self._marketplace_for(platform_data), "packageDetail": package}
        path = f"/orders/v0/orders/{external_id}/shipmentConfirmation"
        response = self._write("confirmShipment", path, body)
        return ShipmentResult(ok=True, detail="shipment confirmed",
                              status_code=response.status_code)

    def _write(self, operation: str, path: str, body: dict) -> httpx.Response:
        """One POST that must not be repeated blindly: a reply that does not say whether
        it took effect raises AmbiguousReply (the caller reads the order back first)."""
        wait = self._bucket(operation).wait_time()
        if wait:
            self.sleep(wait)
        url = f"{self.endpoint}{path}"
        for renew in (False, True):
            headers = {"x-amz-access-token": self.access_token(refresh=renew)}
            try:
                response = self.client.post(url, json=body, headers=headers)
                content = response.read()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached Amazon: safe to send again.
                raise ConnectorError(f"amazon: cannot connect ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise AmbiguousReply(f"amazon: no complete reply to {operation} "
                                     f"({type(exc).__name__}); it may have taken effect") from exc
            status = response.status_code
            if status == 403 and not renew:
                cache.delete(self._token_cache_key())
                continue
            break
        if 200 <= status < 300:
            if content.strip():
                try:
                    data = json.loads(content)
                except ValueError as exc:
                    raise AmbiguousReply(f"amazon: {operation} answered HTTP {status} with a "
                                         f"cut-off body; it may have taken effect",
                                         status_code=status) from exc
                if isinstance(data, dict) and data.get("errors"):
                    raise PermanentError(f"amazon: {operation}: {str(data['errors'])[:300]}",
                                         status_code=status)
            return response
        if status == 503:
            # SP-API answers 503 for "temporary overloading": refused before it ran.
            raise ConnectorError(f"amazon: {operation} throttled/unavailable (HTTP {status})",
                                 status_code=status)
        raise status_error(self.platform, status, f"{operation}: {self.error_text(response)}",
                           write=True) or PermanentError(
            f"amazon: {operation}: unexpected HTTP {status}", status_code=status)

    def confirm_shipment(self, *, external_id: str, tracking_number: str,
                         platform_data: dict | None = None) -> bool | None:
        """Orders v0 shows no tracking numbers, so the order's status answers: Shipped
        (or InvoiceUnconfirmed) means our confirmation is there, Unshipped or Canceled
        that it is not; PartiallyShipped or an unreadable reply cannot tell."""
        try:
            status = text(self.get_order(external_id).get("OrderStatus"))
        except (ConnectorError, NormalizationError):
            return None
        if status in ("Shipped", "InvoiceUnconfirmed"):
            return True
        if status in ("Unshipped", "Canceled", "Pending"):
            return False
        return None
