"""Order services: the one place orders are created, moved and edited.

Every function takes an explicit ``actor``: a user, or a string
``"system:<name>"`` for automation (a task, a connector, a command). Each runs
in a transaction, writes its audit rows, and enqueues follow-up work with
``transaction.on_commit`` so nothing leaves the process for a change that
rolled back.

Why one module of ~670 lines: it is the order's single write path (create,
edit, transition, notes, number reservation, actor handling) and its
functions share locking and versioning helpers; splitting them would spread
the one rule "every order change goes through here" over several files.
Bulk variants live in ``orderhub.services.bulk``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, TransitionNotAllowed, has_transition_perm

from orderhub.models import (
    EDITABLE,
    Order,
    OrderEvent,
    OrderLine,
    OrderNumberSequence,
    OrderStatus,
    OrderTransitionLog,
    Tag,
    normalize_phone,
)
from orderhub.signals import (
    StatusChange,
    announce_orders_created,
    announce_status_changes,
    order_edited,
)

Actor = AbstractBaseUser | str

# Transitions a person may trigger from the order page (and the admin's actions),
# in button order.
USER_TRANSITIONS = [
    "pay", "approve", "hold_review", "restock", "ship",
    "deliver", "complete", "hold", "release", "cancel", "intercept",
]
# Transitions a person takes only through a pick task on the scan screen
# (``warehouse.services.picking``): the task records which items were scanned, so
# "picked" means every line was scanned (or a problem was reported). A manager
# holding ``pick_order`` must not mark an order picked from the order page. Only
# the scan flow passes ``scan_flow=True``; automation (system actors) is not limited.
SCAN_FLOW_TRANSITIONS = frozenset({"claim", "finish"})
TRANSITIONS = [*USER_TRANSITIONS, "claim", "finish", "mark_ready", "mark_out_of_stock",
               "reprocess", "ship_on_platform"]
# What a person may set together with a transition they may take (``set_fields``).
PERSON_SET_FIELDS = {"carrier", "carrier_company", "tracking_number"}
REASON_REQUIRED = {"hold", "cancel", "intercept", "hold_review"}

# Fields an order edit may change (before picking starts).
EDITABLE_FIELDS = [
    "buyer_name", "buyer_phone", "buyer_email", "buyer_message",
    "ship_name", "ship_phone", "ship_country", "ship_province", "ship_city",
    "ship_district", "ship_street", "ship_postcode",
    "priority", "kind", "carrier", "tracking_number", "warehouse",
]

# Fields only a system actor (a platform's own data, through ingest) may change with
# ``order_update``: the money the platform charged and what write-back needs.
SYSTEM_FIELDS = ["shipping_fee", "discount", "total", "currency", "platform_data"]

ORDER_COUNTS_GENERATION_KEY = "orderhub:order-counts-generation"


class OrderServiceError(Exception):
    """A failure the user should read; ``status`` is the HTTP status a view returns."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OrderNotFound(OrderServiceError):
    status = 404


class TransitionNotPermitted(OrderServiceError):
    status = 403


class ScanFlowOnly(TransitionNotPermitted):
    """A person asked for ``claim``/``finish`` outside the scan flow."""


class TransitionRefused(OrderServiceError):
    """The transition does not exist from the order's current state."""

    status = 409


class OrderConflict(OrderServiceError):
    """Someone else changed the order between reading and writing it."""

    status = 409


@dataclass(frozen=True)
class ActorInfo:
    user: AbstractBaseUser | None
    label: str


def actor_info(actor: Actor) -> ActorInfo:
    if isinstance(actor, str):
        if not actor.startswith("system:") or len(actor) <= len("system:"):
            raise ValueError(f"A system actor looks like 'system:<name>', not {actor!r}")
        return ActorInfo(user=None, label=actor)
    if not getattr(actor, "is_authenticated", False):
        raise ValueError("An anonymous user cannot act on orders")
    return ActorInfo(user=actor, label=actor.get_username())


def _conflict() -> OrderConflict:
    return OrderConflict(
        _("Someone else changed this order meanwhile. Reload the page and try again.")
    )


def _get_order(order: Order | int) -> Order:
    if isinstance(order, Order):
        return order
    try:
        return Order.objects.get(pk=order)
    except (Order.DoesNotExist, ValueError, TypeError) as exc:
        raise OrderNotFound(_("There is no order %(id)s.") % {"id": order}) from exc


def _pk(order: Order | int) -> int:
    return order.pk if isinstance(order, Order) else order


