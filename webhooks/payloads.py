"""What a delivery says: the event, when it happened and a summary of what it is about.

Buyer contact data (name, phone, e-mail, street, postcode) is masked as
``orderhub.privacy`` masks it for roles without ``view_buyer_contact``, unless
the subscription has "include buyer contact data" ticked.
"""

from __future__ import annotations

import datetime as dt
import json

from django.core.serializers.json import DjangoJSONEncoder

from orderhub.privacy import field_shown

API_VERSION = "2026-12-01"

# Order fields sent, in this order; contact fields go through ``field_shown``.
BUYER_FIELDS = ("buyer_name", "buyer_phone", "buyer_email")
SHIP_FIELDS = ("ship_name", "ship_phone", "ship_country", "ship_province", "ship_city",
               "ship_district", "ship_street", "ship_postcode")


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def order_summary(order, *, buyer_data: bool) -> dict:
    """The order as a subscriber sees it; call with ``channel`` selected."""
    return {
        "id": order.pk,
        "number": order.number,
        "channel": order.channel.code if order.channel_id else None,
        "external_id": order.external_id,
        "status": order.status,
        "currency": order.currency,
        "total": str(order.total),
        "placed_at": _iso(order.placed_at),
        "paid_at": _iso(order.paid_at),
        "shipped_at": _iso(order.shipped_at),
        "delivered_at": _iso(order.delivered_at),
        "cancelled_at": _iso(order.cancelled_at),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "buyer": {name.removeprefix("buyer_"): field_shown(name, getattr(order, name),
                                                            full=buyer_data)
                  for name in BUYER_FIELDS},
        "shipping_address": {name.removeprefix("ship_"): field_shown(
            name, getattr(order, name), full=buyer_data) for name in SHIP_FIELDS},
    }


def envelope(*, event: str, occurred_at, data: dict) -> dict:
    return {"event": event, "api_version": API_VERSION, "occurred_at": _iso(occurred_at),
            "data": data}


def encode(payload: dict) -> str:
    """The body as sent: compact JSON, UTF-8 text (not ASCII-escaped)."""
    return json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
