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

The kit is three modules, re-exported here so connectors import from one place:
``cn_values`` (time, signatures, ciphertexts, error codes, gifts, parcels),
``cn_windows`` (``WindowedConnector``: windows, paging, pacing, decryption) and
``cn_calls`` (``WriteMixin``: one-attempt writes, router and token calls, the
shipment write-back).
"""

from __future__ import annotations

from channels.connectors.cn_calls import (
    WriteMixin,
    cache_secret,
    cached_secret,
    token_error,
)
from channels.connectors.cn_values import (
    CN_TIME_FORMAT,
    ENCRYPTED_PLATFORMS,
    SHANGHAI,
    RedactTokensFilter,
    as_sent,
    check_json_response,
    clear_phone,
    clear_region,
    cn_time,
    coded_error,
    decryption_configured,
    epoch,
    error_message,
    group_parcels,
    hmac_hex,
    holds_tracking,
    int_or_none,
    looks_encrypted,
    mark_gifts,
    masked_contact,
    md5_wrapped,
    parse_cn_time,
    platform_error,
    retry_after_from_text,
    shipped_lines,
    sorted_concat,
    xml_error,
)
from channels.connectors.cn_windows import (
    ListPage,
    Window,
    WindowedConnector,
    WindowTooLarge,
    plan_windows,
)

__all__ = [
    "CN_TIME_FORMAT", "ENCRYPTED_PLATFORMS", "SHANGHAI", "ListPage", "RedactTokensFilter",
    "Window", "WindowTooLarge", "WindowedConnector", "WriteMixin", "as_sent",
    "cache_secret", "cached_secret", "check_json_response", "clear_phone", "clear_region",
    "cn_time", "coded_error", "decryption_configured", "epoch", "int_or_none",
    "error_message", "group_parcels", "hmac_hex", "holds_tracking", "looks_encrypted",
    "mark_gifts", "masked_contact", "md5_wrapped", "parse_cn_time", "platform_error",
    "plan_windows",
    "retry_after_from_text", "shipped_lines", "sorted_concat", "token_error", "xml_error",
]
