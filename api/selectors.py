"""Reads of the open API: order pages with a sync cursor, one order in full, stock,
channels' health and the audit feed. Read-only; buyer contact data is masked for an
integration user whose role does not see it (``orderhub.privacy``).

The sync cursors are keysets, never offsets: orders by ``(updated_at, id)``, the
audit feed by ``(time, source, id)``. A row changed while a client pages moves past
the cursor and comes again later with its new values: nothing is skipped, and an
unchanged row never comes twice. Rows younger than ``API_SYNC_LAG_SECONDS`` wait for
the next call, so a change whose transaction commits a moment after it stamped its
time is not passed by a cursor that went beyond it meanwhile.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from api.errors import ApiError
from api.models import WmsCallback
from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from orderhub.privacy import field_shown, sees_buyer_contact

MAX_LIMIT = 200


# --- cursors -------------------------------------------------------------------------------

def encode_cursor(*parts) -> str:
    raw = json.dumps([p.isoformat() if isinstance(p, dt.datetime) else p for p in parts])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != size:
            raise ValueError
        parts[0] = dt.datetime.fromisoformat(parts[0])
        if parts[0].tzinfo is None or not all(isinstance(p, int) for p in parts[1:]):
            raise ValueError
        return parts
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise ApiError(400, "invalid_cursor",
                       _("This cursor is not one the hub gave out.")) from exc


def _cutoff() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.API_SYNC_LAG_SECONDS)


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


# --- orders --------------------------------------------------------------------------------

ORDER_FIELDS = (
    "number", "external_id", "kind", "status", "priority", "buyer_name", "buyer_phone",
    "buyer_email", "ship_name", "ship_phone", "ship_country", "ship_province", "ship_city",
    "ship_district", "ship_street", "ship_postcode", "currency", "carrier",
    "tracking_number", "placed_at", "paid_at", "shipped_at", "cancelled_at", "created_at",
    "updated_at",
)


def order_out(order: Order, *, full: bool) -> dict:
    data = {name: field_shown(name, getattr(order, name), full=full) for name in ORDER_FIELDS}
    data.update(
        channel=order.channel.code,
        warehouse=order.warehouse.code if order.warehouse_id else None,
        subtotal=str(order.subtotal), shipping_fee=str(order.shipping_fee),
        discount=str(order.discount), total=str(order.total),
    )
    return data


def orders_page(*, user, status: list[str] | None = None, channel: str | None = None,
                warehouse: str | None = None, updated_since: dt.datetime | None = None,
                cursor: str | None = None, limit: int = 50) -> dict:
    """One page of orders by ``(updated_at, id)``, and the cursor to the next."""
    limit = _limit(limit)
    rows = Order.objects.select_related("channel", "warehouse").filter(
        updated_at__lte=_cutoff())
    if status:
        unknown = sorted(set(status) - set(OrderStatus.values))
        if unknown:
            raise ApiError(422, "invalid", _("Unknown status: %(s)s") % {"s": ", ".join(unknown)},
                           fields=[{"field": "status", "message": ", ".join(unknown)}])
        rows = rows.filter(status__in=status)
    if channel:
        rows = rows.filter(channel__code=channel)
    if warehouse:
        rows = rows.filter(warehouse__code=warehouse)
    if cursor:
        after, after_id = decode_cursor(cursor, 2)
        rows = rows.filter(Q(updated_at__gt=after) | Q(updated_at=after, pk__gt=after_id))
    elif updated_since:
        rows = rows.filter(updated_at__gte=updated_since)
    found = list(rows.order_by("updated_at", "pk")[:limit + 1])
    page = found[:limit]
    full = sees_buyer_contact(user)
    next_cursor = encode_cursor(page[-1].updated_at, page[-1].pk) if page else cursor
    return {"items": [order_out(o, full=full) for o in page], "next_cursor": next_cursor,
            "has_more": len(found) > limit}


def order_by_number(number: str) -> Order:
    order = (Order.objects.select_related("channel", "warehouse").filter(number=number).first()
             if "\x00" not in number else None)
    if order is None:
        raise ApiError(404, "not_found", _("There is no order %(number)s.") % {"number": number})
    return order


def _text(value) -> str | None:
    return None if value is None else str(value)


def _masked_changes(pairs: dict, full: bool) -> list[dict]:
    rows = []
    for name, pair in pairs.items():
        old, new = (list(pair) + [None, None])[:2] if isinstance(pair, list | tuple) else (
            None, pair)
        rows.append({"field": name, "old": _text(field_shown(name, old, full=full)),
                     "new": _text(field_shown(name, new, full=full))})
    return rows


def _event_data(event: OrderEvent, full: bool) -> dict:
    data = dict(event.data or {})
    if full or not isinstance(data.get("changes"), dict):
        return data
    data["changes"] = {name: [field_shown(name, v, full=False) for v in pair]
                       if isinstance(pair, list) else field_shown(name, pair, full=False)
                       for name, pair in data["changes"].items()}
    return data


def _versions(order: Order, full: bool) -> list[dict]:
    records = list(order.history.select_related("history_user")
                   .order_by("history_date", "history_id"))
    out, previous = [], None
    for record in records:
        changes = []
        if previous is not None:
            for change in record.diff_against(previous).changes:
                changes.append({"field": change.field,
                                "old": _text(field_shown(change.field, change.old, full=full)),
                                "new": _text(field_shown(change.field, change.new, full=full))})
        out.append({"id": record.history_id, "time": record.history_date,
                    "type": {"+": "created", "~": "changed", "-": "deleted"}.get(
                        record.history_type, record.history_type),
                    "actor": record.history_user.get_username() if record.history_user else "",
                    "reason": record.history_change_reason or "", "changes": changes})
        previous = record
    return out


def _tracking(order: Order) -> list[dict]:
    waybills = getattr(order, "waybills", None)
    if waybills is None:
        return []
    return [{"tracking_number": w.tracking_number, "status": w.status, "milestone": w.milestone,
             "booked_at": w.booked_at,
             "events": [{"time": e.occurred_at, "place": e.place, "milestone": e.milestone,
                         "description": e.description}
                        for e in w.events.order_by("occurred_at", "pk")]}
            for w in waybills.order_by("created_at", "pk")]


def wms_callback_out(callback: WmsCallback) -> dict:
    return {"id": callback.pk, "order_number": callback.order.number,
            "source_system": callback.source_system, "event": callback.event,
            "operator": callback.operator, "occurred_at": callback.occurred_at,
            "package_count": callback.package_count,
            "weight_kg": _text(callback.weight_kg), "photo_url": callback.photo_url,
            "from_status": callback.from_status, "to_status": callback.to_status,
            "received_at": callback.received_at}


def order_detail(*, user, number: str) -> dict:
    order = order_by_number(number)
    full = sees_buyer_contact(user)
    data = order_out(order, full=full)
    data["lines"] = [{"sku_code": ln.sku_code, "name": ln.name, "quantity": ln.quantity,
                      "unit_price": str(ln.unit_price), "is_gift": ln.is_gift,
                      "shipped_quantity": ln.shipped_quantity} for ln in order.lines.all()]
    data["transitions"] = [
        {"transition": t.transition, "from_status": t.from_status, "to_status": t.to_status,
         "actor": t.actor, "reason": t.reason, "time": t.created_at}
        for t in OrderTransitionLog.objects.filter(order=order).order_by("created_at", "pk")]
    data["events"] = [
        {"kind": e.kind, "message": e.message, "actor": e.actor, "data": _event_data(e, full),
         "time": e.created_at}
        for e in OrderEvent.objects.filter(order=order).order_by("created_at", "pk")]
    data["versions"] = _versions(order, full)
    data["tracking"] = _tracking(order)
    data["wms_callbacks"] = [wms_callback_out(c) for c in
                             order.wms_callbacks.select_related("order").order_by("received_at")]
    return data


# --- stock and channels -------------------------------------------------------------------

def stock_page(*, warehouse: str | None, sku: str | None, cursor: str | None,
               limit: int) -> dict:
    from warehouse.models import StockLevel

    limit = _limit(limit)
    rows = StockLevel.objects.select_related("warehouse", "sku")
    if warehouse:
        rows = rows.filter(warehouse__code=warehouse)
    if sku:
        rows = rows.filter(sku__code=sku)
    if cursor:
        rows = rows.filter(pk__gt=decode_cursor(cursor, 2)[1])
    found = list(rows.order_by("pk")[:limit + 1])
    page = found[:limit]
    items = [{"warehouse": s.warehouse.code, "sku": s.sku.code, "on_hand": s.on_hand,
              "reserved": s.reserved, "safety": s.safety, "available": s.available,
              "updated_at": s.updated_at} for s in page]
    next_cursor = encode_cursor(page[-1].updated_at, page[-1].pk) if page else cursor
    return {"items": items, "next_cursor": next_cursor, "has_more": len(found) > limit}


def channels_health() -> list[dict]:
    from channels.models import Channel

    now = timezone.now()
    return [{"code": c.code, "name": c.name, "platform": c.platform, "enabled": c.enabled,
             "paused": c.paused, "paused_reason": c.paused_reason,
             "last_poll_at": c.last_poll_at, "last_success_at": c.last_success_at,
             "lag_seconds": int((now - c.last_success_at).total_seconds())
             if c.last_success_at else None,
             "consecutive_failures": c.consecutive_failures, "last_error": c.last_error,
             "last_error_at": c.last_error_at}
            for c in Channel.objects.order_by("code")]


# --- audit feed --------------------------------------------------------------------------

# Source order within one instant: transitions, edits, approvals.
RANK = {"transition": 0, "edit": 1, "approval": 2}


def _after(rank: int, cursor) -> Q:
    if cursor is None:
        return Q()
    at, cursor_rank, cursor_id = cursor
    if rank > cursor_rank:
        return Q(created_at__gte=at)
    if rank == cursor_rank:
        return Q(created_at__gt=at) | Q(created_at=at, pk__gt=cursor_id)
    return Q(created_at__gt=at)


def audit_page(*, user, cursor: str | None, since: dt.datetime | None, limit: int) -> dict:
    """Transitions, edits (with their diffs) and approval decisions, oldest first."""
    from fulfillment.changes.models import ApprovalDecision

    limit = _limit(limit)
    position = decode_cursor(cursor, 3) if cursor else None
    cutoff = _cutoff()
    full = sees_buyer_contact(user)

    def window(qs, rank):
        qs = qs.filter(_after(rank, position), created_at__lte=cutoff)
        if since and position is None:
            qs = qs.filter(created_at__gte=since)
        return list(qs.order_by("created_at", "pk")[:limit + 1])

    items = []
    for t in window(OrderTransitionLog.objects.select_related("order"), RANK["transition"]):
        items.append(((t.created_at, 0, t.pk), {
            "id": f"transition:{t.pk}", "type": "transition", "time": t.created_at,
            "order_number": t.order.number, "actor": t.actor, "reason": t.reason,
            "transition": t.transition, "from_status": t.from_status,
            "to_status": t.to_status}))
    for e in window(OrderEvent.objects.select_related("order").filter(
            kind=OrderEvent.Kind.EDITED), RANK["edit"]):
        changes = (e.data or {}).get("changes")
        items.append(((e.created_at, 1, e.pk), {
            "id": f"edit:{e.pk}", "type": "edit", "time": e.created_at,
            "order_number": e.order.number, "actor": e.actor, "reason": e.message,
            "changes": _masked_changes(changes, full) if isinstance(changes, dict) else []}))
    for d in window(ApprovalDecision.objects.select_related("change__order", "user"),
                    RANK["approval"]):
        items.append(((d.created_at, 2, d.pk), {
            "id": f"approval:{d.pk}", "type": "approval", "time": d.created_at,
            "order_number": d.change.order.number, "actor": d.user.get_username(),
            "reason": d.comment, "change_request": d.change_id,
            "change_kind": d.change.kind, "step": d.step_name, "decision": d.decision,
            "changes": _masked_changes(
                {row.get("field", "?"): [row.get("old"), row.get("new")]
                 for row in (d.change.diff or {}).get("fields", []) if isinstance(row, dict)},
                full)}))
    items.sort(key=lambda pair: pair[0])
    page = items[:limit]
    next_cursor = encode_cursor(*page[-1][0]) if page else cursor
    return {"items": [item for _key, item in page], "next_cursor": next_cursor,
            "has_more": len(items) > limit}
