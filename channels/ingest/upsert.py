"""Upsert: create the order or apply what changed, through the order services only.

``upsert_order`` creates with ``order_create`` or edits with ``order_update``
(one version, one "edited" event, one ``order_edited``) before picking, and
holds the order with the reason after; statuses move forward only
(``order_transition``, ``order_ship_on_platform``); a payload older than the
order's ``platform_updated_at`` is kept and changes nothing. ``process_raw``
runs one stored payload through normalize + upsert in its own transaction.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors.base import CANCELLED, PAID, NormalizedOrder
from channels.ingest.mapping import (
    ADDRESS_MISSING,
    ADDRESS_RECEIVED,
    INTERCEPT_TAG,
    QUEUED,
    SHIPPED_STATES,
    SHIPPED_WHILE_PICKING,
    cancel_reason,
    forward_reason,
    forward_transitions,
    has_address,
    line_dicts,
    money_fields,
    no_address_reason,
    normalize_body,
    order_fields,
    platform_fields,
    shipment_info,
    shipped_message,
    stale_note,
)
from channels.ingest.raw import quarantine
from channels.ingest.results import CREATED, REJECTED, STALE, UNCHANGED, UPDATED, actor_for
from channels.models import Channel, RawPayload
from channels.skus import SkuResolver
from orderhub.models import BEFORE_PICKING, PICKING_STARTED, Order, Tag
from orderhub.models import OrderStatus as S
from orderhub.services.events import order_event_record
from orderhub.services.orders import (
    OrderServiceError,
    order_add_note,
    order_create,
    order_record_platform_state,
    order_ship_on_platform,
    order_transition,
    order_update,
)


def process_raw(*, raw: RawPayload, normalizer, resolver: SkuResolver | None = None
                ) -> tuple[str, int | None]:
    """Normalize and upsert one stored payload; quarantine it when that fails."""
    norm, error = normalize_body(raw.body, normalizer)
    if error:
        quarantine(raw, error)
        return REJECTED, None
    return upsert_normalized(raw=raw, norm=norm, resolver=resolver or SkuResolver(raw.channel))


def upsert_normalized(*, raw: RawPayload, norm: NormalizedOrder, resolver: SkuResolver
                ) -> tuple[str, int | None]:
    """Upsert one normalized payload in its own transaction and mark the raw row."""
    channel = raw.channel
    attempts = raw.attempts
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                outcome, order = upsert_order(channel=channel, norm=norm, resolver=resolver)
                raw.status = RawPayload.Status.PROCESSED
                # Kept, and marked processed, but said plainly that it changed nothing.
                raw.error = stale_note(norm, order) if outcome == STALE else ""
                raw.attempts = attempts + 1
                raw.order = order
                raw.external_id = norm.external_id[:64]
                raw.processed_at = timezone.now()
                raw.save(update_fields=["status", "error", "attempts", "order", "external_id",
                                        "processed_at"])
            # A stale payload is "unchanged" to callers; its note says why.
            return (UNCHANGED if outcome == STALE else outcome), order.pk
        except IntegrityError as exc:
            # Two writers created the same (channel, external id) at once: the
            # second pass finds the order and updates it instead.
            if attempt == 2:
                quarantine(raw, _("Database refused the order: %(error)s") % {"error": exc})
                return REJECTED, None
        except ValidationError as exc:
            quarantine(raw, _("The order is not valid: %(error)s") % {"error": "; ".join(
                exc.messages)})
            return REJECTED, None
        except OrderServiceError as exc:
            quarantine(raw, exc.message)
            return REJECTED, None
        except DatabaseError as exc:
            quarantine(raw, _("Database refused the order: %(error)s") % {"error": exc})
            return REJECTED, None
    raise AssertionError("unreachable")


def upsert_order(*, channel: Channel, norm: NormalizedOrder,
                 resolver: SkuResolver) -> tuple[str, Order]:
    """Create the order or apply what changed. Call inside a transaction.

    Returns ``STALE`` (and changes nothing) for a payload the platform modified
    before the one the order was last built from.
    """
    actor = actor_for(channel)
    fields, warnings = order_fields(channel, norm)
    lines, unknown = line_dicts(norm, resolver)
    order = (Order.objects.select_for_update()
             .filter(channel=channel, external_id=norm.external_id).first())
    if order is None:
        create_fields = {**fields, **money_fields(norm), **platform_fields(norm),
                         "placed_at": norm.placed_at}
        if norm.legacy_id:
            create_fields["legacy_id"] = norm.legacy_id[:64]
        if norm.status == PAID and norm.paid_at:
            create_fields["paid_at"] = norm.paid_at
        order = order_create(channel=channel, actor=actor, lines=lines,
                             external_id=norm.external_id, **create_fields)
        for warning in warnings:
            order_add_note(order=order, actor=actor, text=warning)
        _apply_status(order, norm, unknown, actor)
        return CREATED, order

    if (norm.updated_at is not None and order.platform_updated_at is not None
            and norm.updated_at < order.platform_updated_at):
        return STALE, order
    changed = False
    if norm.status == PAID and norm.fulfillment in SHIPPED_STATES and _picking_started(order):
        # First, so the hold says why: the platform's line changes that come with it wait.
        changed = _hold_shipped_while_picking(order, norm, actor)
        if changed:
            order.refresh_from_db()  # now on hold: the changes below only wait
    changed = _apply_changes(order, fields, lines, norm, actor, warnings) or changed
    changed = _apply_status(order, norm, unknown, actor) or changed
    if norm.platform_data and norm.platform_data != order.platform_data:
        changed = True
    order_record_platform_state(order=order, updated_at=norm.updated_at,
                                platform_data=norm.platform_data or None)
    return (UPDATED if changed else UNCHANGED), order


def _picking_started(order: Order) -> bool:
    return order.status in PICKING_STARTED or (
        order.status == S.ON_HOLD and order.held_from in PICKING_STARTED
    )


def _effective(order: Order) -> str:
    return order.held_from if order.status == S.ON_HOLD else order.status


def _apply_status(order: Order, norm: NormalizedOrder, unknown: list[str], actor: str) -> bool:
    """Move the order forward to where the platform is; never backwards."""
    order.refresh_from_db()
    if norm.status == PAID:
        return _apply_paid(order, norm, unknown, actor)
    if norm.status != CANCELLED or order.status == S.CANCELLED:
        return False
    reason = cancel_reason(norm)
    if order.status in BEFORE_PICKING or (order.status == S.ON_HOLD
                                           and order.held_from in BEFORE_PICKING):
        order_transition(order=order, name="cancel", actor=actor, reason=reason)
        return True
    if order.tags.filter(name=INTERCEPT_TAG).exists():
        return False  # a person was already asked to intercept it
    if order.status in PICKING_STARTED:
        order_transition(order=order, name="hold", actor=actor,
                         reason=_("Cancelled on the platform after picking started: intercept"))
    order.tags.add(Tag.objects.get_or_create(name=INTERCEPT_TAG)[0])
    order_event_record(
        order=order, kind="intercept_requested", actor=actor,
        message=_("The platform cancelled this order after picking started (%(status)s). "
                  "Stop the parcel and cancel it with “intercept”.")
        % {"status": order.get_status_display()},
        data={"platform_reason": norm.cancel_reason},
    )
    return True


def _apply_paid(order: Order, norm: NormalizedOrder, unknown: list[str], actor: str) -> bool:
    changed = just_paid = False
    if order.status == S.PENDING_PAYMENT:
        order = order_transition(order=order, name="pay", actor=actor,
                                 reason=_("paid on the platform"))
        changed = just_paid = True
    if norm.fulfillment in SHIPPED_STATES:
        if _effective(order) in QUEUED:
            info = shipment_info(norm)
            order = order_ship_on_platform(order=order, actor=actor, **info)
            changed = True
        elif _picking_started(order):
            return _hold_shipped_while_picking(order, norm, actor) or changed
        for name in forward_transitions(norm.fulfillment, order.status):
            order = order_transition(order=order, name=name, actor=actor,
                                     reason=forward_reason(name))
            changed = True
        return changed
    if just_paid:
        if unknown:
            order = order_transition(order=order, name="hold_review", actor=actor,
                                     reason="unknown SKU: " + ", ".join(sorted(set(unknown))))
        if not has_address(order):
            # Before automation sees it: no waybill can be booked without an address.
            order_transition(order=order, name="hold", actor=actor, reason=no_address_reason())
            order_event_record(order=order, kind=ADDRESS_MISSING, actor=actor,
                               message=no_address_reason())
        return True
    return _release_if_address(order, actor) or changed


def _release_if_address(order: Order, actor: str) -> bool:
    """Release an order ingest held for want of an address, once the address is there."""
    if order.status != S.ON_HOLD or not has_address(order):
        return False
    last = (order.events.filter(kind__in=[ADDRESS_MISSING, ADDRESS_RECEIVED])
            .order_by("-id").values_list("kind", flat=True).first())
    hold = order.transition_logs.order_by("-id").values_list("transition", "actor").first()
    if last != ADDRESS_MISSING or hold != ("hold", actor):
        return False  # held by a person, or for something else: theirs to release
    message = _("The platform sent the shipping address; the order goes on.")
    order_transition(order=order, name="release", actor=actor, reason=message)
    order_event_record(order=order, kind=ADDRESS_RECEIVED, actor=actor, message=message)
    return True


def _hold_shipped_while_picking(order: Order, norm: NormalizedOrder, actor: str) -> bool:
    """The platform shipped an order the warehouse is picking: stop the pick, tell ops once."""
    if order.events.filter(kind=SHIPPED_WHILE_PICKING).exists():
        return False
    reason = _("Shipped on the platform while being picked: stop the pick")
    if order.status in PICKING_STARTED:
        order_transition(order=order, name="hold", actor=actor, reason=reason)
    info = shipment_info(norm)
    order_event_record(
        order=order, kind=SHIPPED_WHILE_PICKING, actor=actor,
        message=_("%(reason)s. %(shipped)s") % {"reason": reason,
                                                "shipped": shipped_message(info)},
        data={"shipments": info["shipments"]})
    return True


def _line_key(line: dict) -> tuple:
    return (line["external_line_id"], line["sku_code"], line["name"], int(line["quantity"]),
            Decimal(line["unit_price"]).quantize(Decimal("0.01")), bool(line["is_gift"]),
            int(line["shipped_quantity"]), line["gift_for"])


def _apply_changes(order: Order, fields: dict, lines: list[dict], norm: NormalizedOrder,
                   actor: str, warnings: list[str]) -> bool:
    field_diff = {k: v for k, v in fields.items() if getattr(order, k) != v}
    # A phone the platform sent but we could not read must not wipe a good one.
    for key in ("buyer_phone", "ship_phone", "buyer_email"):
        if key in field_diff and not field_diff[key] and warnings:
            del field_diff[key]
    if not has_address(fields) and has_address(order):
        # A payload without the address (Amazon without its restricted data) says
        # nothing about it: the address the hub holds stays, the rest applies.
        field_diff = {k: v for k, v in field_diff.items() if v or k == "buyer_message"}
        field_diff.pop("ship_country", None)
    current_lines = sorted(
        _line_key({"external_line_id": ln.external_line_id, "sku_code": ln.sku_code,
                   "name": ln.name, "quantity": ln.quantity, "unit_price": ln.unit_price,
                   "is_gift": ln.is_gift, "shipped_quantity": ln.shipped_quantity,
                   "gift_for": ln.gift_for})
        for ln in order.lines.all()
    )
    new_lines = sorted(_line_key(ln) for ln in lines)
    money = money_fields(norm)
    money_diff = {k: v for k, v in money.items() if getattr(order, k) != v}
    lines_changed = current_lines != new_lines
    if not field_diff and not lines_changed and not money_diff:
        return False

    summary = sorted(field_diff) + (["lines"] if lines_changed else []) + sorted(money_diff)
    if order.status in (S.SHIPPED, S.DELIVERED, S.COMPLETED, S.CANCELLED) or _picking_started(
            order):
        return _record_late_change(order, field_diff, lines, money_diff, summary, actor)

    # One edit through the order services: one version, one event, one
    # ``order_edited`` (automation and reservations follow it).
    reason = _("updated on the platform: %(fields)s") % {"fields": ", ".join(summary)}
    order_update(order=order, actor=actor, changes={**field_diff, **money_diff},
                 lines=lines if lines_changed else None, reason=reason)
    return True


def _record_late_change(order, field_diff, lines, money_diff, summary, actor) -> bool:
    """The platform changed an order the warehouse already works on: hold it, don't apply."""
    data = {"fields": field_diff,
            "lines": [[d["sku_code"], d["quantity"], str(d["unit_price"])] for d in lines],
            "money": {k: str(v) for k, v in money_diff.items()}}
    last = order.events.filter(kind="platform_change_pending").order_by("-id").first()
    if last and last.data == data:
        return False
    message = _("The platform changed %(fields)s after picking started; not applied.") % {
        "fields": ", ".join(summary)}
    order_event_record(order=order, kind="platform_change_pending", actor=actor,
                       message=message, data=data)
    if order.status in PICKING_STARTED:
        order_transition(order=order, name="hold", actor=actor, reason=message[:250])
    return True


