"""Reading orders by modified-time window (see ``channels.connectors.cn``): the window
plan, the backward page scan that notices pages shifting under it, the window split,
pacing and recipient decryption; the per-platform parts are the hooks at the end of
``WindowedConnector``."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from channels.connectors.base import (
    Connector,
    ConnectorError,
    FetchedPage,
    NormalizationError,
    PermanentError,
    text,
)
from channels.connectors.cn_values import cn_time, decryption_configured

logger = logging.getLogger(__name__)


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
