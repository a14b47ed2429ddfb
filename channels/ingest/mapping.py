"""Mapping: a platform payload -> a ``NormalizedOrder`` -> the hub order's fields and lines.

Pure functions (no writes): reading a payload (``normalize_body``: size, JSON,
the connector, states the hub knows, broken text), cleaning the buyer and
address fields, resolving lines to hub SKUs, the platform's shipment and the
status reasons, and a new order as ``NewOrder`` data for the bulk create.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from channels.connectors.base import (
    CANCELLED,
    COMPLETED,
    DELIVERED,
    FULFILLMENT_STATES,
    PAID,
    SHIPPED,
    UNPAID,
    NormalizationError,
    NormalizedOrder,
)
from channels.models import Channel
from channels.skus import SkuResolver
from orderhub.models import Order, normalize_phone
from orderhub.models import OrderStatus as S
from orderhub.services.bulk import NewOrder

INTERCEPT_TAG = "intercept"
# The platform has shipped every line: the hub must never pick the order.
SHIPPED_STATES = (SHIPPED, DELIVERED, COMPLETED)
# Effective statuses an order can leave for ``shipped`` when the platform shipped it.
QUEUED = (S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK)
ADDRESS_MISSING, ADDRESS_RECEIVED = "address_missing", "address_received"
PLATFORM_SHIPPED, SHIPPED_WHILE_PICKING = "platform_shipped", "platform_shipped_while_picking"
# A single order payload bigger than this is refused (kept, quarantined) rather than parsed.
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
# Orders per batch: one transaction each. 500 orders (~1,500 lines) take a few
# MB in memory and keep each transaction's locks short.
BATCH_SIZE = 500

ADDRESS_FIELDS = [
    "buyer_name", "buyer_phone", "buyer_email", "buyer_message", "ship_name", "ship_phone",
    "ship_country", "ship_province", "ship_city", "ship_district", "ship_street", "ship_postcode",
]
# ``order_fields`` cleans these as ``order_create`` would (text squeezed, phones
# E.164): the bulk create need not clean them again.
_CLEANED = frozenset(ADDRESS_FIELDS)


def clean_text(value: str) -> str:
    """Control characters become spaces and runs of whitespace one space.

    A newline or tab in a name or address breaks label printing and search.
    """
    value = value or ""
    if value.isprintable():  # the common case, checked in C: only whitespace to squeeze
        return " ".join(value.split())
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())



def new_order_spec(channel: Channel, norm: NormalizedOrder, resolver: SkuResolver,
                    paid_reason: str = "") -> NewOrder:
    """What ``upsert_order`` does for an order the hub does not hold, as data."""
    fields, warnings = order_fields(channel, norm)
    lines, unknown = line_dicts(norm, resolver)
    create_fields = {**fields, **money_fields(norm), **platform_fields(norm),
                     "placed_at": norm.placed_at, "external_id": norm.external_id}
    if norm.legacy_id:
        create_fields["legacy_id"] = norm.legacy_id[:64]
    if norm.status == PAID and norm.paid_at:
        create_fields["paid_at"] = norm.paid_at
    transitions, events = [], []
    if norm.status == PAID:
        transitions.append(("pay", paid_reason or _("paid on the platform")))
        if norm.fulfillment in SHIPPED_STATES:
            # What ``order_ship_on_platform`` writes, then ``deliver``/``complete``.
            info = shipment_info(norm)
            create_fields["carrier"] = info["carrier"]
            create_fields["tracking_number"] = info["tracking_number"]
            if info["shipped_at"] is not None:
                create_fields["shipped_at"] = info["shipped_at"]
            transitions.append(("ship_on_platform", _("shipped on the platform")))
            transitions.extend((name, forward_reason(name))
                               for name in forward_transitions(norm.fulfillment, S.SHIPPED))
            events.append((PLATFORM_SHIPPED, shipped_message(info),
                           {"from_status": S.PAID.value, "shipments": info["shipments"],
                            "no_tracking": not info["tracking_number"]}))
        else:
            if unknown:
                transitions.append(("hold_review",
                                    "unknown SKU: " + ", ".join(sorted(set(unknown)))))
            if not has_address(fields):
                transitions.append(("hold", no_address_reason()))
                events.append((ADDRESS_MISSING, no_address_reason(), {}))
    elif norm.status == CANCELLED:
        transitions.append(("cancel", cancel_reason(norm)))
    return NewOrder(fields=create_fields, lines=lines, notes=warnings, transitions=transitions,
                    cleaned=_CLEANED, events=events)


def normalize_body(body: str, normalizer) -> tuple[NormalizedOrder | None, str]:
    """(the normalized order, "") or (None, why it cannot be read)."""
    if len(body) > MAX_PAYLOAD_BYTES:
        return None, _("The payload is too large (%(size)s bytes).") % {"size": len(body)}
    try:
        data = json.loads(body)
    except ValueError as exc:
        return None, _("The payload is not valid JSON: %(error)s") % {"error": exc}
    try:
        norm = normalizer.normalize(data)
        problem = _state_problem(norm) or _encoding_problem(body)
        return (None, problem) if problem else (norm, "")
    except NormalizationError as exc:
        return None, _("Cannot read the order: %(error)s") % {"error": exc}
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # A shape the connector did not foresee (a list where an object was expected...).
        return None, (_("Cannot read the order: unexpected %(kind)s (%(error)s)")
                      % {"kind": type(exc).__name__, "error": exc})


def _state_problem(norm: NormalizedOrder) -> str:
    """Why the hub cannot trust this order's state, or "" (a connector mapped something odd)."""
    if norm.status not in (UNPAID, PAID, CANCELLED):
        return _("The platform sent an order state the hub does not know (“%(state)s”); "
                 "nothing was changed. Map the state in the connector, then replay.") % {
            "state": str(norm.status)[:60]}
    if norm.fulfillment not in FULFILLMENT_STATES:
        return _("The platform sent a shipping state the hub does not know (“%(state)s”); "
                 "nothing was changed. Map the state in the connector, then replay.") % {
            "state": str(norm.fulfillment)[:60]}
    return ""


