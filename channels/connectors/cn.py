"""What the Chinese platform connectors (Taobao, Pinduoduo, Douyin, Youzan) share.

- Time windows: these platforms answer "what changed between A and B" for a
  short span only (TOP ≤ 1 day, PDD ≤ 30 minutes). ``WindowedConnector``
  walks consecutive windows from the poll's ``since`` up to shortly before
  now, each window paged completely, and yields one page per window whose
  ``watermark`` is the window's end: the channel cursor only moves past a
  window once every order in it was stored, so there is never a gap. After a
  downtime it catches up at most ``max_windows`` windows per poll (the next
  poll goes on from there), pacing its calls to stay under the rate limit.
- Paging: by default a window is read from its last page backwards (the
  platforms sort by modified time, descending, and an order modified during
  the scan leaves the window: reading backwards turns that into a duplicate
  instead of a miss). A window holding more than ``max_window_results``
  orders is split in two and each half read on its own.
- Encrypted recipients: the receiver's name/phone/street arrive as ciphertext
  or masked values. The order keeps what was sent; ``decrypt_recipient``
  asks the platform for the real values when a label needs them (see
  ``channels.recipient``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
from django.core.cache import cache

from channels.connectors.base import (
    CARRIER_COMPANIES,
    NOT_SHIPPED,
    PARTIALLY_SHIPPED,
    AmbiguousReply,
    AuthError,
    Connector,
    ConnectorError,
    FetchedPage,
    NormalizationError,
    NormalizedLine,
    NormalizedShipment,
    PermanentError,
    ShipmentResult,
    is_gift_line,
    text,
    timestamp,
)
from channels.connectors.once import send_once
from channels.crypto import CredentialsUnreadable, decrypt_text, encrypt_text

logger = logging.getLogger(__name__)

_TOKEN_IN_URL = re.compile(r"((?:access_token|session|sign)=)[^&\s\"]+", re.I)


class RedactTokensFilter(logging.Filter):
    """httpx logs each request's URL; Douyin and Youzan carry the access token in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_URL.sub(r"\1***", str(a)) if "=" in str(a) else a
                                for a in record.args)
        return True