def history_reason(text: str) -> str:
    """``text`` cut to what a history version's change reason holds (100 characters).

    The full reason is kept where it belongs (the transition log, the event);
    the version only needs enough to recognise it.
    """
    limit = Order.history.model._meta.get_field("history_change_reason").max_length
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _bump_counts_generation() -> None:
    # Status-tab counts are cached per generation; a new generation makes every
    # cached count stale at once, so the tabs never lag behind a real change.
    try:
        cache.incr(ORDER_COUNTS_GENERATION_KEY)
    except ValueError:
        cache.set(ORDER_COUNTS_GENERATION_KEY, 1, None)


def order_counts_generation() -> int:
    return cache.get_or_set(ORDER_COUNTS_GENERATION_KEY, 1, None)


def available_transitions(order: Order, user) -> list[str]:
    """Names of the transitions ``user`` may take on ``order`` now, in button order."""
    names = {t.name for t in order.get_available_user_status_transitions(user)}
    return [n for n in USER_TRANSITIONS if n in names]


def order_transition(
    *,
    order: Order | int,
    name: str,
    actor: Actor,
    reason: str = "",
    expected_status: str | None = None,
    set_fields: dict | None = None,
    scan_flow: bool = False,
) -> Order:
    """Move an order through one transition of the state machine.

    ``expected_status`` is the status the caller saw (a page's hidden field):
    if the order moved on meanwhile, the call fails with ``OrderConflict``
    instead of acting on a state the person never saw. Two concurrent calls
    can never both win: the save is conditional on the status it read.
    ``set_fields`` are set on the order just before the transition runs, and
    saved in the same version (the platform's carrier and tracking number with
    ``ship_on_platform``). System actors may set any field; a person only the
    parcel's fields (``PERSON_SET_FIELDS``) with a transition they may take,
    e.g. a tracking number typed in with ``ship``.

    ``scan_flow=True`` is for the pick task's own calls only (claim and finish,
    ``SCAN_FLOW_TRANSITIONS``); a person's claim or finish without it is refused.
    """
    if name not in TRANSITIONS:
        raise TransitionRefused(_("“%(name)s” is not an order action.") % {"name": name})
    who = actor_info(actor)
    if name in SCAN_FLOW_TRANSITIONS and who.user is not None and not scan_flow:
        raise ScanFlowOnly(_("Orders are claimed and finished on the scan screen only: the "
                             "pick task records every scanned item."))
    reason = (reason or "").strip()
    if name in REASON_REQUIRED and not reason:
        raise OrderServiceError(_("Please give a reason."))

    with transaction.atomic():
        # A caller's in-memory object may be stale: always decide on a fresh row.
        # (Not refresh_from_db: django-fsm's version flips the field's protection
        # process-wide, which races under threaded servers.)
        order = _get_order(_pk(order))
        from_status = order.status
        if expected_status is not None and expected_status != from_status:
            raise _conflict()
        method = getattr(order, name)
        if who.user is not None and not has_transition_perm(method, who.user):
            raise TransitionNotPermitted(_("You are not allowed to do that."))
        if set_fields:
            if who.user is not None and not set(set_fields) <= PERSON_SET_FIELDS:
                raise TransitionNotPermitted(_("You are not allowed to do that."))
            for key, value in set_fields.items():
                setattr(order, key, value)
        try:
            method(reason=reason)
        except TransitionNotAllowed as exc:
            raise TransitionRefused(
                _("This order is %(status)s; that action is no longer possible.")
                % {"status": order.get_status_display()}
            ) from exc
        if name == "release":
            order.held_from = ""
        order._change_reason = history_reason(f"{name}: {reason}" if reason else name)
        try:
            order.save()
        except ConcurrentTransition as exc:
            raise _conflict() from exc
        OrderTransitionLog.objects.create(
            order=order,
            transition=name,
            from_status=from_status,
            to_status=order.status,
            actor_user=who.user,
            actor=who.label,
            reason=reason,
        )
        order_id, to_status = order.pk, order.status
        transaction.on_commit(_bump_counts_generation)
        change = StatusChange(order_id, name, from_status, to_status)
        transaction.on_commit(lambda: announce_status_changes([change], who.label))
    return order