def _encoding_problem(body: str) -> str:
    # Bytes that were not UTF-8 were replaced by U+FFFD when the payload was kept:
    # names and addresses would reach the order, the label and the carrier garbled.
    if "\ufffd" in body:
        return _("The payload's text is broken (bytes that are not valid UTF-8); nothing was "
                 "changed. Ask the platform to send it again, or fix the file's encoding.")
    return ""


def order_fields(channel: Channel, norm: NormalizedOrder) -> tuple[dict, list[str]]:
    """The order's address/buyer fields, cleaned; plus warnings for values left out."""
    warnings = []
    country = clean_text(norm.ship_country).upper() or channel.config.get("default_country", "CN")
    if len(country) != 2 or not country.isalpha():
        warnings.append(_("Country “%(value)s” is not a two-letter code; CN used.")
                        % {"value": country})
        country = "CN"
    fields = {key: clean_text(getattr(norm, key)) for key in ADDRESS_FIELDS}
    fields["buyer_message"] = (norm.buyer_message or "").replace("\x00", "").strip()
    fields["ship_country"] = country
    for key in ("buyer_phone", "ship_phone"):
        if fields[key]:
            try:
                fields[key] = normalize_phone(fields[key], country)
            except ValidationError:
                warnings.append(_("The platform's %(field)s “%(value)s” is not a valid phone "
                                  "number; it was left blank.")
                                % {"field": key.replace("_", " "), "value": fields[key]})
                fields[key] = ""
    if fields["buyer_email"]:
        try:
            validate_email(fields["buyer_email"])
        except ValidationError:
            warnings.append(_("The e-mail “%(value)s” is not valid; it was left blank.")
                            % {"value": fields["buyer_email"]})
            fields["buyer_email"] = ""
    return fields, warnings


def stale_note(norm: NormalizedOrder, order: Order) -> str:
    return _("Older than what the order holds (updated on the platform %(payload)s, the order "
             "has %(order)s): kept, not applied.") % {
        "payload": norm.updated_at.isoformat() if norm.updated_at else "?",
        "order": order.platform_updated_at.isoformat() if order.platform_updated_at else "?"}