if not any(isinstance(f, RedactTokensFilter) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(RedactTokensFilter())

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Platforms whose recipient data arrives encrypted or masked.
ENCRYPTED_PLATFORMS = ("taobao", "pinduoduo", "douyin", "youzan")


# --- time ---------------------------------------------------------------------------------

def cn_time(value: dt.datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, as TOP/Douyin/Youzan want it."""
    return value.astimezone(SHANGHAI).strftime(CN_TIME_FORMAT)


def parse_cn_time(value, what: str) -> dt.datetime | None:
    """A platform time: naive text in Beijing time, or epoch seconds; returned in UTC."""
    if isinstance(value, bool):
        raise NormalizationError(f"{what} is not a date: {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = int(value)
        if seconds <= 0:
            return None
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    return timestamp(value, what, naive_tz=SHANGHAI)


def epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


# --- signatures ---------------------------------------------------------------------------

def sorted_concat(params: Mapping[str, object]) -> str:
    """``k1v1k2v2…``: params sorted by name (ASCII), ``sign`` and empty values left out."""
    return "".join(f"{k}{v}" for k, v in sorted(params.items())
                   if k != "sign" and v is not None and v != "")


def md5_wrapped(secret: str, message: str) -> str:
    """``UPPER(MD5(secret + message + secret))`` (TOP ``md5``, Pinduoduo)."""
    return hashlib.md5(f"{secret}{message}{secret}".encode()).hexdigest().upper()  # noqa: S324


def hmac_hex(secret: str, message: str, digest) -> str:
    return hmac.new(secret.encode(), message.encode(), digest).hexdigest()


# --- encrypted values ---------------------------------------------------------------------

_CIPHER = re.compile(r"^([$~#]).{6,}\1$", re.S)


def looks_encrypted(value) -> bool:
    """True for the platforms' ciphertext forms: ``$…$``, ``~…~``, ``#…#`` (search-able
    ciphertexts of TOP, PDD, Douyin and Youzan all start and end with one of these)."""
    return isinstance(value, str) and bool(_CIPHER.match(value.strip()))


def as_sent(value, limit: int) -> str:
    """A masked or encrypted value as the platform sent it, cut to fit the column."""
    value = text(value)
    return value if len(value) <= limit else value[:limit - 1] + "…"


def clear_region(value, what: str) -> str:
    """Province/city/district arrive in clear and are needed for routing: refuse ciphertext."""
    if isinstance(value, Mapping):  # Douyin sends {"id": ..., "name": ...}
        value = value.get("name")
    value = text(value).strip()
    if looks_encrypted(value):
        raise NormalizationError(f"{what} is encrypted, but the province, city and district "
                                 f"must arrive in clear for routing")
    return value


def clear_phone(value) -> str:
    """The phone when the platform sent a readable number, else "" (masked/cipher).

    Masked (``138****5678``) and encrypted phones are not phone numbers: they
    stay in the stored payload for the decrypt step, never in a phone field.
    """
    value = text(value).strip()
    if not value or looks_encrypted(value) or "*" in value:
        return ""
    return value


# --- windows ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime

    @property
    def span(self) -> dt.timedelta:
        return self.end - self.start

    def halves(self) -> tuple[Window, Window]:
        middle = self.start + dt.timedelta(seconds=math.ceil(self.span.total_seconds() / 2))
        return Window(self.start, middle), Window(middle, self.end)


def plan_windows(*, since: dt.datetime, until: dt.datetime, size: dt.timedelta,
                 max_windows: int) -> list[Window]:
    """Consecutive windows from ``since`` towards ``until``, each at most ``size`` long.

    Each window starts where the previous one ended (no gap, no overlap); at
    most ``max_windows`` are planned, the rest is left for the next poll.
    """
    windows = []
    start = since.replace(microsecond=0)
    until = until.replace(microsecond=0)
    while start < until and len(windows) < max_windows:
        end = min(start + size, until)
        windows.append(Window(start, end))
        start = end
    return windows


class WindowTooLarge(Exception):
    """The platform holds more orders in the window than may be paged through."""

    def __init__(self, total: int | None):
        super().__init__(f"{total} orders in the window")
        self.total = total


@dataclass
class ListPage:
    orders: list[dict]
    total: int | None = None
    has_next: bool = False


class WindowedConnector(Connector):
    """A connector that lists orders by modified-time window (see the module docstring)."""

    window_minutes = 30
    max_window_minutes = 24 * 60
    # Orders may show up in the platform's index a little late; PDD asks for 3 minutes.
    window_lag_seconds = 60
    min_lag_seconds = 0
    max_windows = 48
    page_size = 100
    max_window_results = 5000
    min_split_seconds = 60
    retention_days = 90
    calls_per_second = 2.0
    # Platform errors that may pass (throttling, platform-side faults) are tried again.
    max_call_attempts = 4
    # How often a window whose pages shifted under the scan is read again in one poll.
    max_rescans = 3

    def __init__(self, channel, *, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], dt.datetime] | None = None, **kwargs):
        super().__init__(channel, **kwargs)
        self.clock = clock
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self._last_call: float | None = None

    # --- settings ---

    def setting(self, key: str, default):
        value = self.config.get(key, default)
        try:
            return type(default)(value)
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"{self.platform}: setting “{key}” is not valid: "
                                 f"{value!r}") from exc

    @property
    def window_size(self) -> dt.timedelta:
        minutes = self.setting("window_minutes", self.window_minutes)
        return dt.timedelta(minutes=max(1, min(minutes, self.max_window_minutes)))

    @property
    def paging(self) -> str:
        mode = str(self.config.get("paging", "backward"))
        if mode not in ("backward", "has_next"):
            raise PermanentError(f"{self.platform}: setting “paging” must be “backward” "
                                 f"or “has_next”, not {mode!r}")
        return mode

    # --- pacing ---

    def pace(self) -> None:
        """Keep successive calls at least 1/calls_per_second apart."""
        rate = self.setting("calls_per_second", self.calls_per_second)
        if rate <= 0:
            return
        now = self.clock()
        if self._last_call is not None:
            wait = self._last_call + 1 / rate - now
            if wait > 0:
                self.sleep(wait)
                now += wait
        self._last_call = now

    def call_with_retries(self, attempt_call: Callable[[], dict]) -> dict:
        """Run one platform call; retry platform-side errors with backoff."""
        attempt = 0
        while True:
            attempt += 1
            self.pace()
            try:
                return attempt_call()
            except ConnectorError as exc:
                if not exc.retryable or attempt >= self.max_call_attempts:
                    raise
                self._backoff(attempt, getattr(exc, "retry_after", None))

    # --- windows ---

    def fetch_orders(self, *, since: dt.datetime | None) -> Iterator[FetchedPage]:
        now = self.now()
        oldest = now - dt.timedelta(days=self.retention_days) + dt.timedelta(minutes=5)
        since = since or now - dt.timedelta(days=self.channel.backfill_days)
        if since < oldest:
            logger.warning("channel %s: the platform keeps %s days only; reading from %s",
                           self.channel.code, self.retention_days, oldest.isoformat())
            since = oldest
        lag = max(self.min_lag_seconds, self.setting("window_lag_seconds",
                                                     self.window_lag_seconds))
        until = now - dt.timedelta(seconds=lag)
        for window in plan_windows(since=since, until=until, size=self.window_size,
                                   max_windows=self.setting("max_windows", self.max_windows)):
            yield FetchedPage(orders=self.window_orders(window), watermark=window.end)

    def window_orders(self, window: Window) -> list[dict]:
        """Every order of the window, each once, with its details."""
        return self.complete(self.unique(self.list_window(window)))

    def list_window(self, window: Window) -> list[dict]:
        """The window's list entries, split in halves while it holds too many."""
        try:
            return self.page_through(window)
        except WindowTooLarge as exc:
            if window.span.total_seconds() <= self.min_split_seconds:
                raise PermanentError(
                    f"{self.platform}: {exc.total} orders changed between "
                    f"{cn_time(window.start)} and {cn_time(window.end)}, more than can be "
                    f"paged ({self.max_window_results}); the window cannot be split further"
                ) from exc
            logger.info("channel %s: %s; splitting the window", self.channel.code, exc)
            first, second = window.halves()
            return self.list_window(first) + self.list_window(second)

    def page_through(self, window: Window) -> list[dict]:
        page_size = self.setting("page_size", self.page_size)
        limit = self.setting("max_window_results", self.max_window_results)
        max_pages = max(1, limit // page_size)
        pages: list[list[dict]] = []
        if self.paging == "has_next":
            # Forward paging has no total to see a shift by: "backward" (the default)
            # is the mode that cannot lose an order; this one is for faster reads.
            number = 1
            while True:
                page = self.list_page(window, number, page_size, use_has_next=True)
                pages.append(page.orders)
                if not page.has_next:
                    break
                if number >= max_pages:
                    raise WindowTooLarge(None)
                number += 1
        else:
            for _scan in range(self.max_rescans + 1):
                pages = self.scan_backwards(window, page_size, limit)
                if pages is not None:
                    break
                logger.info("channel %s: orders of %s..%s changed while they were read; "
                            "reading the window again", self.channel.code,
                            cn_time(window.start), cn_time(window.end))
            else:
                # Still shifting: give up on this window for now. No watermark moves past
                # it, so the next poll reads it again; nothing is skipped.
                raise ConnectorError(f"{self.platform}: the orders changed between "
                                     f"{cn_time(window.start)} and {cn_time(window.end)} "
                                     f"while they were read, {self.max_rescans + 1} times; "
                                     f"trying again on the next poll")
        return [order for page in pages for order in page]

    def scan_backwards(self, window: Window, page_size: int,
                       limit: int) -> list[list[dict]] | None:
        """The window's pages, read from the last to the first; None if they shifted.

        The list is sorted by modified time, newest first. An order modified while
        the window is read leaves it (its new time is after the window's end), which
        moves every later order one place up: an order could slip from the page
        not yet read to the one already read. Every page reports the window's
        total, so a total that differs from the first one says the pages moved, and
        the window is read again (an order that left the window is read by the
        window its new time falls in).
        """
        first = self.list_page(window, 1, page_size, use_has_next=False)
        if first.total is None:
            raise PermanentError(f"{self.platform}: the order list has no total count, "
                                 f"so it cannot be read from the last page backwards")
        if first.total > limit:
            raise WindowTooLarge(first.total)
        last = max(1, math.ceil(first.total / page_size))
        if last == 1:
            return [first.orders]
        pages = []
        # From the last page back to the first (page 1 again: it may have moved).
        for number in range(last, 0, -1):
            page = self.list_page(window, number, page_size, use_has_next=False)
            if page.total != first.total:
                return None
            pages.append(page.orders)
        # An order leaving and another arriving between two reads leave the total as
        # it was; the first page read twice (first and last) shows it.
        if self._keys(first.orders) != self._keys(pages[-1]):
            return None
        return pages

    def _keys(self, orders: list[dict]) -> list[str]:
        keys = []
        for order in orders:
            try:
                keys.append(self.list_key(order))
            except NormalizationError:
                keys.append("?")
        return keys

    def unique(self, orders: list[dict]) -> list[dict]:
        """Each order once: a later read of the same order wins."""
        by_id: dict[str, dict] = {}
        for order in orders:
            try:
                key = self.list_key(order)
            except NormalizationError:
                key = f"#{len(by_id)}"  # unreadable: keep it, the pipeline quarantines it
            by_id.pop(key, None)
            by_id[key] = order
        return list(by_id.values())

    def updated_at(self, raw: dict) -> dt.datetime | None:
        # The window watermarks move the cursor: an order's own modified time can
        # be later than the windows read so far, and must not skip the rest.
        return None

    # --- hooks for subclasses ---

    def list_page(self, window: Window, page: int, page_size: int, *,
                  use_has_next: bool) -> ListPage:
        raise NotImplementedError

    def list_key(self, order: dict) -> str:
        return self.external_id(order)

    def complete(self, orders: list[dict]) -> list[dict]:
        """Fetch whatever details the list leaves out (TOP: trade.fullinfo.get)."""
        return orders

    # --- recipient decryption ---

    @property
    def decrypt_configured(self) -> bool:
        return decryption_configured(self.channel)

    def recipient_ciphertexts(self, raw: dict) -> dict[str, str]:
        """{"name"|"phone"|"street": value as sent} for the encrypted/masked fields."""
        return {}

    def decrypt_recipient(self, raw: dict) -> dict[str, str]:
        """The real name/phone/street for ``raw`` (a stored platform order): its
        encrypted fields sent to the platform's batch decrypt (``decrypt_values``);
        every one must come back.

        The answer must never be stored or logged: it is for one label.
        """
        ciphers = self.recipient_ciphertexts(raw)
        if not ciphers:
            return {}
        plain = self.decrypt_values(raw, list(ciphers.values()))
        missing = [k for k, c in ciphers.items() if not plain.get(c)]
        if missing:
            raise PermanentError(f"{self.platform}: {self.decrypt_api} did not decrypt "
                                 f"{', '.join(missing)}")
        return {k: text(plain[c]) for k, c in ciphers.items()}

    decrypt_api = "decrypt"

    def decrypt_values(self, raw: dict, ciphertexts: list[str]) -> dict[str, str]:
        """{ciphertext: plain text} from the platform's decrypt API."""
        raise PermanentError(f"{self.platform}: no decryption API")


def decryption_configured(channel) -> bool:
    """Whether the channel may call the platform's decrypt API (set by an admin)."""
    return bool((channel.config or {}).get("decrypt_enabled"))


def retry_after_from_text(message: str) -> float | None:
    """TOP's ban message says "This ban will last for 71 more seconds"."""
    match = re.search(r"(\d+)\s*more\s*seconds", message or "")
    return float(match.group(1)) if match else None


def xml_error(body: str) -> str:
    """A readable summary of an XML answer (the platforms' XML error shape) for the log."""
    code = re.search(r"<code>([^<]{0,40})</code>", body)
    msg = re.search(r"<msg>([^<]{0,200})</msg>", body)
    parts = [f"code {code.group(1)}" if code else "", msg.group(1) if msg else ""]
    return ": ".join(p for p in parts if p) or body[:100]


def platform_error(cls: type[ConnectorError], message: str, *, retry_after: float | None = None,
                   status_code: int | None = None) -> ConnectorError:
    exc = cls(message, status_code=status_code)
    exc.retry_after = retry_after
    return exc


# --- the platforms' own error codes -------------------------------------------------------
# Each platform answers HTTP 200 with an error object; its adapter reads the code and
# names its code sets, the kind of error is decided here the same way for all four.

def error_code(value) -> int | None:
    """A platform's error code as a number (None when it sends none or text)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_message(platform: str, code, msg, sub_code: str = "", sub_msg="") -> str:
    """``platform: error CODE: msg (sub_code: sub_msg)``, cut for the log and the channel."""
    message = f"{platform}: error {code}: {text(msg)}"
    if sub_code:
        message += f" ({sub_code}: {text(sub_msg)})"
    return message[:500]


def coded_error(message: str, code: int | None, *, auth=(), retry=(),
                retryable: bool = False, retry_after: float | None = None) -> ConnectorError:
    """The error for a platform error code: ``auth`` codes need a person (AuthError),
    ``retry`` codes (throttling, a fault on the platform's side) or ``retryable`` are
    tried again later, anything else is the request's own fault (PermanentError)."""
    if code in auth:
        return AuthError(message)
    if retryable or code in retry:
        return platform_error(ConnectorError, message, retry_after=retry_after)
    return PermanentError(message)


def check_json_response(platform: str, response) -> dict:
    """The JSON body, or a clear error when the platform answered XML/HTML instead."""
    body = response.text
    stripped = body.lstrip()
    if stripped.startswith("<"):
        raise PermanentError(f"{platform}: the platform answered XML although JSON was asked "
                             f"({xml_error(stripped)})")
    try:
        data = response.json()
    except ValueError as exc:
        raise PermanentError(f"{platform}: the response is not JSON ({body[:100]!r})") from exc
    if not isinstance(data, dict):
        raise PermanentError(f"{platform}: the response is not a JSON object")
    return data


# --- gifts, shipments, write-back ---------------------------------------------------------

def mark_gifts(lines: list[NormalizedLine], keywords, *, main_of: Mapping[str, str] | None = None
               ) -> list[NormalizedLine]:
    """Mark free gifts and bind each to the item it comes with.

    A line is a gift when the platform flags it (``is_gift`` already set), when its
    name carries a gift keyword, or when its list price is zero (a zero list price
    is how these platforms carry a gift; a 100 % discount keeps its list price).
    ``main_of`` is the platform's own binding (gift line id → main line id); without
    it a gift belongs to the first line that is not a gift.
    """
    for line in lines:
        if not line.is_gift and (line.unit_price == 0
                                 or is_gift_line(line.name, line.unit_price, keywords)):
            line.is_gift = True
    mains = [line.external_line_id for line in lines if not line.is_gift]
    for line in lines:
        if line.is_gift and not line.gift_for:
            bound = (main_of or {}).get(line.external_line_id, "")
            line.gift_for = bound if bound in mains else (mains[0] if mains else "")
    return lines


def shipped_lines(lines: list[NormalizedLine], shipments: list[NormalizedShipment],
                  *, whole: bool) -> str:
    """Set ``shipped_quantity`` per line from the parcels; the fulfilment they add up to.

    ``whole``: the platform says every line left (then each line is shipped in full).
    Otherwise the parcels' line quantities count, and an order with some but not
    all units shipped is PARTIALLY_SHIPPED.
    """
    by_id = {line.external_line_id: line for line in lines}
    for shipment in shipments:
        for line_id, qty in shipment.lines.items():
            if line_id in by_id:
                line = by_id[line_id]
                line.shipped_quantity = min(line.quantity, line.shipped_quantity + qty)
    if whole:
        for line in lines:
            line.shipped_quantity = line.quantity
        return ""
    if any(line.shipped_quantity for line in lines):
        return PARTIALLY_SHIPPED
    return NOT_SHIPPED


def group_parcels(rows) -> list[NormalizedShipment]:
    """Parcels from ``(carrier, tracking, shipped_at, line_id, qty)`` rows: one per
    tracking number, lines summed; rows without a tracking number are left out."""
    parcels: dict[tuple[str, str], NormalizedShipment] = {}
    for carrier, tracking, shipped_at, line_id, qty in rows:
        tracking = text(tracking).strip()
        if not tracking:
            continue
        key = (text(carrier).strip(), tracking)
        parcel = parcels.setdefault(key, NormalizedShipment(
            carrier=key[0], tracking_number=tracking, shipped_at=shipped_at))
        if line_id:
            parcel.lines[line_id] = parcel.lines.get(line_id, 0) + qty
        if shipped_at and (parcel.shipped_at is None or shipped_at < parcel.shipped_at):
            parcel.shipped_at = shipped_at
    return list(parcels.values())


def holds_tracking(order, tracking_number: str) -> bool | None:
    """For ``confirm_shipment``: True if the normalized order carries the parcel,
    False if it certainly does not."""
    wanted = text(tracking_number).strip().upper()
    if any(s.tracking_number.strip().upper() == wanted for s in order.shipments):
        return True
    return False


class WriteMixin:
    """One attempt for a call that changes the platform (a shipment), never retried here.

    A write retried blindly after a timeout may ship twice, and one marked failed
    after a lost reply may have gone through: a reply that does not say what
    happened raises ``AmbiguousReply`` and the outbox reads the order back
    (``confirm_shipment``) before it tries again.
    """

    # The channel setting that mapped carriers before ``carrier_map`` (still honoured).
    legacy_carrier_setting = ""

    def platform_carrier(self, carrier: str) -> str:
        """The platform's code for ``carrier``: a hub carrier company (``SF``) is
        translated (``carrier_map``, the old per-platform setting, ``CARRIER_NAMES``);
        anything else is taken to be the platform's own code already."""
        key = text(carrier).strip()
        legacy = self.config.get(self.legacy_carrier_setting) if self.legacy_carrier_setting \
            else None
        if isinstance(legacy, dict) and legacy.get(key) not in (None, ""):
            return text(legacy[key])
        if key.upper() in CARRIER_COMPANIES:
            return self.carrier_name(key.upper(), fallback=key)
        return key

    def write_request(self, method: str, url: str, **kwargs) -> httpx.Response:
        # The same one-attempt send and status mapping as Shopify's and WooCommerce's.
        return send_once(self, method, url, **kwargs)

    def write_json(self, response: httpx.Response) -> dict:
        """The reply of a write, or AmbiguousReply when it is cut off or not JSON."""
        try:
            data = response.json()
        except ValueError as exc:
            raise AmbiguousReply(f"{self.platform}: the answer to the shipment is cut off "
                                 f"or unreadable ({response.text[:80]!r})") from exc
        if not isinstance(data, dict):
            raise AmbiguousReply(f"{self.platform}: the answer to the shipment is not an "
                                 f"object")
        return data

    def post_json(self, url: str, *, write: bool, **kwargs) -> dict:
        """POST and return the JSON object: a read through ``request`` (retried), a
        write through ``write_request`` (once, unclear answers are AmbiguousReply)."""
        if write:
            return self.write_json(self.write_request("POST", url, **kwargs))
        return check_json_response(self.platform, self.request("POST", url, **kwargs))

    def router_call(self, method: str, response_key: str, business: dict, *,
                    write: bool = False) -> dict:
        """One call to a TOP-style router (Taobao, Pinduoduo): signed form parameters
        (``signed_params``) posted to ``gateway``; the answer is either
        ``{"error_response": {...}}`` (``router_error``) or ``{response_key: {...}}``.

        A read is retried (``call_with_retries``); a write is sent once and an answer
        without its body raises AmbiguousReply.
        """

        def attempt() -> dict:
            data = self.post_json(self.gateway, write=write,
                                  data=self.signed_params(method, business))
            if isinstance(data.get("error_response"), dict):
                raise self.router_error(data["error_response"])
            body = data.get(response_key)
            if isinstance(body, dict):
                return body
            if write:
                raise AmbiguousReply(f"{self.platform}: the answer to {method} has no "
                                     f"“{response_key}”; it may have been recorded")
            raise PermanentError(f"{self.platform}: the answer to {method} has no "
                                 f"“{response_key}”")

        return attempt() if write else self.call_with_retries(attempt)

    def token_call(self, send: Callable[[str], dict], *, answer: Callable[[dict], dict | None],
                   error: Callable[[dict], ConnectorError], expired: type[AuthError],
                   write: bool = False, hint: str = "") -> dict:
        """One call with the shop's access token (Douyin, Youzan): ``send(token)``
        returns the platform's JSON, ``answer`` its result (None: an error, read by
        ``error``). A token the platform calls ``expired`` is renewed once
        (``access_token(renew=True)``): that refusal is definite, so even a write is
        sent again; still refused, it is an AuthError (``hint`` says what to do).
        A read is retried with backoff, a write sent once.
        """
        renewed = False

        def attempt() -> dict:
            nonlocal renewed
            data = send(self.access_token())
            result = answer(data)
            if result is not None:
                return result
            exc = error(data)
            if isinstance(exc, expired) and not renewed:
                renewed = True
                data = send(self.access_token(renew=True))
                result = answer(data)
                if result is not None:
                    return result
                exc = error(data)
            if isinstance(exc, expired) and hint:
                raise AuthError(exc.message + hint)
            raise exc

        return attempt() if write else self.call_with_retries(attempt)

    def access_token(self, *, renew: bool = False) -> str:
        raise NotImplementedError

    def signed_params(self, method: str, business: dict) -> dict:
        raise NotImplementedError

    def router_error(self, error: dict) -> ConnectorError:
        raise NotImplementedError

    # --- shipments -----------------------------------------------------------------

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None,
                      platform_data: dict | None = None) -> ShipmentResult:
        """Check the parcel, translate the carrier (``platform_carrier``), send it once
        (``send_shipment``)."""
        code = self.platform_carrier(carrier)
        problem = self.carrier_problem(code, carrier)
        if problem:
            raise PermanentError(f"{self.platform}: {problem}")
        if not tracking_number:
            raise PermanentError(f"{self.platform}: a tracking number is needed")
        detail = self.send_shipment(external_id=external_id, carrier=code,
                                    tracking_number=tracking_number)
        return ShipmentResult(ok=True, detail=detail, status_code=200)

    def carrier_problem(self, code: str, carrier: str) -> str:
        """Why ``code`` cannot be sent as the platform's carrier ("" if it can)."""
        return "" if code else "a carrier is needed"

    def send_shipment(self, *, external_id: str, carrier: str, tracking_number: str) -> str:
        """Send the shipment (``carrier`` is the platform's code); return a detail text."""
        raise NotImplementedError

    def require_success(self, body: dict, what: str, external_id: str) -> None:
        """A write's ``is_success``: missing is unclear (AmbiguousReply), not true a refusal."""
        if not isinstance(body, dict) or "is_success" not in body:
            raise AmbiguousReply(f"{self.platform}: {what} for {external_id} did not say "
                                 f"whether it succeeded")
        if body.get("is_success") is not True:
            raise PermanentError(f"{self.platform}: {what} refused the shipment of "
                                 f"{external_id}")

    def confirm_shipment(self, *, external_id: str, tracking_number: str,
                         platform_data: dict | None = None) -> bool | None:
        """Read the order back (``read_order``): does it carry the parcel?"""
        try:
            order = self.read_order(external_id)
            if not isinstance(order, dict):
                return None
            return holds_tracking(self.normalize(order), tracking_number)
        except (ConnectorError, NormalizationError):
            return None

    def read_order(self, external_id: str) -> dict | None:
        """The platform order as ``normalize`` takes it (None if the answer has none)."""
        raise NotImplementedError

def cached_secret(key: str) -> str | None:
    """A token cached (encrypted) under ``key``; None when absent or unreadable."""
    cached = cache.get(key)
    if not cached:
        return None
    try:
        return decrypt_text(cached)
    except CredentialsUnreadable:
        return None


def cache_secret(key: str, value: str, seconds: int) -> None:
    cache.set(key, encrypt_text(value), seconds)


def token_error(error: ConnectorError, *, refused: str, failed: str) -> ConnectorError:
    """A failed token request: only a definite refusal of the credentials is an
    AuthError (the channel pauses); throttling and platform faults keep their kind,
    so a platform hiccup is retried and never pauses the channel."""
    if isinstance(error, AuthError):
        return AuthError(f"{refused} ({error.message})")
    return platform_error(type(error), f"{failed} ({error.message})")
