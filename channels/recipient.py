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
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from channels.connectors import ConnectorError, get_connector
from channels.connectors.cn import ENCRYPTED_PLATFORMS, decryption_configured
from channels.models import RawPayload
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


def _decrypted(order: Order, *, connector=None) -> dict[str, str]:
    if not decryption_configured(order.channel):
        raise NeedsPlatformDecryption(NOT_CONFIGURED)
    platform_order = _stored_platform_order(order)
    if platform_order is None:
        raise NeedsPlatformDecryption(NO_PAYLOAD)
    own = connector is None
    connector = connector or get_connector(order.channel)
    try:
        if not connector.recipient_ciphertexts(platform_order):
            return {}
        return connector.decrypt_recipient(platform_order)
    except ConnectorError as exc:
        # The platform's error text names the field, never the values.
        raise NeedsPlatformDecryption(FAILED, exc.message[:200]) from None
    finally:
        if own:
            connector.close()


def real_recipient(order: Order, *, connector=None) -> Recipient:
    """The recipient as the carrier must see it.

    For platforms that encrypt recipients, the channel's connector decrypts
    the stored ciphertext through the platform; the answer is returned only.
    Raises ``NeedsPlatformDecryption`` (with a ``state``) when that is not
    possible. Province/city/district always come from the order (sent clear).
    """
    plain = _decrypted(order, connector=connector) if needs_decryption(order) else {}
    return Recipient(
        name=plain.get("name") or order.ship_name or order.buyer_name,
        phone=plain.get("phone") or order.ship_phone or order.buyer_phone,
        province=order.ship_province, city=order.ship_city, district=order.ship_district,
        street=plain.get("street") or order.ship_street, postcode=order.ship_postcode,
        country=order.ship_country,
    )
