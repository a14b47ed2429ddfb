"""The Chinese platforms' shared values: Beijing time, signatures, ciphertexts, error
codes, gifts and parcels (pure functions, no HTTP). Imported through ``cn``."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from channels.connectors.base import (
    NOT_SHIPPED,
    PARTIALLY_SHIPPED,
    AuthError,
    ConnectorError,
    NormalizationError,
    NormalizedLine,
    NormalizedShipment,
    PermanentError,
    is_gift_line,
    text,
    timestamp,
)

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


def masked_contact(phone) -> dict:
    """``platform_data`` keeping the platform's masked phone (``138****5678``).

    ``clear_phone`` keeps no masked number in the order's phone field, yet it is
    what staff may see when the channel cannot decrypt (``channels.recipient``).
    """
    value = text(phone).strip()
    if "*" in value and not looks_encrypted(value):
        return {"masked": {"phone": value[:32]}}
    return {}


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

def int_or_none(value) -> int | None:
    """A number the platform may send as text (an error code, a status, a count);
    None when it sends none or words."""
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
                  *, whole: bool, shipped_ids=()) -> str:
    """Set ``shipped_quantity`` per line from the parcels; the fulfilment they add up to.

    ``whole``: the platform says every line left (then each line is shipped in full).
    Otherwise the parcels' line quantities count (and ``shipped_ids``, lines the
    platform marks shipped that no parcel lists, count in full), and an order with some but not
    all units shipped is PARTIALLY_SHIPPED.
    """
    if not whole and shipped_ids:
        # A line the platform marks shipped without a parcel listing it still left.
        listed = {lid for s in shipments for lid in s.lines}
        for line in lines:
            if line.external_line_id in set(shipped_ids) - listed:
                line.shipped_quantity = line.quantity
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