def line_dicts(norm: NormalizedOrder, resolver: SkuResolver) -> tuple[list[dict], list[str]]:
    resolver.prefetch(norm.lines)
    lines, unknown = [], []
    for line in norm.lines:
        hub_sku = resolver.resolve(line)
        if hub_sku is None:
            unknown.append(resolver.label(line))
        lines.append({
            "sku_code": (hub_sku or resolver.label(line))[:64],
            "name": clean_text(line.name)[:255] or resolver.label(line),
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "is_gift": line.is_gift,
            "external_line_id": line.external_line_id[:64],
            # The platform shipped these units itself: the hub picks only the rest.
            "shipped_quantity": min(max(int(line.shipped_quantity or 0), 0), line.quantity),
            "gift_for": (line.gift_for or "")[:64],
        })
    return lines, unknown


def money_fields(norm: NormalizedOrder) -> dict:
    fields = {"currency": (norm.currency or "CNY").upper()[:3],
              "shipping_fee": norm.shipping_fee, "discount": norm.discount}
    if norm.total is not None:
        fields["total"] = norm.total
    return fields


def platform_fields(norm: NormalizedOrder) -> dict:
    """Bookkeeping kept with a new order: the platform's modified time and write-back data."""
    fields = {}
    if norm.updated_at is not None:
        fields["platform_updated_at"] = norm.updated_at
    if norm.platform_data:
        fields["platform_data"] = norm.platform_data
    if norm.presale:
        fields["presale"] = True
    return fields


def has_address(fields) -> bool:
    """Whether a parcel can be addressed: a recipient and a street.

    Amazon without its restricted data has neither.
    """
    get = fields.get if isinstance(fields, dict) else lambda key: getattr(fields, key)
    return bool(get("ship_name") and get("ship_street"))


def shipment_info(norm: NormalizedOrder) -> dict:
    """``order_ship_on_platform``'s arguments from the platform's parcels.

    The order keeps the first parcel's carrier and tracking number (the first
    one that has a number); every parcel is kept in the event's data.
    """
    parcels = list(norm.shipments)
    first = next((p for p in parcels if p.tracking_number), parcels[0] if parcels else None)
    times = [p.shipped_at for p in parcels if p.shipped_at]
    return {
        "carrier": clean_text(first.carrier)[:40] if first else "",
        "tracking_number": clean_text(first.tracking_number)[:64] if first else "",
        "shipped_at": (first.shipped_at if first and first.shipped_at
                       else min(times) if times else None),
        "shipments": [{"carrier": clean_text(p.carrier), "tracking_number":
                       clean_text(p.tracking_number),
                       "shipped_at": p.shipped_at.isoformat() if p.shipped_at else None,
                       "lines": dict(p.lines)} for p in parcels],
    }


def shipped_message(info: dict) -> str:
    if info["tracking_number"]:
        return _("The platform shipped this order (%(carrier)s %(tracking)s); the hub will not "
                 "pick it.") % {"carrier": info["carrier"] or "?",
                                "tracking": info["tracking_number"]}
    return _("The platform shipped this order but gave no tracking number; the hub will not "
             "pick it.")


def forward_transitions(fulfillment: str, status: str) -> list[str]:
    """``deliver``/``complete`` that bring a shipped order to where the platform is."""
    steps = []
    if fulfillment in (DELIVERED, COMPLETED) and status == S.SHIPPED:
        steps.append("deliver")
        status = S.DELIVERED
    if fulfillment == COMPLETED and status == S.DELIVERED:
        steps.append("complete")
    return steps


def forward_reason(name: str) -> str:
    if name == "deliver":
        return _("delivered on the platform")
    return _("completed on the platform")


def no_address_reason() -> str:
    return _("The platform sent no shipping address (no recipient name or street): wait for "
             "it, or ask the platform for the buyer's address.")


def cancel_reason(norm: NormalizedOrder) -> str:
    reason = _("cancelled on the platform")
    if norm.cancel_reason:
        reason = f"{reason} ({clean_text(norm.cancel_reason)[:100]})"
    return reason