def order_ship_on_platform(
    *,
    order: Order | int,
    actor: str,
    carrier: str = "",
    tracking_number: str = "",
    shipped_at: dt.datetime | None = None,
    shipments: list[dict] | None = None,
    reason: str = "",
) -> Order:
    """The platform says it shipped an order the hub has not picked: ``ship_on_platform``.

    System actors only (ingest). Carrier, tracking number and shipped time are
    the platform's, saved in the transition's own version; every parcel the
    platform lists goes into a ``platform_shipped`` event so ops see what
    happened (and, when the platform gave no tracking number, that it did not).
    Reservations are released by the warehouse on the status change.
    """
    who = actor_info(actor)
    if who.user is not None:
        raise TransitionNotPermitted(_("You are not allowed to do that."))
    shipments = shipments or []
    with transaction.atomic():
        current = _get_order(_pk(order))
        from_status = current.status
        fields = {"carrier": (carrier or "")[:40], "tracking_number": (tracking_number or "")[:64],
                  "hold_reason": ""}
        if shipped_at is not None:
            fields["shipped_at"] = shipped_at
        order = order_transition(order=current.pk, name="ship_on_platform", actor=actor,
                                 reason=reason or _("shipped on the platform"),
                                 set_fields=fields)
        if tracking_number:
            message = _("The platform shipped this order (%(carrier)s %(tracking)s); the hub "
                        "will not pick it.") % {"carrier": carrier or "?",
                                               "tracking": tracking_number}
        else:
            message = _("The platform shipped this order but gave no tracking number; the hub "
                        "will not pick it.")
        OrderEvent.objects.create(
            order=order, kind="platform_shipped", actor=who.label, message=message,
            data={"from_status": from_status, "shipments": shipments,
                  "no_tracking": not tracking_number},
        )
    return order


def order_record_platform_state(*, order: Order | int, updated_at: dt.datetime | None,
                                platform_data: dict | None = None) -> None:
    """Remember the platform's last-modified time (and write-back data) of what was applied.

    Not an edit: ``platform_updated_at`` is bookkeeping for ingest (an older
    payload never changes the order), and ``platform_data`` is what write-back
    hands back to the platform. The time only ever moves forward.
    """
    values: dict = {}
    if updated_at is not None:
        current = Order.objects.filter(pk=_pk(order)).values_list(
            "platform_updated_at", flat=True).first()
        if current is None or updated_at > current:
            values["platform_updated_at"] = updated_at
    if platform_data is not None:
        values["platform_data"] = platform_data
    if values:
        Order.objects.filter(pk=_pk(order)).update(**values)
        if isinstance(order, Order):
            for key, value in values.items():
                setattr(order, key, value)


def reserve_order_numbers(count: int = 1, *, day: dt.date | None = None) -> list[str]:
    """Hand out ``count`` consecutive hub order numbers for ``day`` (local date).

    The day's sequence row stays locked until the outermost transaction
    commits, so two writers can never hand out the same number.
    """
    day = day or timezone.localdate()
    with transaction.atomic():
        OrderNumberSequence.objects.get_or_create(day=day)
        OrderNumberSequence.objects.filter(day=day).update(last=F("last") + count)
        last = OrderNumberSequence.objects.select_for_update().get(day=day).last
    return [f"OH{day:%Y%m%d}{n:06d}" for n in range(last - count + 1, last + 1)]


def _clean_text(value: str) -> str:
    # Control characters (a newline in an address) break label printing.
    if value.isprintable():
        return " ".join(value.split())
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def _normalized_fields(fields: dict) -> dict:
    out = {}
    for key, value in fields.items():
        if isinstance(value, str) and key != "buyer_message":
            value = _clean_text(value)
        if key in ("buyer_phone", "ship_phone") and value:
            country = fields.get("ship_country") or "CN"
            value = normalize_phone(value, country)
        out[key] = value
    return out


