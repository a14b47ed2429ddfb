"""Bulk order creation: many new orders at once, with the audit trail of one by one.

``order_bulk_create`` writes, for N new orders, exactly the rows that
``order_create`` + ``order_add_note`` + ``order_transition`` would write one
order at a time: the order and its lines, one "created" event, the notes, one
transition log row per transition, a history version for the creation and one
per transition, a history version per line; then, after commit, the counts
generation bump, one ``orders_status_changed`` for the batch and one
``order_status_changed`` per transition. It does so
with a handful of multi-row INSERTs per batch instead of ~40 queries per order.

It only creates. Orders that already exist change through the per-order
services in ``orderhub.services.orders``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed

from orderhub.models import Order, OrderEvent, OrderLine, OrderStatus, OrderTransitionLog
from orderhub.services.orders import (
    REASON_REQUIRED,
    Actor,
    OrderServiceError,
    _bump_counts_generation,
    _line_fields,
    _normalized_fields,
    actor_info,
    reserve_order_numbers,
)
from orderhub.signals import StatusChange, announce_status_changes

logger = logging.getLogger(__name__)

# Transitions a new order may take inside a bulk create. Their methods only set
# fields in memory, and nothing listens to their django-fsm signals; a
# transition with effects on the saved row (``ship`` queues a shipment push
# from its post_transition receiver) must go through ``order_transition``.
BULK_TRANSITIONS = frozenset({"pay", "hold_review", "cancel"})

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
    creation, as ``order_transition`` would take them.
    """

    fields: dict
    lines: list[dict]
    notes: Sequence[str] = ()
    transitions: Sequence[tuple[str, str]] = ()


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
    lines: list[OrderLine]
    notes: list[str]
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
            for line in item.lines:
                line.order = item.order
                lines.append(line)
        insert_rows(OrderLine, lines, returning_pk=True)

        history_user = history_order.get_default_history_user(prepared[0].order)
        user_id = who.user.pk if who.user is not None else None
        audit = {"history_user_id": history_user.pk if history_user is not None else None}
        versions, line_versions, events, logs = [], [], [], []
        for item in prepared:
            order = item.order
            # These exist only now; every version of this order carries them.
            fixed = {"id": order.pk, "number": order.number, "created_at": order.created_at}
            versions.append({**item.created_snapshot, **fixed, **audit,
                             "history_date": item.created_at, "history_type": "+",
                             "history_change_reason": "created"})
            line_versions.extend(
                {**{name: getattr(line, name) for name in line_fields}, **audit,
                 "history_date": item.created_at, "history_type": "+",
                 "history_change_reason": None}
                for line in item.lines)
            events.append({"order_id": order.pk, "kind": OrderEvent.Kind.CREATED,
                           "actor_user_id": user_id, "actor": who.label,
                           "message": _("Order created"), "created_at": item.created_at})
            events.extend({"order_id": order.pk, "kind": OrderEvent.Kind.NOTE,
                           "actor_user_id": user_id, "actor": who.label, "message": note,
                           "created_at": item.created_at}
                          for note in item.notes)
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
    fields = _normalized_fields(spec.fields)
    order = Order(channel=channel, **fields)
    lines = [OrderLine(**_line_fields(line)) for line in raw_lines]
    if "subtotal" not in fields:
        order.subtotal = sum((line.line_total for line in lines if not line.is_gift), 0)
    if "total" not in fields:
        order.total = order.subtotal + order.shipping_fee - order.discount
    # Every unique field and constraint involves an excluded field, so the
    # unique/constraint checks would find nothing to check: skip building them.
    order.full_clean(exclude=_clean_exclude(fields), validate_unique=False,
                     validate_constraints=False)
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
                     notes=[note.strip() for note in spec.notes], created_at=created_at,
                     created_snapshot=created_snapshot, steps=steps)


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
        for item, number in zip(items, reserve_order_numbers(len(items), day=day), strict=True):
            item.order.number = number


# Field types whose Python value PostgreSQL's COPY takes as it is; the others
# go through the field's own conversion (Decimal rounding, JSON, aware times).
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField,
                 models.AutoField, models.BigAutoField, models.ForeignKey)


_PLAIN_TYPES = frozenset({str, int, bool})


@lru_cache(maxsize=32)
def _copy_plan(model, returning_pk: bool) -> tuple[list, list[int]]:
    """The fields COPY writes for ``model``, and how each value must be converted.

    0: taken as it is when str/int/bool/None; 1: an aware datetime is taken as
    it is (a naive one gets Django's conversion and warning); 3: a Decimal is
    taken as it is (the column's scale rounds it as an INSERT would); 2: always
    converted by the field.
    """
    fields = [f for f in model._meta.concrete_fields if returning_pk or not f.primary_key]
    kinds = [0 if isinstance(f, _PLAIN_FIELDS) else 1 if isinstance(f, models.DateTimeField)
             else 3 if isinstance(f, models.DecimalField) else 2 for f in fields]
    return fields, kinds


def insert_rows(model, rows: list, *, returning_pk: bool = False) -> None:
    """Insert new rows like ``bulk_create`` (no ``save()``, no signals), as fast as possible.

    ``rows`` are model instances, or dicts of attname → value for rows nobody
    needs as objects (history versions, log rows): building thousands of model
    instances costs more than writing them. A missing key takes the field's
    default. On PostgreSQL the rows go in with one ``COPY``; with
    ``returning_pk`` their ids are drawn from the table's sequence first and set
    on the instances, as ``bulk_create`` does. Elsewhere this is ``bulk_create``.
    """
    if not rows:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        objs = [model(**row) if isinstance(row, dict) else row for row in rows]
        model._default_manager.using(using).bulk_create(objs)
        return
    meta = model._meta
    pk = meta.pk
    with connection.cursor() as cursor:
        if returning_pk:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(rows)])
            for row, (new_id,) in zip(rows, cursor.fetchall(), strict=True):
                setattr(row, pk.attname, new_id)
        fields, kinds = _copy_plan(model, returning_pk)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        # COPY bypasses Django's cursor wrapper: map psycopg's errors to Django's
        # (IntegrityError...) as every other query does.
        with connection.wrap_database_errors, cursor.copy(
                f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
        ) as copy:
            defaults = None
            for row in rows:
                if isinstance(row, dict):
                    if defaults is None:
                        defaults = [f.get_default() for f in fields]
                    values = [row.get(f.attname, default)
                              for f, default in zip(fields, defaults, strict=True)]
                else:
                    # pre_save fills auto_now(_add) fields on the object, as an INSERT would.
                    values = [f.pre_save(row, True) for f in fields]
                copy.write_row([
                    value if value is None
                    or (kind == 0 and type(value) in _PLAIN_TYPES)
                    or (kind == 1 and type(value) is dt.datetime and value.tzinfo)
                    or (kind == 3 and type(value) is Decimal)
                    else f.get_db_prep_save(value, connection)
                    for f, kind, value in zip(fields, kinds, values, strict=True)])
    for row in rows:
        if not isinstance(row, dict):
            row._state.adding = False
            row._state.db = using


__all__ = ["BULK_TRANSITIONS", "BulkCreateResult", "NewOrder", "order_bulk_create"]
