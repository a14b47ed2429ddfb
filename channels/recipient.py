"""The real recipient of an order, for waybills and labels only.

Some platforms (Taobao, Pinduoduo, Douyin, Youzan) send the recipient's name,
phone and street as ciphertext or masked values; the order stores what the
platform sent (the full ciphertext stays in the order's stored ``RawPayload``).
Only a waybill or a label needs the real values, so shipping asks here at that
moment, the channel's connector asks the platform's decrypt API, and the
answer is never stored or logged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from channels.connectors import ConnectorError, get_connector
from channels.connectors.cn import ENCRYPTED_PLATFORMS, decryption_configured
from channels.models import DecryptAudit, RawPayload
from orderhub.models import Order

NOT_CONFIGURED = "not_configured"
NO_PAYLOAD = "no_payload"
FAILED = "failed"

STATE_MESSAGES = {
    NOT_CONFIGURED: _("The recipient's details are encrypted by the platform and need "
                      "decrypting through the platform before a waybill can be printed."),
    NO_PAYLOAD: _("The recipient's details are encrypted by the platform, and the platform's "
                  "order data is not stored in the hub: poll the channel again."),
    FAILED: _("The platform did not decrypt the recipient's details: %(error)s"),
}


class NeedsPlatformDecryption(Exception):
    """The platform sent ciphertext and the hub cannot get the real values now.

    ``state`` says why: ``not_configured`` (no decryption set up for the
    channel), ``no_payload`` (the ciphertext is not stored) or ``failed``
    (the platform refused; ``detail`` holds its error, never a value).
    """

    message = STATE_MESSAGES[NOT_CONFIGURED]

    def __init__(self, state: str = NOT_CONFIGURED, detail: str = ""):
        super().__init__(state)
        self.state = state
        self.detail = detail

    def __str__(self):
        if self.state == FAILED:
            return str(STATE_MESSAGES[FAILED]) % {"error": self.detail}
        return str(STATE_MESSAGES.get(self.state, self.message))


@dataclass(frozen=True)
class Recipient:
    name: str
    phone: str
    province: str
    city: str
    district: str
    street: str
    postcode: str
    country: str

    def __repr__(self):
        # Never let the real values reach a log line through a repr.
        return f"Recipient(province={self.province!r}, city={self.city!r})"


def needs_decryption(order: Order) -> bool:
    """Whether the order's platform encrypts recipients (no query: uses the channel)."""
    return order.channel.platform in ENCRYPTED_PLATFORMS