def order_create(
    *,
    channel,
    actor: Actor,
    lines: Iterable[dict],
    tags: Iterable[str] = (),
    **fields,
) -> Order:
    """Create an order in ``pending_payment`` with its lines.

    ``lines`` are dicts of OrderLine fields (sku_code, name, quantity,
    unit_price, is_gift). Totals are computed from the lines when not given.
    Raises ValidationError for a bad phone number or an order without lines.
    """
    who = actor_info(actor)
    lines = list(lines)
    if not lines:
        raise ValidationError(_("An order needs at least one line."))
    fields = _normalized_fields(fields)
    with transaction.atomic():
        order = Order(channel=channel, **fields)
        order.number = reserve_order_numbers(1, day=timezone.localdate(order.placed_at))[0]
        line_objs = [OrderLine(order=order, **_line_fields(line)) for line in lines]
        if "subtotal" not in fields:
            order.subtotal = sum((line.line_total for line in line_objs if not line.is_gift), 0)
        if "total" not in fields:
            order.total = order.subtotal + order.shipping_fee - order.discount
        order._change_reason = "created"
        order.full_clean(exclude=["number", "status", "channel", "warehouse", "customer"])
        order.save()
        for line in line_objs:
            line.order = order
            line.save()
        if tags:
            order.tags.set([Tag.objects.get_or_create(name=t)[0] for t in tags])
        OrderEvent.objects.create(
            order=order, kind=OrderEvent.Kind.CREATED, actor_user=who.user, actor=who.label,
            message=_("Order created"),
        )
        transaction.on_commit(_bump_counts_generation)
        created_id = order.pk
        transaction.on_commit(lambda: announce_orders_created([created_id], who.label))
    return order


