from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation

import httpx

from orderhub.adapters import AdapterError, http_status_error
from orderhub.crypto import CredentialsUnreadable

TIMEOUT = httpx.Timeout(10, connect=5)
MAX_PAGES = 1000  # 2,000 rows a page: two million rows is far beyond any seller's catalogue


class StockSourceError(AdapterError):
    """The ERP could not be read; the message is safe to show (no secrets).

    Permanent unless said otherwise (bad credentials, an unexpected answer,
    rows that are not numbers: the next try reads the same); unreachable,
    429 and 5xx answers are ``retryable``.
    """

    def __init__(self, message: str, *, retryable: bool = False, status_code: int | None = None):
        super().__init__(message, status_code=status_code)
        self.retryable = retryable


def unreachable(vendor: str, exc: Exception) -> StockSourceError:
    return StockSourceError(f"{vendor} unreachable: {exc.__class__.__name__}", retryable=True)


def status_error(vendor: str, status: int) -> StockSourceError:
    """A non-200 answer, retryable as ``orderhub.adapters.http_status_error`` says."""
    mapped = http_status_error(status, "", vendor=vendor)
    return StockSourceError(f"{vendor} answered HTTP {status}",
                            retryable=mapped is not None and mapped.retryable, status_code=status)


class StockAdapter:
    """Reads on-hand quantities per SKU code from an outside system.

    Override ``fetch_on_hand``: return ``{sku_code: units}`` for the whole
    warehouse (summed over lots and locations), or raise ``StockSourceError``.
    Network errors must be turned into ``StockSourceError`` too. Override
    ``fetch_on_hand_for`` when the ERP can be asked for a few SKUs only.

    ``deadline_seconds`` bounds the whole conversation (login and every page),
    not each request: the per-order check must not hold an allocation longer.
    """

    def __init__(self, source, *, client: httpx.Client | None = None,
                 deadline_seconds: float | None = None):
        self.source = source
        self.options = source.options or {}
        self.deadline = (time.monotonic() + deadline_seconds) if deadline_seconds else None
        timeout = httpx.Timeout(deadline_seconds) if deadline_seconds else TIMEOUT
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    @property
    def secret(self) -> str:
        try:
            return self.source.secret
        except CredentialsUnreadable as exc:
            raise StockSourceError(
                "The stored ERP password cannot be decrypted: was CHANNEL_CREDENTIALS_KEY "
                "changed? Enter the password again."
            ) from exc

    def request_timeout(self, vendor: str) -> dict:
        """``timeout=`` for the next request: what is left of the deadline, if any."""
        if self.deadline is None:
            return {}
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StockSourceError(f"{vendor} unreachable: deadline passed", retryable=True)
        return {"timeout": left}

    def fetch_on_hand(self) -> dict[str, int]:
        raise NotImplementedError

    def fetch_on_hand_for(self, codes: list[str]) -> dict[str, int]:
        """On hand of ``codes`` only; a code the ERP does not list holds nothing.

        This fallback reads everything and keeps the codes asked for.
        """
        figures = self.fetch_on_hand()
        return {code: figures.get(code, 0) for code in codes}

    def close(self) -> None:
        self.client.close()


def to_units(value, *, where: str) -> int:
    """ERP quantities come as floats or strings ("12.0"); stock is whole units."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise StockSourceError(f"{where}: quantity {value!r} is not a number") from exc
    if number != number.to_integral_value():
        raise StockSourceError(f"{where}: quantity {value!r} is not a whole number")
    return int(number)


def dig(data, path: str):
    """Follow a dotted path (``data.items``, ``stock.0.qty``) into JSON."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data
