"""The connector interface every sales platform implements, and shared HTTP plumbing.

A connector knows one platform: how to authenticate and sign, page through
orders changed since a cursor, respect the platform's rate limits, turn one
platform order into a ``NormalizedOrder``, verify a webhook and push a
shipment back. Nothing platform-specific leaks out of its module: the pipeline
only sees ``FetchedPage``, ``NormalizedOrder`` and the errors below.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

import httpx
from django.utils.dateparse import parse_datetime

from orderhub.adapters import (
    AdapterAuthError,
    AdapterError,
    AdapterPermanentError,
    http_status_error,
)

logger = logging.getLogger(__name__)

# Platform status, reduced to what the hub's state machine cares about.
UNPAID = "unpaid"
PAID = "paid"
CANCELLED = "cancelled"

# How far the platform itself has shipped a paid order (``NormalizedOrder.fulfillment``).
# The platform is ahead of us, never behind: an order the platform shipped is never
# picked by the hub. ``PARTIALLY_SHIPPED`` orders pick only what is left
# (``NormalizedLine.shipped_quantity``).
NOT_SHIPPED = ""
PARTIALLY_SHIPPED = "partially_shipped"
SHIPPED = "shipped"
DELIVERED = "delivered"
COMPLETED = "completed"
FULFILLMENT_STATES = (NOT_SHIPPED, PARTIALLY_SHIPPED, SHIPPED, DELIVERED, COMPLETED)

# Carrier companies in the hub's words (``Order.carrier_company``). Each connector
# maps them to its platform's own names/codes in ``CARRIER_NAMES``; a channel may
# override any of them in ``config["carrier_map"]`` ({"ZTO": "..."}).
CARRIER_COMPANIES = {
    "SF": "SF Express", "ZTO": "ZTO Express", "YTO": "YTO Express", "STO": "STO Express",
    "YUNDA": "Yunda Express", "JD": "JD Logistics", "EMS": "China Post EMS",
    "JTSD": "J&T Express", "DEPPON": "Deppon", "BEST": "Best Express",
    "UPS": "UPS", "FEDEX": "FedEx", "DHL": "DHL", "USPS": "USPS",
}

# Line names that mark a free gift, whatever its price (a channel may add its own
# in ``config["gift_keywords"]``). Markers, not plain words: "礼品盒" (a gift box) and
# "Gift card sleeve" are products a shop sells.
GIFT_KEYWORDS = ("赠品", "赠送", "【礼品】", "[gift]", "(gift)", "free gift", "freebie")


class ConnectorError(AdapterError):
    """A call to the platform failed; ``retryable`` says whether trying later may help.

    The channel side of ``orderhub.adapters.AdapterError`` (same ``retryable`` and
    ``status_code``): the pipeline catches ``ConnectorError``, tasks ask
    ``is_retryable``.
    """


class AuthError(ConnectorError, AdapterAuthError):
    """Credentials are missing, wrong, expired or lack a scope: a person must act."""


class PermanentError(ConnectorError, AdapterPermanentError):
    """The platform refused the request itself (4xx other than auth/rate limit)."""


class AmbiguousReply(ConnectorError):
    """The request may or may not have taken effect (timeout after sending, cut-off body).

    Never treated as a failure on its own: the caller reads the platform's state
    back (``Connector.confirm_shipment``) before it tries again.
    """


class NormalizationError(Exception):
    """A payload does not have the shape the connector needs; the message says what is wrong."""


@dataclass
class NormalizedLine:
    external_line_id: str
    platform_sku: str
    name: str
    quantity: int
    unit_price: Decimal
    listing_id: str = ""
    is_gift: bool = False
    # Units of this line the platform has already shipped (partial shipment).
    shipped_quantity: int = 0
    # For a gift line: the ``external_line_id`` of the item it comes with ("" if unknown).
    gift_for: str = ""


@dataclass
class NormalizedShipment:
    """A parcel the platform says is on its way: its carrier as the platform names it."""

    carrier: str
    tracking_number: str
    shipped_at: dt.datetime | None = None
    # external_line_id -> units in this parcel; empty means the whole order.
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class NormalizedOrder:
    external_id: str
    status: str  # UNPAID, PAID or CANCELLED
    updated_at: dt.datetime | None
    placed_at: dt.datetime
    lines: list[NormalizedLine]
    paid_at: dt.datetime | None = None
    currency: str = "CNY"
    total: Decimal | None = None
    shipping_fee: Decimal = Decimal("0.00")
    discount: Decimal = Decimal("0.00")
    buyer_name: str = ""
    buyer_phone: str = ""
    buyer_email: str = ""
    buyer_message: str = ""
    ship_name: str = ""
    ship_phone: str = ""
    ship_country: str = ""
    ship_province: str = ""
    ship_city: str = ""
    ship_district: str = ""
    ship_street: str = ""
    ship_postcode: str = ""
    legacy_id: str = ""
    cancel_reason: str = ""
    extra: dict = field(default_factory=dict)
    # NOT_SHIPPED, PARTIALLY_SHIPPED, SHIPPED, DELIVERED or COMPLETED (paid orders only).
    fulfillment: str = NOT_SHIPPED
    shipments: list[NormalizedShipment] = field(default_factory=list)
    # What the write-back needs later (Amazon: the order's marketplace id), kept on
    # ``Order.platform_data`` and handed back to ``push_shipment``.
    platform_data: dict = field(default_factory=dict)
    # The platform says the order is a presale (pre-order): ``Order.presale``.
    presale: bool = False


@dataclass
class FetchedPage:
    """One page of platform orders, as parsed JSON objects.

    The cursor contract: ``watermark`` is a time such that every order updated at
    or after the poll's ``since`` and before ``watermark`` is in this page or an
    earlier page of the same fetch. A connector sets it only where it can promise
    that (the end of a time window it read whole, the platform's own
    "consistent up to" value, the last page of a scan); ``None`` promises
    nothing yet. The poll moves the channel's cursor to the last watermark it
    saw once every page up to it is committed, so an order edited or created
    while pages were being read is read again, never skipped. A connector that
    stops early (rate budget spent) simply yields no further watermark: the next
    poll resumes from the last one.
    """

    orders: list[dict]
    watermark: dt.datetime | None = None


@dataclass
class ShipmentResult:
    ok: bool
    detail: str = ""
    status_code: int | None = None


# --- small parsing helpers shared by connectors ---------------------------------------

def require(data: Mapping, key: str, what: str = "order"):
    if not isinstance(data, Mapping):
        raise NormalizationError(f"{what} is not an object")
    value = data.get(key)
    if value is None or value == "":
        raise NormalizationError(f"{what} has no “{key}”")
    return value


def money(value, what: str) -> Decimal:
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise NormalizationError(f"{what} is not an amount: {value!r}"[:200])
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise NormalizationError(f"{what} is not an amount: {value!r}"[:200]) from exc
    if not amount.is_finite():
        raise NormalizationError(f"{what} is not an amount: {value!r}"[:200])
    return amount.quantize(Decimal("0.01"))


def quantity(value, what: str) -> int:
    if isinstance(value, bool):
        raise NormalizationError(f"{what} is not a quantity: {value!r}")
    try:
        qty = int(str(value))
    except (TypeError, ValueError) as exc:
        raise NormalizationError(f"{what} is not a quantity: {value!r}"[:200]) from exc
    if qty < 1:
        raise NormalizationError(f"{what} must be at least 1, not {qty}")
    return qty


def timestamp(value, what: str, *, naive_tz: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise NormalizationError(f"{what} is not a date: {value!r}"[:200])
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise NormalizationError(f"{what} is not a date: {value!r}"[:200])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed.astimezone(dt.UTC)


def _is_cjk(value: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"
               or "\u3040" <= ch <= "\u30ff" or "\uac00" <= ch <= "\ud7af" for ch in value)


def person_name(first, last) -> str:
    """A name from first/given and last/family parts, written as its owner writes it.

    Chinese, Japanese and Korean names put the family name first without a space
    (``王`` + ``伟`` → ``王伟``); others are "first last".
    """
    first, last = text(first).strip(), text(last).strip()
    if _is_cjk(first + last):
        return f"{last}{first}"
    return " ".join(part for part in (first, last) if part)


def is_gift_line(name, unit_price: Decimal | None, keywords=GIFT_KEYWORDS) -> bool:
    """A free gift: its name carries a gift keyword (``【赠品】``...), whatever its price.

    A zero price alone is not enough for every platform (a 100 % discount is not a
    gift); connectors add ``unit_price == 0`` where the platform means that.
    """
    lowered = text(name).lower()
    return any(word and word.lower() in lowered for word in keywords)


def text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    raise NormalizationError(f"expected text, got {type(value).__name__}")


def iso_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class Connector:
    """Base class: one subclass per platform, chosen by ``Channel.platform``.

    Subclasses override the hooks below. HTTP goes through ``request`` so every
    connector gets the same retry policy: 429 and 5xx and timeouts are retried
    with exponential backoff and jitter (honouring ``Retry-After``), 401/403
    raise ``AuthError``, other 4xx ``PermanentError``.
    """

    platform = ""
    max_attempts = 5
    backoff_base = 1.0
    backoff_cap = 60.0
    supports_webhooks = False

    def __init__(self, channel, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.channel = channel
        self.config = dict(channel.config or {})
        self._credentials: dict | None = None
        self.client = client or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0),
                                             headers={"User-Agent": "OrderHub/0.1"})
        self.sleep = sleep

    @property
    def credentials(self) -> dict:
        if self._credentials is None:
            self._credentials = self.channel.credentials
        return self._credentials

    def credential(self, key: str) -> str:
        value = self.credentials.get(key)
        if not value:
            raise AuthError(f"The channel has no “{key}” credential.")
        return str(value)

    def close(self) -> None:
        self.client.close()

    # --- hooks --------------------------------------------------------------------

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        """Yield pages of orders updated at or after ``since`` (all of them if None)."""
        raise NotImplementedError

    def external_id(self, raw: dict) -> str:
        raise NotImplementedError

    def updated_at(self, raw: dict) -> dt.datetime | None:
        raise NotImplementedError

    def normalize(self, raw: dict) -> NormalizedOrder:
        """Turn one platform order into the hub's shape or raise NormalizationError."""
        raise NotImplementedError

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        """True only when the request carries a valid signature for ``body``."""
        return False

    def webhook_orders(self, *, data, headers: Mapping[str, str]) -> list[dict]:
        """The platform orders inside a verified webhook body."""
        return [data] if isinstance(data, dict) else []

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None,
                      platform_data: dict | None = None) -> ShipmentResult:
        """Tell the platform the order shipped.

        ``carrier`` is already the platform's own carrier name/code
        (``carrier_name``); ``platform_data`` is what ``normalize`` kept on the
        order (Amazon: its marketplace). Raise ``AmbiguousReply`` when the
        request may have taken effect but the reply does not say so.
        """
        raise PermanentError(f"{self.platform or 'this channel'} does not accept shipments")

    def confirm_shipment(self, *, external_id: str, tracking_number: str,
                         platform_data: dict | None = None) -> bool | None:
        """Read the order back: True if the platform already holds this shipment,
        False if it certainly does not, None if it cannot tell."""
        return None

    # Hub carrier company (CARRIER_COMPANIES key) -> this platform's carrier name/code.
    CARRIER_NAMES: dict[str, str] = {}

    def carrier_name(self, company: str, fallback: str = "") -> str:
        """The platform's own name/code for a carrier company: the channel's
        ``carrier_map`` first, then the connector's defaults, then ``fallback``."""
        override = self.config.get("carrier_map") or {}
        if isinstance(override, dict) and override.get(company):
            return str(override[company])
        return self.CARRIER_NAMES.get(company) or fallback or CARRIER_COMPANIES.get(company, "")

    def gift_keywords(self) -> tuple[str, ...]:
        extra = self.config.get("gift_keywords") or ()
        if isinstance(extra, str):
            extra = [word.strip() for word in extra.split(",")]
        return (*GIFT_KEYWORDS, *(str(word) for word in extra if word))

    def count_orders(self, *, start: dt.datetime, end: dt.datetime) -> int | None:
        """Orders the platform says were created in [start, end); None if it cannot tell."""
        return None

    def orders_from_file(self, data) -> list[dict]:
        """The orders inside a file: a JSON list, or the platform's own list response.

        Raise NormalizationError for anything else; the file import then takes an
        object it is given as one order (``channels.services.files.import_file``).
        """
        if isinstance(data, list):
            return data
        raise NormalizationError("expected a JSON list of orders")

    # --- HTTP --------------------------------------------------------------------

    def before_request(self, request_kwargs: dict) -> None:
        """Adjust headers/auth before each attempt (tokens, pacing)."""

    def after_response(self, response: httpx.Response) -> None:
        """Look at rate-limit headers of any response."""

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            self.before_request(kwargs)
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # timeouts included: a read may be repeated
                if attempt >= self.max_attempts:
                    failure = (f"timed out after {attempt} tries"
                               if isinstance(exc, httpx.TimeoutException)
                               else f"cannot connect ({type(exc).__name__})")
                    raise ConnectorError(f"{self.platform}: {failure}") from exc
                self._backoff(attempt, None)
                continue
            self.after_response(response)
            error = status_error(self.platform, response.status_code,
                                 self.error_text(response) if response.is_error else "")
            if error is None:
                return response
            if not error.retryable:
                raise error
            if attempt >= self.max_attempts:
                raise ConnectorError(f"{error.message} (after {attempt} tries)",
                                     status_code=error.status_code)
            self._backoff(attempt, parse_retry_after(response.headers.get("Retry-After")))

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, self.backoff_cap * 5)
        else:
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
            delay = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        logger.info("%s: backing off %.1fs (attempt %s)", self.platform, delay, attempt)
        self.sleep(delay)

    def error_text(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            return response.text[:200]
        return str(data)[:300]

    def json(self, response: httpx.Response):
        try:
            return response.json()
        except ValueError as exc:
            raise PermanentError(
                f"{self.platform}: the response is not JSON ({response.text[:100]!r})") from exc


# --- HTTP statuses, mapped once (orderhub.adapters) ----------------------------------------

def channel_error(error: AdapterError) -> ConnectorError:
    """``error`` as the channel class of the same kind (``AuthError``, ``PermanentError``
    or a retryable ``ConnectorError``), message and status kept."""
    if isinstance(error, ConnectorError):
        return error
    if isinstance(error, AdapterAuthError):
        cls = AuthError
    elif isinstance(error, AdapterPermanentError) or not error.retryable:
        cls = PermanentError
    else:
        cls = ConnectorError
    return cls(error.message, status_code=error.status_code)


def status_error(platform: str, status: int, detail: str, *,
                 write: bool = False) -> ConnectorError | None:
    """The error for a platform's HTTP status, None for 2xx/3xx.

    ``orderhub.adapters.http_status_error`` decides the kind (429/5xx retryable,
    401/403 auth, other 4xx permanent). ``write``: the request changed something,
    and a 5xx may come after the platform recorded it, so it is an
    ``AmbiguousReply`` (read the order back before sending again); 429 is a
    refusal before anything happened and stays a plain retryable error.
    """
    error = http_status_error(status, detail, vendor=platform)
    if error is None:
        return None
    if write and error.retryable and status != 429:
        return AmbiguousReply(f"{error.message}; the platform may have recorded it",
                              status_code=status)
    return channel_error(error)


# --- small pieces every connector's normalize and webhook repeat --------------------------

def line_items(raw: Mapping, key: str, *, missing: str = "") -> Iterator[tuple[str, dict]]:
    """``(path, item)`` for each line object in ``raw[key]`` (path ``key[i]`` for messages).

    A missing or empty list raises ``missing`` (default "order has no KEY"), a line
    that is not an object says which one it is.
    """
    items = raw.get(key)
    if not isinstance(items, list) or not items:
        raise NormalizationError(missing or f"order has no {key}")
    for i, item in enumerate(items):
        what = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise NormalizationError(f"{what} is not an object")
        yield what, item


def required_time(value: dt.datetime | None, key: str, what: str = "order") -> dt.datetime:
    """A parsed time the order cannot be stored without (when it was placed)."""
    if value is None:
        raise NormalizationError(f"{what} has no “{key}”")
    return value


def hmac_sha256_base64_matches(secret: str, body: bytes, given: str) -> bool:
    """Whether ``given`` is the base64 HMAC-SHA256 of ``body`` under ``secret`` (the
    webhook signature of Shopify and WooCommerce); False when either is missing."""
    if not given or not secret:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), given.strip())
