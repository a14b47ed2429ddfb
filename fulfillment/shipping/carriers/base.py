"""The interface every carrier adapter implements, and shared HTTP plumbing.

An adapter knows one carrier API: signing, request shapes, the response
envelope and its error codes. Services only see ``Parcel``, ``Booking``,
``TrackEvent`` and the errors below. Adapters make ONE HTTP call per
operation and never retry: the waybill outbox retries with its attempt rows,
so a retried booking is always visible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from orderhub.adapters import (
    AdapterAuthError,
    AdapterError,
    AdapterPermanentError,
    http_status_error,
)

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

# Milestones (the values of Waybill.Milestone).
COLLECTED = "collected"
IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERED = "delivered"
EXCEPTION = "exception"


class CarrierError(AdapterError):
    """A call to the carrier failed; ``retryable`` says whether trying later may help."""


class CarrierTimeout(CarrierError):
    """No answer in time: the carrier may or may not have acted."""


class CarrierRefused(CarrierError, AdapterPermanentError):
    """The carrier refused the request itself (bad address, bad credentials): a person acts."""

    retryable = False


class CarrierAuthError(CarrierRefused, AdapterAuthError):
    """The carrier refused our credentials (HTTP 401/403)."""


def carrier_http_error(status: int, detail: str, *, vendor: str) -> CarrierError | None:
    """``orderhub.adapters.http_status_error`` as the carrier error class callers catch."""
    error = http_status_error(status, detail, vendor=vendor)
    if error is None:
        return None
    if isinstance(error, AdapterAuthError):
        cls = CarrierAuthError
    elif error.retryable:
        cls = CarrierError
    else:
        cls = CarrierRefused
    return cls(error.message, status_code=status)


@dataclass(frozen=True)
class Party:
    name: str
    phone: str
    province: str
    city: str
    district: str
    street: str
    company: str = ""
    country: str = "CN"

    def __repr__(self):
        # Never let personal data reach a log line through a repr.
        return f"Party(province={self.province!r}, city={self.city!r})"

    @property
    def full_address(self) -> str:
        """Chinese addresses run together (上海市浦东新区…); others read with spaces."""
        joiner = "" if self.country in ("", "CN") else " "
        return joiner.join(p for p in (self.province, self.city, self.district, self.street)
                           if p)


@dataclass(frozen=True)
class Parcel:
    """What a booking needs: our own unique reference, both parties and the goods."""

    reference: str
    sender: Party
    recipient: Party
    items: list[tuple[str, int]]  # (name, quantity)
    weight_kg: float = 1.0
    service: str = ""
    monthly_account: str = ""
    remark: str = ""

    def __repr__(self):
        return f"Parcel({self.reference!r})"

    @property
    def count(self) -> int:
        return sum(q for _n, q in self.items) or 1


@dataclass
class Booking:
    tracking_number: str
    carrier_order_id: str = ""
    label_data: dict = field(default_factory=dict)
    status_code: int | None = None


@dataclass(frozen=True)
class TrackEvent:
    occurred_at: dt.datetime
    description: str
    place: str = ""
    milestone: str = ""
    raw: dict = field(default_factory=dict, compare=False, hash=False)


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the vendors' scheme


def carrier_time(value: str) -> dt.datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` in China time (how SF and Kuaidi100 send times) → aware UTC."""
    try:
        naive = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except (AttributeError, ValueError):
        return None
    return naive.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


class CarrierAdapter:
    """Base class: one subclass per ``CarrierAccount.kind``."""

    kind = ""
    default_base_url = ""
    # Whether tracking arrives by push (subscribe after booking) and by polling.
    supports_push = False

    def __init__(self, account, *, client: httpx.Client | None = None):
        self.account = account
        self._credentials: dict | None = None
        self.client = client or httpx.Client(timeout=TIMEOUT,
                                             headers={"User-Agent": "OrderHub/0.1"})

    @property
    def base_url(self) -> str:
        return (self.account.base_url or self.default_base_url).rstrip("/")

    @property
    def credentials(self) -> dict:
        if self._credentials is None:
            self._credentials = self.account.credentials
        return self._credentials

    def credential(self, key: str) -> str:
        value = self.credentials.get(key)
        if not value:
            raise CarrierRefused(f"The carrier account has no “{key}” credential.")
        return str(value)

    def close(self) -> None:
        self.client.close()

    # --- the interface ---------------------------------------------------------------

    def book(self, parcel: Parcel) -> Booking:
        """Book the parcel; returns its tracking number and the carrier's label data."""
        raise CarrierRefused(f"{self.kind}: booking is not supported; type the number in.")

    def cancel(self, *, tracking_number: str, reference: str = "") -> None:
        """Cancel a booked waybill (raises CarrierError when the carrier refuses)."""
        raise CarrierRefused(f"{self.kind}: cancel the waybill with the carrier by hand.")

    def track(self, *, tracking_number: str, phone: str = "") -> list[TrackEvent]:
        """All events the carrier knows for the parcel."""
        return []

    def subscribe(self, *, tracking_number: str, callback_url: str, salt: str,
                  phone: str = "") -> None:
        """Ask the carrier to push events to ``callback_url``."""

    def verify_callback(self, *, form: Mapping[str, str], salt: str) -> bool:
        """True only when a pushed callback carries a valid signature."""
        return False

    def parse_callback(self, *, form: Mapping[str, str]) -> tuple[str, list[TrackEvent]]:
        """(tracking number, events) of a verified callback."""
        raise CarrierRefused(f"{self.kind}: no push callbacks")

    # --- HTTP ------------------------------------------------------------------------

    def post_form(self, url: str, data: dict) -> httpx.Response:
        try:
            response = self.client.post(url, data=data)
        except httpx.TimeoutException as exc:
            raise CarrierTimeout(f"{self.kind}: no answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise CarrierError(f"{self.kind}: cannot connect ({type(exc).__name__})") from exc
        error = carrier_http_error(response.status_code, response.text[:200], vendor=self.kind)
        if error is not None:
            raise error
        return response

    def json(self, response: httpx.Response):
        try:
            return response.json()
        except ValueError as exc:
            raise CarrierError(f"{self.kind}: the answer is not JSON ({response.text[:80]!r})",
                               status_code=response.status_code) from exc
