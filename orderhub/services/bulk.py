"""Bulk order creation: many new orders at once, with the audit trail of one by one.

``order_bulk_create`` writes, for N new orders, exactly the rows that
``order_create`` + ``order_add_note`` + ``order_transition`` would write one
order at a time: the order and its lines, one "created" event, the notes, one
transition log row per transition, a history version for the creation and one
per transition, a history version per line; then, after commit, the counts
generation bump, one ``orders_status_changed`` for the batch and one
``order_status_changed`` per transition. It does so
with a handful of multi-row INSERTs per batch instead of ~40 queries per order.

``orders_edit_and_transition`` does the same for existing orders a system
actor edits and/or moves in bulk (automation): the rows of ``order_update`` +
``order_transition``, one ``bulk_update`` and a few inserts per batch. Anything
else, and everything people do, goes through the per-order services in
``orderhub.services.orders``.

Why ~660 lines: the two bulk services must write exactly the rows of the
per-order path, and each needs its own fast validation and row building
beside it. The generic COPY/array writers they use live in ``orderhub.db``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from django.core import validators as v
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed

# insert_rows and lazy_commit_atomic are re-exported here for importers of the old path
# (channels.pipeline); new code imports them from orderhub.db.
from orderhub.db import insert_rows, lazy_commit_atomic, update_rows
from orderhub.models import (
    EDITABLE,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    OrderTransitionLog,
)
from orderhub.services.orders import (
    EDITABLE_FIELDS,
    REASON_REQUIRED,
    Actor,
    OrderServiceError,
    TransitionRefused,
    _bump_counts_generation,
    _jsonable,
    _line_fields,
    _normalized_fields,
    actor_info,
    reserve_order_numbers,
)
from orderhub.signals import (
    StatusChange,
    announce_orders_created,
    announce_status_changes,
    order_edited,
)

logger = logging.getLogger(__name__)

# Transitions a new order may take inside a bulk create. Their methods only set
# fields in memory, and nothing listens to their django-fsm signals; a
# transition with effects on the saved row (``ship`` queues a shipment push
# from its post_transition receiver) must go through ``order_transition``.
# ``ship_on_platform`` (and the ``deliver``/``complete`` after it) only set fields
# too: the platform shipped the order, so nothing is pushed back and no waybill booked.
BULK_TRANSITIONS = frozenset({"pay", "hold_review", "cancel", "hold", "ship_on_platform",
                              "deliver", "complete"})

# The same exclusions as order_create: the number is assigned here, the status
# moves only through transitions, and the foreign keys are the caller's. The
# buyer's phone was just put in E.164 form by normalize_phone (which refuses an
# invalid one), so its validator would only parse it a second time.
_CLEAN_EXCLUDE = ["number", "status", "channel", "warehouse", "customer", "buyer_phone"]


@dataclass
class NewOrder:
    """One order to create: what ``order_create`` takes, plus what follows it.

    ``fields`` are Order fields (``order_create``'s ``**fields``), ``lines``
    dicts of OrderLine fields, ``notes`` texts added as note events, and
    ``transitions`` ``(name, reason)`` pairs taken in order right after the
    creation, as ``order_transition`` would take them, and ``events``
    ``(kind, message, data)`` event rows written after them.

    ``cleaned`` names the fields the caller already put through the same
    cleaning ``order_create`` does (text squeezed, control characters gone,
    phones in E.164 by ``normalize_phone``): they are not cleaned a second time.
    They are still validated.
    """

    fields: dict
    lines: list[dict]
    notes: Sequence[str] = ()
    transitions: Sequence[tuple[str, str]] = ()
    cleaned: frozenset = frozenset()
    # Typed timeline events written with the order: (kind, message, data).
    events: Sequence[tuple[str, str, dict]] = ()


@dataclass
class BulkCreateResult:
    """``orders[i]`` is the created order for input ``i``, or None when it was invalid.

    ``errors[i]`` is the ValidationError that kept input ``i`` out (nothing of
    it was written).
    """

    orders: list[Order | None]
    errors: dict[int, ValidationError] = field(default_factory=dict)

    @property
    def created(self) -> list[Order]:
        return [order for order in self.orders if order is not None]


@dataclass
class _Step:
    name: str
    from_status: str
    to_status: str
    reason: str
    at: object
    snapshot: dict  # the order's tracked fields right after the transition


@dataclass
class _Prepared:
    index: int
    order: Order
    lines: list[dict]  # OrderLine rows by attname: no model instances needed
    notes: list[str]
    events: list[tuple[str, str, dict]]
    created_at: object
    created_snapshot: dict
    steps: list[_Step]


def order_bulk_create(*, channel, actor: Actor, orders: Sequence[NewOrder],
                      in_same_transaction: Callable[[BulkCreateResult], None] | None = None,
                      ) -> BulkCreateResult:
    """Create new orders in bulk, writing what the per-order services would write.

    Caller's obligations:

    - None of the orders exists yet: the caller looked up ``(channel,
      external_id)`` for the whole batch. A duplicate raises IntegrityError and
      nothing of the batch is written (the call is one transaction, or one
      savepoint inside the caller's).
    - Transitions are limited to ``BULK_TRANSITIONS``. Their methods run on
      the in-memory order before it is inserted, so django-fsm's
      ``pre_transition``/``post_transition`` see an order without a pk: anything
      reacting to a state change must listen to ``order_status_changed``
      (sent after commit, with the order id), as the rest of the hub does.
    - simple_history's ``pre/post_create_historical_record`` signals are not
      sent (history rows are bulk-inserted).

    Order numbers are reserved in a short transaction of their own before the
    rows are written (when the caller has no transaction open), so concurrent
    batches do not queue on the day's number sequence; a batch that then fails
    leaves a gap in the day's numbers, never a duplicate.
    ``in_same_transaction(result)`` runs inside the writing transaction, for
    the caller's own bookkeeping that must commit (or roll back) with the orders.

    An input that fails validation (bad phone, no lines, too long a field)
    is left out and reported in ``errors``; the others are created. A bad
    transition list (unknown name, reason missing) is the caller's bug and
    raises before anything is written.
    """
    who = actor_info(actor)
    for spec in orders:
        for name, reason in spec.transitions:
            if name not in BULK_TRANSITIONS:
                raise OrderServiceError(
                    _("“%(name)s” cannot be taken in a bulk create.") % {"name": name})
            if name in REASON_REQUIRED and not (reason or "").strip():
                raise OrderServiceError(_("Please give a reason."))
        if any(not (note or "").strip() for note in spec.notes):
            raise OrderServiceError(_("A note cannot be empty."))

    history_order = Order.history.model
    history_line = OrderLine.history.model
    order_fields = [f.attname for f in history_order.tracked_fields]
    line_fields = [f.attname for f in history_line.tracked_fields]

    result = BulkCreateResult(orders=[None] * len(orders))
    prepared: list[_Prepared] = []
    for index, spec in enumerate(orders):
        try:
            prepared.append(_prepare(index, channel, spec, order_fields))
        except ValidationError as exc:
            result.errors[index] = exc
    if not prepared:
        return result

    _assign_numbers(prepared)
    with transaction.atomic():
        insert_rows(Order, [item.order for item in prepared], returning_pk=True)
        lines = []
        for item in prepared:
            item.order._update_initial_state()  # the row now holds the final status
            order_id = item.order.pk
            for line in item.lines:
                line["order_id"] = order_id
                lines.append(line)
        insert_rows(OrderLine, lines, returning_pk=True)

        history_user = history_order.get_default_history_user(prepared[0].order)
        user_id = who.user.pk if who.user is not None else None
        audit = {"history_user_id": history_user.pk if history_user is not None else None}
        versions, line_versions, events, logs = [], [], [], []
        created_message = _("Order created")
        for item in prepared:
            order = item.order
            # These exist only now; every version of this order carries them.
            fixed = {"id": order.pk, "number": order.number, "created_at": order.created_at}
            versions.append({**item.created_snapshot, **fixed, **audit,
                             "history_date": item.created_at, "history_type": "+",
                             "history_change_reason": "created"})
            line_versions.extend(
                {**{name: line[name] for name in line_fields}, **audit,
                 "history_date": item.created_at, "history_type": "+",
                 "history_change_reason": None}
                for line in item.lines)
            events.append({"order_id": order.pk, "kind": OrderEvent.Kind.CREATED,
                           "actor_user_id": user_id, "actor": who.label,
                           "message": created_message, "created_at": item.created_at})
            events.extend({"order_id": order.pk, "kind": OrderEvent.Kind.NOTE,
                           "actor_user_id": user_id, "actor": who.label, "message": note,
                           "created_at": item.created_at}
                          for note in item.notes)
            events.extend({"order_id": order.pk, "kind": kind, "actor_user_id": user_id,
                           "actor": who.label, "message": message, "data": data,
                           "created_at": item.created_at}
                          for kind, message, data in item.events)
            for step in item.steps:
                versions.append({
                    **step.snapshot, **fixed, **audit, "history_date": step.at,
                    "history_type": "~",
                    "history_change_reason": f"{step.name}: {step.reason}" if step.reason
                    else step.name})
                logs.append({"order_id": order.pk, "transition": step.name,
                             "from_status": step.from_status, "to_status": step.to_status,
                             "actor_user_id": user_id, "actor": who.label,
                             "reason": step.reason, "created_at": step.at})
        insert_rows(history_order, versions)
        insert_rows(history_line, line_versions)
        insert_rows(OrderEvent, events)
        insert_rows(OrderTransitionLog, logs)

        changes = [StatusChange(item.order.pk, step.name, step.from_status, step.to_status)
                   for item in prepared for step in item.steps]
        # One bump for the whole batch: the per-order path bumps once per write.
        transaction.on_commit(_bump_counts_generation)
        created_ids = [item.order.pk for item in prepared]
        transaction.on_commit(lambda: announce_orders_created(created_ids, who.label))
        if changes:
            transaction.on_commit(lambda: announce_status_changes(changes, who.label))
        for item in prepared:
            result.orders[item.index] = item.order
        if in_same_transaction is not None:
            in_same_transaction(result)
    return result


def _prepare(index: int, channel, spec: NewOrder, order_fields: list[str]) -> _Prepared:
    """Build and validate the unsaved order as ``order_create`` does, then take its transitions.

    The transition methods are the model's own, so their field changes
    (``paid_at``, ``cancelled_at``...) are exactly what ``order_transition`` makes.
    """
    raw_lines = list(spec.lines)
    if not raw_lines:
        raise ValidationError(_("An order needs at least one line."))
    created_at = timezone.now()
    if spec.cleaned:
        fields = {**spec.fields, **_normalized_fields(
            {key: value for key, value in spec.fields.items() if key not in spec.cleaned})}
    else:
        fields = _normalized_fields(spec.fields)
    order = _new_order(channel, fields)
    lines = [_line_row(line) for line in raw_lines]
    if "subtotal" not in fields:
        order.subtotal = sum((line["unit_price"] * line["quantity"] for line in lines
                              if not line["is_gift"]), 0)
    if "total" not in fields:
        order.total = order.subtotal + order.shipping_fee - order.discount
    # Every unique field and constraint involves an excluded field, so the
    # unique/constraint checks would find nothing to check: skip building them.
    exclude = _clean_exclude(fields)
    if not _plainly_valid(order, exclude):
        # Something the quick check does not vouch for: the model's own
        # validation decides, with its own messages.
        order.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    created_snapshot = {name: getattr(order, name) for name in order_fields}
    steps = []
    for name, reason in spec.transitions:
        reason = (reason or "").strip()
        from_status = order.status
        try:
            getattr(order, name)(reason=reason)
        except TransitionNotAllowed as exc:
            raise ValidationError(
                _("An order in %(status)s cannot take “%(name)s”.")
                % {"status": OrderStatus(from_status).label, "name": name}) from exc
        steps.append(_Step(name=name, from_status=from_status, to_status=order.status,
                           reason=reason, at=timezone.now(),
                           snapshot={attr: getattr(order, attr) for attr in order_fields}))
    return _Prepared(index=index, order=order, lines=lines,
                     notes=[note.strip() for note in spec.notes], events=list(spec.events),
                     created_at=created_at,
                     created_snapshot=created_snapshot, steps=steps)


@lru_cache(maxsize=1)
def _order_template() -> tuple[dict, list, list]:
    """Where each field goes in ``Order(*values)``, the constant defaults, the callable ones."""
    fields = Order._meta.concrete_fields
    index = {f.attname: i for i, f in enumerate(fields) if not f.is_relation}
    constant, computed = [], []
    for i, f in enumerate(fields):
        if f.has_default() and callable(f.default):
            computed.append((i, f))
            constant.append(None)
        else:
            constant.append(f.get_default())
    return index, constant, computed


def _new_order(channel, fields: dict) -> Order:
    """``Order(channel=channel, **fields)``, five times faster for plain field values.

    Positional construction skips Django's per-keyword bookkeeping; every field
    not given takes its default, as the keyword form gives it. A relation or
    an unknown name takes the keyword form (and its errors).
    """
    index, constant, computed = _order_template()
    if not index.keys() >= fields.keys():
        return Order(channel=channel, **fields)
    values = constant.copy()
    for i, f in computed:
        values[i] = f.get_default()
    for key, value in fields.items():
        values[index[key]] = value
    values[_CHANNEL_POSITION] = channel.pk
    order = Order(*values)
    Order.channel.field.set_cached_value(order, channel)
    return order


_CHANNEL_POSITION = next(i for i, f in enumerate(Order._meta.concrete_fields)
                         if f.name == "channel")


@lru_cache(maxsize=1)
def _line_defaults() -> tuple[dict, frozenset]:
    fields = [f for f in OrderLine._meta.concrete_fields if not f.primary_key]
    names = frozenset(f.name for f in fields) | frozenset(f.attname for f in fields)
    # Every column, as OrderLine() would fill it ('' for a text field without a default).
    return {f.attname: f.get_default() for f in fields}, names


def _line_row(line: dict) -> dict:
    """One OrderLine row as a dict: what ``OrderLine(**_line_fields(line))`` would hold."""
    defaults, names = _line_defaults()
    given = _line_fields(line)
    unknown = set(given) - names
    if unknown:
        # What OrderLine(**given) says about a key it does not know.
        raise TypeError(f"OrderLine() got unexpected keyword arguments: "
                        f"{', '.join(map(repr, sorted(unknown)))}")
    row = {**defaults, **given}
    row["is_gift"] = bool(row["is_gift"])
    return row


def _plain_checks(field) -> tuple | None:
    """How ``_plainly_valid`` checks ``field``: (kind, max_length, choices, other validators).

    None: a field the quick check leaves to ``full_clean``.
    """
    if isinstance(field, models.CharField | models.TextField):
        kind = str
    elif isinstance(field, models.DecimalField):
        kind = Decimal
    elif isinstance(field, models.DateTimeField):
        kind = dt.datetime
    else:
        return None
    max_length, other = None, []
    for validator in field.validators:
        if type(validator) is v.MaxLengthValidator:
            max_length = validator.limit_value
        elif type(validator) is v.ProhibitNullCharactersValidator:
            other.append(_no_nul)
        else:
            other.append(validator)
    choices = frozenset(field.flatchoices and (key for key, _label in field.flatchoices))
    return kind, max_length, choices, tuple(other)


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("null character")


@lru_cache(maxsize=64)
def _plain_plan(exclude: tuple) -> tuple | None:
    plan = []
    for f in Order._meta.concrete_fields:
        if f.name in exclude:
            continue
        checks = _plain_checks(f)
        if checks is None:
            return None
        plan.append((f.attname, f.blank, f.empty_values, *checks))
    return tuple(plan)


def _plainly_valid(order: Order, exclude: list[str]) -> bool:
    """True when ``order.full_clean(exclude=exclude)`` would pass and change nothing.

    ``full_clean`` costs as much as building the order. For values already of
    the field's Python type (str, Decimal, aware datetime) its checks are the
    length, choices, blank/null and the field's validators: done here directly.
    False means "not sure": let ``full_clean`` decide.
    """
    if type(order).clean is not models.Model.clean:
        return False
    plan = _plain_plan(tuple(exclude))
    if plan is None:
        return False
    for attname, blank, empty, kind, max_length, choices, other in plan:
        value = getattr(order, attname)
        if value in empty:
            if blank:
                continue  # full_clean skips it
            return False
        if type(value) is not kind:
            return False
        if kind is str:
            if max_length is not None and len(value) > max_length:
                return False
            if choices and value not in choices:
                return False
        elif kind is Decimal:
            if not value.is_finite():
                return False
        elif value.tzinfo is None:
            return False
        for validator in other:
            try:
                validator(value)
            except ValidationError:
                return False
    return True


@lru_cache(maxsize=64)
def _defaulted(given: frozenset) -> list[str]:
    return [f.name for f in Order._meta.concrete_fields
            if f.attname not in given and f.name not in given]


def _clean_exclude(fields: dict) -> list[str]:
    # A field nobody gave holds its model default, valid by definition: only
    # what the caller gave (and the totals computed from it) needs cleaning.
    return _CLEAN_EXCLUDE + _defaulted(frozenset(fields) | {"subtotal", "total"})


def _assign_numbers(prepared: list[_Prepared]) -> None:
    # One reservation per local day in the batch, numbers handed out in input order.
    by_day: dict = {}
    for item in prepared:
        by_day.setdefault(timezone.localdate(item.order.placed_at), []).append(item)
    for day, items in by_day.items():
        # Numbers only matter with the orders that use them, committed later
        # (synchronously): the reservation need not wait for the disk.
        with lazy_commit_atomic(Order):
            numbers = reserve_order_numbers(len(items), day=day)
        for item, number in zip(items, numbers, strict=True):
            item.order.number = number


# --- existing orders: one edit and/or one transition each, for many at once ---------------

# Transitions ``orders_edit_and_transition`` may take. Their methods only set
# fields in memory and nothing reacts to their django-fsm signals (``ship`` and
# ``finish`` queue outbox rows from post_transition receivers, ``release`` needs
# the service's clean-up of ``held_from``): writing the row afterwards is all
# they need. Anything else goes through ``order_transition``.
BULK_MOVE_TRANSITIONS = frozenset({
    "pay", "mark_ready", "mark_out_of_stock", "restock", "hold_review", "approve",
    "reprocess", "hold", "cancel",
})


def orders_edit_and_transition(
    *,
    orders: Sequence[Order],
    actor: str,
    changes_by_id: Mapping[int, dict] | None = None,
    edit_reason: str = "",
    transition_by_id: Mapping[int, tuple[str, str]] | None = None,
) -> dict[int, dict]:
    """Edit and/or move many existing orders, writing what the per-order services write.

    For each order in ``orders``: ``changes_by_id[order.pk]`` (``order_update``'s
    ``changes``, with ``edit_reason`` as its ``reason``) is applied first, then
    ``transition_by_id[order.pk] = (name, reason)`` is taken (``order_transition``).
    The result, per order, is the rows those two calls would write: an EDITED
    event with ``data={"changes": diff}`` and a version (only when a field really
    changed), a version and a transition log row per transition; after commit,
    one counts-generation bump, ``order_edited`` per edited order, and
    ``announce_status_changes`` for the moves (one batch signal, then one
    ``order_status_changed`` per order). The orders are written with one
    ``bulk_update`` and the audit rows with one multi-row insert per table, so a
    batch costs the same handful of queries whatever its size.

    Caller's obligations (this is what the per-order services check themselves):

    - Every order was loaded with ``select_for_update()`` in the transaction
      still open around this call, and is in the transition's source status:
      the write is not conditional on the status it read, as ``order_transition``'s
      is, so the row lock is what keeps two writers apart.
    - ``actor`` is a system actor (``"system:<name>"``): nothing here checks a
      person's permissions, so a user is refused.
    - Transitions are limited to ``BULK_MOVE_TRANSITIONS``; django-fsm's
      ``pre/post_transition`` are sent as usual, simple_history's
      ``pre/post_create_historical_record`` are not (versions are bulk-inserted).

    Only the changed fields are validated (``order_update`` cleans the whole row;
    an order with an old, now-invalid phone number is not blocked here by a field
    nobody touched). A refused transition or an invalid change raises
    (``TransitionRefused``, ``OrderServiceError``, ``ValidationError``) before
    anything is written; the in-memory orders may then be half-changed: reload them.

    Returns ``{order_id: diff}`` for the orders whose fields changed.
    """
    who = actor_info(actor)
    if who.user is not None:
        raise ValueError("orders_edit_and_transition is for system actors; people go "
                         "through order_update / order_transition (permission checks)")
    changes_by_id = changes_by_id or {}
    transition_by_id = transition_by_id or {}
    unknown = {key for changes in changes_by_id.values() for key in changes} - set(EDITABLE_FIELDS)
    if unknown:
        raise OrderServiceError(
            _("These fields cannot be edited: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    moves = {}
    for order_id, (name, reason) in transition_by_id.items():
        if name not in BULK_MOVE_TRANSITIONS:
            raise OrderServiceError(
                _("“%(name)s” cannot be taken in a bulk change.") % {"name": name})
        reason = (reason or "").strip()
        if name in REASON_REQUIRED and not reason:
            raise OrderServiceError(_("Please give a reason."))
        moves[order_id] = (name, reason)

    history_order = Order.history.model
    tracked = [f.attname for f in history_order.tracked_fields]
    edit_change_reason = edit_reason or "edited"
    versions, events, logs, edited, changes = [], [], [], [], []
    written: dict[int, Order] = {}
    dirty: set[str] = set()
    diffs: dict[int, dict] = {}
    audit = None
    for order in orders:
        if audit is None:
            history_user = history_order.get_default_history_user(order)
            audit = {"history_user_id": history_user.pk if history_user is not None else None}
        fixed = {"id": order.pk, **audit}
        diff = _edit_in_memory(order, changes_by_id.get(order.pk))
        if diff:
            at = timezone.now()
            dirty.update("warehouse_id" if key == "warehouse" else key for key in diff)
            diffs[order.pk] = diff
            versions.append({**{name: getattr(order, name) for name in tracked}, **fixed,
                             "history_date": at, "history_type": "~",
                             "history_change_reason": edit_change_reason})
            events.append({"order_id": order.pk, "kind": OrderEvent.Kind.EDITED,
                           "actor_user_id": None, "actor": who.label, "message": edit_reason,
                           "data": {"changes": diff}, "created_at": at})
            edited.append((order.pk, sorted(diff), order.status))
            written[order.pk] = order
        if order.pk in moves:
            name, reason = moves[order.pk]
            before = {attr: getattr(order, attr) for attr in tracked}
            from_status = order.status
            try:
                getattr(order, name)(reason=reason)
            except TransitionNotAllowed as exc:
                raise TransitionRefused(
                    _("This order is %(status)s; that action is no longer possible.")
                    % {"status": order.get_status_display()}) from exc
            at = timezone.now()
            snapshot = {attr: getattr(order, attr) for attr in tracked}
            dirty.update(attr for attr in tracked if snapshot[attr] != before[attr])
            versions.append({**snapshot, **fixed, "history_date": at, "history_type": "~",
                             "history_change_reason": f"{name}: {reason}" if reason else name})
            logs.append({"order_id": order.pk, "transition": name, "from_status": from_status,
                         "to_status": order.status, "actor_user_id": None, "actor": who.label,
                         "reason": reason, "created_at": at})
            changes.append(StatusChange(order.pk, name, from_status, order.status))
            written[order.pk] = order
    if not written:
        return diffs
    now = timezone.now()
    for order in written.values():
        order.updated_at = now  # auto_now, as save() would set it
    # No savepoint: nothing here is caught and retried inside the caller's
    # transaction, and the single-order allocation counts its statements.
    with transaction.atomic(savepoint=False):
        update_rows(Order, list(written.values()), sorted(dirty | {"updated_at"}))
        insert_rows(history_order, versions)
        insert_rows(OrderEvent, events)
        insert_rows(OrderTransitionLog, logs)
        # One bump for the batch: the per-order path bumps once per write.
        transaction.on_commit(_bump_counts_generation)
        for order_id, fields, status in edited:
            transaction.on_commit(
                lambda order_id=order_id, fields=fields, status=status: order_edited.send(
                    sender=Order, order_id=order_id, fields=fields, actor=who.label,
                    status=status))
        if changes:
            transaction.on_commit(lambda: announce_status_changes(changes, who.label))
    for order in written.values():
        order._update_initial_state()  # the row now holds this status
    return diffs


def _edit_in_memory(order: Order, changes: dict | None) -> dict:
    """``order_update``'s diff and checks, on the in-memory order; returns the diff."""
    if not changes:
        return {}
    if order.status not in EDITABLE:
        raise TransitionRefused(
            _("This order is %(status)s; it can no longer be edited directly.")
            % {"status": order.get_status_display()})
    diff = {}
    for key, new in _normalized_fields(changes).items():
        attr = "warehouse_id" if key == "warehouse" else key
        new_value = new.pk if key == "warehouse" and new is not None else new
        old = getattr(order, attr)
        if old != new_value:
            diff[key] = [_jsonable(old), _jsonable(new_value)]
            setattr(order, attr, new_value)
    if diff:
        # The same exclusions as order_update, and the fields nobody changed.
        order.full_clean(exclude=_edit_clean_exclude(frozenset(diff)), validate_unique=False,
                         validate_constraints=False)
    return diff


@lru_cache(maxsize=64)
def _edit_clean_exclude(changed: frozenset) -> list[str]:
    return [f.name for f in Order._meta.concrete_fields
            if f.name not in changed or f.name in _CLEAN_EXCLUDE]


__all__ = ["BULK_MOVE_TRANSITIONS", "BULK_TRANSITIONS", "BulkCreateResult", "NewOrder",
           "order_bulk_create", "orders_edit_and_transition"]