def _stored_platform_order(order: Order) -> dict | None:
    if not order.external_id:
        return None
    raw = (RawPayload.objects.filter(channel_id=order.channel_id, external_id=order.external_id,
                                     status=RawPayload.Status.PROCESSED)
           .order_by("-received_at", "-id").only("body").first())
    if raw is None:
        return None
    try:
        data = json.loads(raw.body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _audit(order: Order, fields, *, actor, purpose: str, ok: bool) -> None:
    """One audit row per decrypted field (the platforms require an account of each)."""
    actor_id = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
    DecryptAudit.objects.bulk_create([
        DecryptAudit(channel_id=order.channel_id, order=order, field=field, actor_id=actor_id,
                     purpose=purpose, ok=ok) for field in fields])


def _decrypted(order: Order, *, connector=None, actor=None,
               purpose: str = DecryptAudit.Purpose.WAYBILL) -> dict[str, str]:
    if not decryption_configured(order.channel):
        raise NeedsPlatformDecryption(NOT_CONFIGURED)
    platform_order = _stored_platform_order(order)
    if platform_order is None:
        raise NeedsPlatformDecryption(NO_PAYLOAD)
    own = connector is None
    connector = connector or get_connector(order.channel)
    fields: list[str] = []
    try:
        fields = list(connector.recipient_ciphertexts(platform_order))
        if not fields:
            return {}
        plain = connector.decrypt_recipient(platform_order)
    except ConnectorError as exc:
        if fields:
            _audit(order, fields, actor=actor, purpose=purpose, ok=False)
        # The platform's error text names the field, never the values.
        raise NeedsPlatformDecryption(FAILED, exc.message[:200]) from None
    finally:
        if own:
            connector.close()
    _audit(order, fields, actor=actor, purpose=purpose, ok=True)
    return plain


def real_recipient(order: Order, *, connector=None, actor=None,
                   purpose: str = DecryptAudit.Purpose.WAYBILL) -> Recipient:
    """The recipient as the carrier must see it.

    For platforms that encrypt recipients, the channel's connector decrypts
    the stored ciphertext through the platform; the answer is returned only.
    Raises ``NeedsPlatformDecryption`` (with a ``state``) when that is not
    possible. Province/city/district always come from the order (sent clear).
    Each decrypted field is audited (``DecryptAudit``: ``actor``, ``purpose``).
    """
    plain = (_decrypted(order, connector=connector, actor=actor, purpose=purpose)
             if needs_decryption(order) else {})
    return Recipient(
        name=plain.get("name") or order.ship_name or order.buyer_name,
        phone=plain.get("phone") or order.ship_phone or order.buyer_phone,
        province=order.ship_province, city=order.ship_city, district=order.ship_district,
        street=plain.get("street") or order.ship_street, postcode=order.ship_postcode,
        country=order.ship_country,
    )


# --- what staff see -------------------------------------------------------------------

# Each platform's ciphertext forms, as documented and as in their sample orders:
# Youzan ``$…$1$``; Pinduoduo ``~…~0~`` (name, address) and ``$…$0$`` (phone);
# Taobao ``~…~`` (name, nick, address) and ``$…$`` (phone); Douyin ``#…#1##`` (name),
# ``$…$1$$`` (phone), ``~…~1~~`` (address detail). A ciphertext is one run of
# non-blank characters opening and closing with its marker; a field may hold
# one beside clear text (Douyin's street: "<street> <detail ciphertext>").
CIPHER_MARKERS = {"youzan": "$", "pinduoduo": "~$", "taobao": "~$", "douyin": "#$~"}
MASK = "***"
SHOWN_FIELDS = ("buyer_name", "buyer_phone", "ship_name", "ship_phone", "ship_street")


def _cipher_pattern(markers: str) -> re.Pattern:
    marks = re.escape(markers)
    return re.compile(rf"(?<!\S)([{marks}])[^\s]{{6,}}\1(?!\S)")


_CIPHER_PATTERNS = {platform: _cipher_pattern(m) for platform, m in CIPHER_MARKERS.items()}


def is_ciphertext(platform: str, value) -> bool:
    """Whether ``value`` holds a ciphertext in ``platform``'s format (anywhere in it)."""
    pattern = _CIPHER_PATTERNS.get(platform)
    return bool(pattern and isinstance(value, str) and pattern.search(value))


_ANY_CIPHER = _cipher_pattern("".join(sorted(set("".join(CIPHER_MARKERS.values())))))


def masked_any(value):
    """``value`` with a ciphertext of any platform's format replaced by a mask (lists)."""
    if not isinstance(value, str):
        return value
    return _ANY_CIPHER.sub(MASK, value)


def masked(platform: str, value) -> str:
    """``value`` with each of the platform's ciphertexts replaced by a mask.

    The platform's own masked values (``138****5678``, ``张*``: Pinduoduo's ``*_mask``
    and Douyin's ``mask_post_*`` fields, kept at ingest in place of the ciphertext)
    pass through unchanged; only a ciphertext with no masked twin becomes ``***``.
    """
    pattern = _CIPHER_PATTERNS.get(platform)
    if not pattern or not isinstance(value, str):
        return value
    return pattern.sub(MASK, value)


@dataclass(frozen=True)
class ShownRecipient:
    """The buyer and address as a page may show them: clear, decrypted or masked."""

    buyer_name: str
    buyer_phone: str
    ship_name: str
    ship_phone: str
    ship_street: str
    ship_address: str
    decrypted: bool = False
    masked: bool = False
    note: str = ""

    def __repr__(self):
        return f"ShownRecipient(decrypted={self.decrypted}, masked={self.masked})"


def shown_recipient(order: Order, *, actor=None, purpose: str = "", connector=None
                    ) -> ShownRecipient:
    """The order's buyer/recipient for display: never a ciphertext.

    With ``purpose`` (a ``DecryptAudit.Purpose``) and decryption enabled on the
    channel, the platform decrypts the recipient (audited, not stored); when it
    refuses, the masked values are shown with a note saying why. Without a
    purpose (lists, the pick screen: nobody there needs the real name) or
    without decryption, the platform's masked values are shown.
    """
    platform = order.channel.platform
    values = {field: getattr(order, field) or "" for field in SHOWN_FIELDS}
    decrypted, note = False, ""
    if purpose and needs_decryption(order) and decryption_configured(order.channel):
        try:
            real = real_recipient(order, connector=connector, actor=actor, purpose=purpose)
        except NeedsPlatformDecryption as exc:
            note = str(exc)
        else:
            decrypted = True
            values.update(ship_name=real.name, ship_phone=real.phone, ship_street=real.street)
    if not values["ship_phone"] and not decrypted:
        # The platform's masked number, kept at ingest (``cn_values.masked_contact``).
        kept = (order.platform_data or {}).get("masked") or {}
        values["ship_phone"] = str(kept.get("phone") or "") if isinstance(kept, dict) else ""
    hidden = any(is_ciphertext(platform, v) for v in values.values())
    values = {field: masked(platform, v) for field, v in values.items()}
    address = " ".join(p for p in (order.ship_province, order.ship_city, order.ship_district,
                                   values["ship_street"]) if p)
    return ShownRecipient(**values, ship_address=address, decrypted=decrypted,
                          masked=hidden, note=note)