def order_update(
    *,
    order: Order | int,
    actor: Actor,
    changes: dict,
    lines: Iterable[dict] | None = None,
    reason: str = "",
    expected_status: str | None = None,
) -> Order:
    """Edit an order's details; a new version is recorded with the diff.

    Only the fields in ``EDITABLE_FIELDS`` and only before picking starts (or
    while on hold): later changes go through change requests. ``lines``, when
    given, replaces the lines as ``order_update_lines`` does: an edit of both
    is one version, one edit event and one ``order_edited`` (automation re-runs
    once, not once per part).

    A system actor may also change ``SYSTEM_FIELDS`` (the platform's shipping
    fee, discount, total, currency and write-back data): a platform's edit is
    then one version and one event like a person's. A ``total`` given is kept
    as the platform says it; otherwise it follows the lines, fee and discount.
    Lines that carry an ``external_line_id`` match the order's line with that
    id first (a platform's own line), then by (SKU, gift).
    """
    who = actor_info(actor)
    allowed = set(EDITABLE_FIELDS) | (set(SYSTEM_FIELDS) if who.user is None else set())
    unknown = set(changes) - allowed
    if unknown:
        raise OrderServiceError(
            _("These fields cannot be edited: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    # A platform's lines (a system actor's) match by their platform line id; a
    # person's edit matches by (SKU, gift), as the edit form shows them.
    checked = (_checked_lines(lines, by_line_id=who.user is None) if lines is not None
               else None)
    if checked is not None and who.user is not None:
        # Shipped quantities and gift links are the platform's word, not a person's.
        for line in checked[1]:
            line.pop("shipped_quantity", None)
            line.pop("gift_for", None)
    if who.user is not None and not who.user.has_perm("orderhub.change_order"):
        raise TransitionNotPermitted(_("You are not allowed to do that."))
    with transaction.atomic():
        if checked is None:
            order = _get_order(_pk(order))
        else:
            # Locked while the lines change, so two edits cannot interleave.
            try:
                order = Order.objects.select_for_update().get(pk=_pk(order))
            except (Order.DoesNotExist, ValueError, TypeError) as exc:
                raise OrderNotFound(_("There is no order %(id)s.") % {"id": _pk(order)}) from exc
        if expected_status is not None and expected_status != order.status:
            raise _conflict()
        if order.status not in EDITABLE:
            raise TransitionRefused(
                _("This order is %(status)s; it can no longer be edited directly.")
                % {"status": order.get_status_display()}
            )
        changes = _normalized_fields(changes)
        money_before = {"subtotal": order.subtotal, "total": order.total}
        diff = {}
        for key, new in changes.items():
            attr = "warehouse_id" if key == "warehouse" else key
            new_value = new.pk if key == "warehouse" and new is not None else new
            old = getattr(order, attr)
            if old != new_value:
                diff[key] = [_jsonable(old), _jsonable(new_value)]
                setattr(order, attr, new_value)
        if diff:
            order.full_clean(exclude=["number", "status", "channel", "warehouse", "customer"])
        lines_data = _replace_lines(order, *checked) if checked is not None else None
        if "total" in changes:
            order.total = Decimal(str(changes["total"]))  # what the platform charged
        elif {"shipping_fee", "discount"} & set(diff):
            order.total = order.subtotal + order.shipping_fee - order.discount
        if not diff and lines_data is None:
            return order
        fields = sorted(diff)
        data: dict = {"changes": diff}
        if lines_data is not None:
            lines_diff, data["lines"] = lines_data
            diff.update(lines_diff)
            fields.append("lines")
        for attr, old in money_before.items():
            # The totals as they end up, whichever part of the edit moved them.
            if getattr(order, attr) != old:
                diff[attr] = [_jsonable(old), _jsonable(getattr(order, attr))]
            else:
                diff.pop(attr, None)
        default = "lines edited" if fields == ["lines"] else "edited"
        order._change_reason = history_reason(reason or default)
        try:
            order.save()
        except ConcurrentTransition as exc:
            raise _conflict() from exc
        OrderEvent.objects.create(
            order=order, kind=OrderEvent.Kind.EDITED, actor_user=who.user, actor=who.label,
            message=reason, data=data,
        )
        transaction.on_commit(_bump_counts_generation)
        _announce_edit(order, fields, who.label)
    return order


def _announce_edit(order: Order, fields: list[str], actor_label: str) -> None:
    """Send ``order_edited`` once the edit commits (automation re-runs on it)."""
    order_id, status = order.pk, order.status
    transaction.on_commit(lambda: order_edited.send(
        sender=Order, order_id=order_id, fields=fields, actor=actor_label, status=status,
    ))


def order_update_lines(
    *,
    order: Order | int,
    actor: Actor,
    lines: Iterable[dict],
    reason: str = "",
    expected_status: str | None = None,
) -> Order:
    """Replace an order's lines; a new version is recorded with the lines' diff.

    ``lines`` are dicts like ``order_create``'s (sku_code, name, quantity,
    unit_price, is_gift, external_line_id). A line whose (SKU, gift) matches an
    existing line updates it in place, so its platform line id and history
    stay; lines not given are deleted. Subtotal and total are recomputed from
    the non-gift lines (shipping fee and discount stay). Same status and
    permission rules as ``order_update``; the order row is locked while the
    lines change, so two edits cannot interleave. To change fields too in one
    version, call ``order_update(changes=..., lines=...)``.
    """
    return order_update(order=order, actor=actor, changes={}, lines=lines, reason=reason,
                        expected_status=expected_status)


def _checked_lines(lines: Iterable[dict], *, by_line_id: bool = False
                   ) -> tuple[list[tuple[str, bool, str]], list[dict]]:
    """The new lines' (SKU, gift, platform line id) keys and fields, or ``ValidationError``.

    Without ``by_line_id`` the keys' line id is "": lines match by (SKU, gift) only.
    """
    new_lines = [_line_fields(line) for line in lines]
    if not new_lines:
        raise ValidationError(_("An order needs at least one line."))
    keys = [(line["sku_code"], bool(line.get("is_gift", False)),
             (line.get("external_line_id") or "") if by_line_id else "")
            for line in new_lines]
    if any(not code for code, _gift, _ext in keys):
        raise ValidationError(_("Every line needs a SKU."))
    # A platform's own lines are told apart by their line id (two listings may
    # map to one hub SKU); lines without one by (SKU, gift).
    ids = [ext for _code, _gift, ext in keys if ext]
    plain = [(code, gift) for code, gift, ext in keys if not ext]
    if len(set(ids)) != len(ids) or len(set(plain)) != len(plain):
        raise ValidationError(_("Each SKU may appear only once (once more as a gift)."))
    if any(line["unit_price"] < 0 for line in new_lines):
        raise ValidationError(_("A price cannot be negative."))
    if any(line.get("shipped_quantity", 0) > line["quantity"] for line in new_lines):
        raise ValidationError(_("A line cannot have shipped more than its quantity."))
    return keys, new_lines


def _replace_lines(order: Order, keys, new_lines) -> tuple[dict, dict] | None:
    """Write the order's line rows; set subtotal and total on ``order`` (not saved).

    Call holding the order's row lock. Returns (order field diff, lines
    added/removed/changed), or None when the lines stay as they are. A new
    line with a platform line id takes the existing line with that id; any
    other takes the first unmatched line with its (SKU, gift).
    """
    existing = list(order.lines.all())
    by_ext = {line.external_line_id: line for line in existing if line.external_line_id}
    old_summary = _lines_summary(existing)
    added, changed, kept = [], [], set()
    claimed = {ext for _code, _gift, ext in keys if ext}
    for (sku_code, is_gift, ext), fields in zip(keys, new_lines, strict=True):
        line = by_ext.get(ext) if ext else None
        if line is None:
            line = next((ln for ln in existing if ln.pk not in kept
                         and (ln.sku_code, ln.is_gift) == (sku_code, is_gift)
                         and ln.external_line_id not in claimed), None)
        if line is None:
            fields.setdefault("name", "")
            fields["name"] = fields["name"] or fields["sku_code"]
            line = OrderLine(order=order, **fields)
            line.full_clean(exclude=["order"])
            line.save()
            kept.add(line.pk)
            added.append(_line_json(line))
            continue
        kept.add(line.pk)
        delta = {}
        for attr in ("sku_code", "is_gift", "quantity", "unit_price", "shipped_quantity"):
            if attr in fields and getattr(line, attr) != fields[attr]:
                delta[attr] = [_jsonable(getattr(line, attr)), _jsonable(fields[attr])]
                setattr(line, attr, fields[attr])
        quiet = False  # details that do not change what is picked or paid
        if fields.get("name") and fields["name"] != line.name:
            line.name = fields["name"]
            quiet = True
        for attr in ("gift_for", "external_line_id") if ext else ("gift_for",):
            if attr in fields and fields[attr] != getattr(line, attr):
                setattr(line, attr, fields[attr])
                quiet = True
        if delta or quiet:
            line.full_clean(exclude=["order"])
            line.save()
            if delta:
                changed.append({"sku_code": line.sku_code, "is_gift": line.is_gift, **delta})
    removed = [_line_json(line) for line in existing if line.pk not in kept]
    order.lines.filter(pk__in=[line.pk for line in existing if line.pk not in kept]).delete()
    if not (added or changed or removed):
        return None
    current = list(order.lines.all())
    diff = {"lines": [old_summary, _lines_summary(current)]}
    subtotal = sum((line.line_total for line in current if not line.is_gift), Decimal("0"))
    total = subtotal + order.shipping_fee - order.discount
    for attr, value in (("subtotal", subtotal), ("total", total)):
        if getattr(order, attr) != value:
            diff[attr] = [_jsonable(getattr(order, attr)), _jsonable(value)]
            setattr(order, attr, value)
    return diff, {"added": added, "removed": removed, "changed": changed}


def _line_json(line: OrderLine) -> dict:
    return {"sku_code": line.sku_code, "name": line.name, "quantity": line.quantity,
            "unit_price": _jsonable(line.unit_price), "is_gift": line.is_gift}


def _lines_summary(lines) -> str:
    # One readable line for the timeline's "old → new" row.
    return ", ".join(
        f"{line.sku_code}×{line.quantity}@{line.unit_price}" + (" (gift)" if line.is_gift else "")
        for line in sorted(lines, key=lambda x: (x.is_gift, x.sku_code))
    )


def order_add_note(*, order: Order | int, actor: Actor, text: str) -> OrderEvent:
    who = actor_info(actor)
    text = (text or "").strip()
    if not text:
        raise OrderServiceError(_("A note cannot be empty."))
    order = _get_order(order)
    return OrderEvent.objects.create(
        order=order, kind=OrderEvent.Kind.NOTE, actor_user=who.user, actor=who.label, message=text
    )


def _line_fields(line: dict) -> dict:
    fields = dict(line)
    try:
        fields["quantity"] = int(fields["quantity"])
        fields["unit_price"] = Decimal(str(fields.get("unit_price", "0")))
    except (KeyError, ValueError, InvalidOperation) as exc:
        raise ValidationError(_("A line needs a whole quantity and a price.")) from exc
    if fields["quantity"] < 1:
        raise ValidationError(_("A line's quantity must be at least 1."))
    if "shipped_quantity" in fields:
        try:
            fields["shipped_quantity"] = int(fields["shipped_quantity"] or 0)
        except (TypeError, ValueError) as exc:
            raise ValidationError(_("A line's shipped quantity must be a whole number.")) from exc
        if fields["shipped_quantity"] < 0:
            raise ValidationError(_("A line's shipped quantity cannot be negative."))
    fields["name"] = _clean_text(fields.get("name", ""))
    return fields


def _jsonable(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


__all__ = [
    "Actor",
    "OrderConflict",
    "OrderNotFound",
    "OrderServiceError",
    "OrderStatus",
    "ScanFlowOnly",
    "TransitionNotPermitted",
    "TransitionRefused",
    "available_transitions",
    "order_add_note",
    "order_counts_generation",
    "order_create",
    "order_record_platform_state",
    "order_ship_on_platform",
    "order_transition",
    "order_update",
    "order_update_lines",
    "reserve_order_numbers",
]
