"""The ingestion pipeline: raw payload first, then normalize, then upsert.

Every platform payload (polled, webhook, imported file) takes the same path:

1. ``store_raw`` keeps the exact payload with a content hash before anything
   parses it. The hash makes a replay of the same payload a no-op.
2. The connector normalizes it into a ``NormalizedOrder``; a payload that does
   not normalize is quarantined with the reason (and can be replayed later).
3. ``upsert_order`` creates the order or applies what changed, through the
   order services only: ``order_create``, ``order_transition``, ``order_update``.

``ingest_items`` does this a batch at a time (``BATCH_SIZE`` payloads, pulled
lazily from any iterable, so a file is streamed): the batch's known payloads
are looked up by hash in one query; orders the hub does not hold yet are
created together by ``orderhub.services.bulk.order_bulk_create`` in one
transaction, with the same rows, versions, logs, events and signals as the
per-order services, and the batch's new raw payloads are written in that same
transaction (those of the created orders already "processed"): a payload is
never kept without its order, nor an order without its payload. Should that
transaction fail, the payloads are stored and committed on their own first,
and the per-order path retries them, so nothing is lost; everything not
created in bulk is stored before it is parsed further. Orders that exist, or
come twice in the batch, take the per-order ``upsert_order`` path above. Same
result, ~50x fewer queries.

A crash inside the batch's transaction leaves nothing of the batch behind; its
source still has it (the poll cursor moves only after every page is
committed; a file is imported again, replay-safe; webhooks store each payload
with ``store_raw`` before answering).

Status mapping: unpaid stays ``pending_payment``; paid → ``pay`` (then
``hold_review`` when a line's SKU is unknown, and ``hold`` when the platform
sent no usable address: released by the payload that brings it);
cancelled/refunded → ``cancel``, or, once picking started, ``hold`` plus an
"intercept" tag for a person to stop the parcel.

The platform is ahead of us, never behind. A paid order the platform already
shipped (``NormalizedOrder.fulfillment``) enters, or leaves the queue for,
``shipped`` through ``ship_on_platform`` with the platform's carrier and
tracking number (then ``deliver``/``complete`` where the platform says so): it
never reaches automation or a pick list. Once picking started it is held
instead ("stop the pick"). Partly shipped orders keep each line's
``shipped_quantity``. A payload the platform modified before the one the
order was built from (``updated_at`` older than ``Order.platform_updated_at``)
is kept and marked processed with a note, and changes nothing; statuses only
ever move forward.

Address, line, quantity and money changes go through ``order_update`` (one
version, one "edited" event, one ``order_edited``) before picking, and put the
order on hold with the reason after.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
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
from channels.models import Channel, RawPayload
from channels.skus import SkuResolver
from orderhub.models import (
    BEFORE_PICKING,
    PICKING_STARTED,
    Order,
    OrderEvent,
    Tag,
    normalize_phone,
)
from orderhub.models import OrderStatus as S
from orderhub.querying import in_values
from orderhub.services.bulk import NewOrder, insert_rows, lazy_commit_atomic, order_bulk_create
from orderhub.services.orders import (
    OrderServiceError,
    order_add_note,
    order_create,
    order_record_platform_state,
    order_ship_on_platform,
    order_transition,
    order_update,
)

logger = logging.getLogger(__name__)

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
# A payload older than what the order holds: archived, applied to nothing (counted unchanged).
STALE = "stale"
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
# ``_order_fields`` cleans these as ``order_create`` would (text squeezed, phones
# E.164): the bulk create need not clean them again.
_CLEANED = frozenset(ADDRESS_FIELDS)


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)
    # Legacy imports only: orders older than the window, newly archived / already archived.
    archived: int = 0
    archived_unchanged: int = 0

    def add(self, outcome: str, *, raw: RawPayload | None = None, order_id=None) -> None:
        if outcome == STALE:
            outcome = UNCHANGED
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome == REJECTED and raw is not None:
            self.errors.append((raw.pk, raw.error))
        if order_id and outcome in (CREATED, UPDATED):
            self.order_ids.append(order_id)

    def merge(self, other: IngestResult) -> None:
        for name in (CREATED, UPDATED, UNCHANGED, REJECTED):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)
        self.order_ids.extend(other.order_ids)

    def as_dict(self) -> dict:
        return {CREATED: self.created, UPDATED: self.updated, UNCHANGED: self.unchanged,
                REJECTED: self.rejected}


def actor_for(channel: Channel) -> str:
    return f"system:ingest:{channel.code}"


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def clean_text(value: str) -> str:
    """Control characters become spaces and runs of whitespace one space.

    A newline or tab in a name or address breaks label printing and search.
    """
    value = value or ""
    if value.isprintable():  # the common case, checked in C: only whitespace to squeeze
        return " ".join(value.split())
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


# --- 1. raw first ------------------------------------------------------------------------

def store_raw(*, channel: Channel, body: str | bytes, source: str,
              external_id: str = "") -> tuple[RawPayload, bool]:
    """Keep a payload exactly as received; return (row, created).

    The same content (same hash) for the same channel is stored once; the
    second call returns the existing row with ``created=False``.
    """
    body, digest = _prepare_body(body)
    existing = RawPayload.objects.filter(channel=channel, content_hash=digest).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            return RawPayload.objects.create(
                channel=channel, source=source, content_hash=digest, body=body,
                external_id=(external_id or "")[:64],
            ), True
    except IntegrityError:
        # A concurrent poll/webhook stored the same payload a moment ago.
        return RawPayload.objects.get(channel=channel, content_hash=digest), False


def quarantine(raw: RawPayload, error: str) -> None:
    raw.status = RawPayload.Status.QUARANTINED
    raw.error = error[:4000]
    raw.attempts += 1
    raw.processed_at = timezone.now()
    raw.save(update_fields=["status", "error", "attempts", "processed_at"])
    logger.warning("channel %s: payload %s quarantined: %s", raw.channel_id, raw.pk, error[:300])


# --- 2 + 3. normalize and upsert --------------------------------------------------------

def ingest_items(*, channel: Channel, items: Iterable, source: str, normalizer,
                 resolver: SkuResolver | None = None,
                 batch_size: int | None = None, workers: int = 1) -> IngestResult:
    """Store and process platform orders (parsed objects or raw text), a batch at a time.

    ``items`` is consumed lazily: at most one batch is held in memory, so a
    generator over a file of any size keeps memory flat. With ``workers`` > 1
    (and PostgreSQL, outside a transaction) the batches run in that many
    forked processes: see ``channels.parallel``.
    """
    result = IngestResult()
    resolver = resolver or SkuResolver(channel)
    batch_size = batch_size or BATCH_SIZE
    if workers > 1:
        from channels import parallel

        if parallel.can_fork():
            return parallel.ingest_parallel(
                channel=channel, items=items, source=source, normalizer=normalizer,
                resolver=resolver, batch_size=batch_size, workers=workers)
    iterator = iter(items)
    while batch := list(islice(iterator, batch_size)):
        result.merge(ingest_batch(channel=channel, items=batch, source=source,
                                  normalizer=normalizer, resolver=resolver))
    return result


@dataclass
class _Entry:
    body: str
    digest: str
    external_id: str
    raw: RawPayload | None = None
    norm: NormalizedOrder | None = None


def _prepare_body(body: str | bytes) -> tuple[str, str]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    body = body.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    return body, content_hash(body)


def _entry(item, normalizer) -> _Entry:
    body = item if isinstance(item, str | bytes) else canonical_json(item)
    external_id = ""
    if isinstance(item, dict):
        try:
            external_id = normalizer.external_id(item)
        except (NormalizationError, NotImplementedError, AttributeError):
            external_id = ""
    body, digest = _prepare_body(body)
    return _Entry(body=body, digest=digest, external_id=(external_id or "")[:64])


def attach_raw(*, channel: Channel, entries: list[_Entry], source: str) -> None:
    """Set each entry's ``raw``: its stored row, or a new unsaved one; one query.

    Entries with the same content share one row (stored or not).
    """
    digests = list({entry.digest for entry in entries})
    rows = {raw.content_hash: raw for raw in RawPayload.objects.filter(
        channel=channel, content_hash__in=in_values(digests, db_type="text")).defer("body")}
    for entry in entries:
        raw = rows.get(entry.digest)
        if raw is None:
            raw = rows[entry.digest] = RawPayload(
                channel=channel, source=source, content_hash=entry.digest, body=entry.body,
                external_id=entry.external_id)
        entry.raw = raw
        raw.channel = channel
        # Same hash, same text: no need to read the body back.
        raw.body = entry.body


def store_new_raw(*, channel: Channel, entries: list[_Entry]) -> None:
    """Store the entries' unsaved raw rows (``attach_raw``) in a transaction of their own.

    A payload a concurrent writer stored meanwhile is kept as theirs, as
    ``store_raw`` does, and the entries are pointed at it.
    """
    new = {id(entry.raw): entry.raw for entry in entries if entry.raw.pk is None}
    if not new:
        return
    try:
        # The orders' own commit (or the quarantine's) follows and flushes this
        # one with it: no need to wait for the disk here.
        with lazy_commit_atomic(RawPayload):
            insert_rows(RawPayload, list(new.values()), returning_pk=True)
        return
    except IntegrityError:
        pass
    # A concurrent poll/webhook stored some of them a moment ago: keep theirs.
    for raw in new.values():
        raw.pk = None
    RawPayload.objects.bulk_create(new.values(), ignore_conflicts=True)
    rows = {raw.content_hash: raw for raw in RawPayload.objects.filter(
        channel=channel, content_hash__in=[raw.content_hash for raw in new.values()]
    ).defer("body")}
    for entry in entries:
        if id(entry.raw) in new:
            entry.raw = rows[entry.digest]
            entry.raw.channel = channel
            entry.raw.body = entry.body


def store_raw_batch(*, channel: Channel, entries: list[_Entry], source: str) -> None:
    """``store_raw`` for a batch: sets each entry's ``raw``, stored, in two or three queries."""
    attach_raw(channel=channel, entries=entries, source=source)
    store_new_raw(channel=channel, entries=entries)


def ingest_batch(*, channel: Channel, items: list, source: str, normalizer,
                 resolver: SkuResolver) -> IngestResult:
    """One batch: raw payloads first, then new orders in bulk, the rest one by one.

    The raw payloads are committed before anything parses them. Orders the
    hub does not hold yet are created together by ``order_bulk_create`` in one
    transaction; orders that exist (or appear twice in the batch) go through
    the per-order path, which applies changes with versions and transitions.
    """
    result = IngestResult()
    entries = [_entry(item, normalizer) for item in items]
    attach_raw(channel=channel, entries=entries, source=source)

    todo, repeats, seen = [], [], set()
    for entry in entries:
        if entry.digest in seen:
            repeats.append(entry)
        elif entry.raw.status in (RawPayload.Status.PROCESSED, RawPayload.Status.RESOLVED):
            seen.add(entry.digest)
            result.add(UNCHANGED)
        else:
            seen.add(entry.digest)
            todo.append(entry)

    normalized, unreadable = [], []
    for entry in todo:
        norm, error = _normalize(entry.body, normalizer)
        if error:
            unreadable.append((entry, error))
        else:
            entry.norm = norm
            normalized.append(entry)

    known = _known_external_ids(channel, {e.norm.external_id for e in normalized})
    fresh, one_by_one = [], []
    for entry in normalized:
        ext = entry.norm.external_id
        if ext and ext not in known:
            known.add(ext)  # a second payload for it in this batch is an update
            fresh.append(entry)
        else:
            one_by_one.append(entry)
    if fresh:
        # Stores the batch's new raw payloads in the orders' transaction.
        _create_in_bulk(channel, fresh, resolver, result, entries)
    store_new_raw(channel=channel, entries=entries)  # what is still unsaved: kept first
    for entry, error in unreadable:
        quarantine(entry.raw, error)
        result.add(REJECTED, raw=entry.raw)
    for entry in one_by_one:
        outcome, order_id = _upsert_raw(raw=entry.raw, norm=entry.norm, resolver=resolver)
        result.add(outcome, raw=entry.raw, order_id=order_id)
    for entry in repeats:
        # The same content twice in one batch: the second is what a replay is.
        if entry.raw.status in (RawPayload.Status.PROCESSED, RawPayload.Status.RESOLVED):
            result.add(UNCHANGED)
        else:
            outcome, order_id = process_raw(raw=entry.raw, normalizer=normalizer,
                                            resolver=resolver)
            result.add(outcome, raw=entry.raw, order_id=order_id)
    return result


def _known_external_ids(channel: Channel, external_ids: set[str]) -> set[str]:
    """Which of these platform order ids the hub already holds for ``channel``."""
    external_ids.discard("")  # an order without one takes the per-order path anyway
    if not external_ids:
        return set()
    if connection.vendor == "postgresql":
        # One probe of the unique (channel, external id) index per id: an IN list
        # lets the planner read every order of the channel instead (stale statistics
        # of a growing channel), a cost that grows with the channel, batch after batch.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT o.external_id FROM unnest(%s::text[]) AS v(external_id) "
                f"CROSS JOIN LATERAL (SELECT external_id FROM {Order._meta.db_table} "
                f"WHERE channel_id = %s AND external_id = v.external_id "
                f"AND external_id <> '' LIMIT 1) AS o",
                [list(external_ids), channel.pk])
            return {row[0] for row in cursor.fetchall()}
    return set(Order.objects.filter(channel=channel, external_id__in=list(external_ids))
               .values_list("external_id", flat=True))


def _new_order_spec(channel: Channel, norm: NormalizedOrder, resolver: SkuResolver,
                    paid_reason: str = "") -> NewOrder:
    """What ``upsert_order`` does for an order the hub does not hold, as data."""
    fields, warnings = _order_fields(channel, norm)
    lines, unknown = _line_dicts(norm, resolver)
    create_fields = {**fields, **_money_fields(norm), **_platform_fields(norm),
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
            info = _shipment_info(norm)
            create_fields["carrier"] = info["carrier"]
            create_fields["tracking_number"] = info["tracking_number"]
            if info["shipped_at"] is not None:
                create_fields["shipped_at"] = info["shipped_at"]
            transitions.append(("ship_on_platform", _("shipped on the platform")))
            transitions.extend((name, _forward_reason(name))
                               for name in _forward_transitions(norm.fulfillment, S.SHIPPED))
            events.append((PLATFORM_SHIPPED, _shipped_message(info),
                           {"from_status": S.PAID.value, "shipments": info["shipments"],
                            "no_tracking": not info["tracking_number"]}))
        else:
            if unknown:
                transitions.append(("hold_review",
                                    "unknown SKU: " + ", ".join(sorted(set(unknown)))))
            if not _has_address(fields):
                transitions.append(("hold", no_address_reason()))
                events.append((ADDRESS_MISSING, no_address_reason(), {}))
    elif norm.status == CANCELLED:
        transitions.append(("cancel", _cancel_reason(norm)))
    return NewOrder(fields=create_fields, lines=lines, notes=warnings, transitions=transitions,
                    cleaned=_CLEANED, events=events)


def _set_processed(raw: RawPayload, order: Order | None, external_id: str, now) -> None:
    raw.order = order
    raw.external_id = external_id
    raw.status = RawPayload.Status.PROCESSED
    raw.error = ""
    raw.attempts += 1
    raw.processed_at = now


def _create_in_bulk(channel: Channel, entries: list[_Entry], resolver: SkuResolver,
                    result: IngestResult, batch: list[_Entry]) -> None:
    """Create ``entries``' orders in bulk; the ``batch``'s unsaved raw rows go in with them.

    The new raw payloads are written in the orders' transaction, those of the
    created orders already "processed": one COPY, and no UPDATE of the rows
    just written. Should that transaction fail, nothing of it is kept, and the
    payloads are stored on their own first (``store_new_raw``) before the
    per-order path retries them: nothing a platform sent is lost either way.
    """
    resolver.prefetch([line for entry in entries for line in entry.norm.lines])
    paid_reason = _("paid on the platform")  # translated once per batch, not per order
    specs = [_new_order_spec(channel, entry.norm, resolver, paid_reason) for entry in entries]
    done, now = [], timezone.now()
    unsaved = list({id(entry.raw): entry.raw for entry in batch if entry.raw.pk is None}.values())

    def store_raw_and_mark(created) -> None:
        # Inside the orders' transaction: a payload is "processed" exactly when its order exists.
        done.extend((entry, order) for entry, order in zip(entries, created.orders, strict=True)
                    if order is not None)
        stored = [(entry.raw.pk, order.pk, entry.norm.external_id[:64])
                  for entry, order in done if entry.raw.pk is not None]
        for entry, order in done:
            if entry.raw.pk is None:
                _set_processed(entry.raw, order, entry.norm.external_id[:64], now)
        insert_rows(RawPayload, unsaved, returning_pk=True)
        _mark_processed(stored, now)

    try:
        created = order_bulk_create(channel=channel, actor=actor_for(channel), orders=specs,
                                    in_same_transaction=store_raw_and_mark)
    except DatabaseError as exc:
        # Rolled back as a whole (a concurrent writer created one of these orders
        # or stored one of these payloads, or the database refused a value): keep
        # the payloads first, then the per-order path sorts them out, each in its
        # own transaction, quarantining only what really fails.
        logger.warning("channel %s: bulk create of %s orders failed (%s); one by one",
                       channel.code, len(entries), exc)
        for raw in unsaved:
            raw.pk, raw.order, raw.status, raw.error = None, None, RawPayload.Status.PENDING, ""
            raw.attempts, raw.processed_at, raw._state.adding = 0, None, True
        store_new_raw(channel=channel, entries=batch)
        for entry in entries:
            entry.raw.order = None
            outcome, order_id = _upsert_raw(raw=entry.raw, norm=entry.norm, resolver=resolver)
            result.add(outcome, raw=entry.raw, order_id=order_id)
        return
    if not created.orders or all(order is None for order in created.orders):
        # order_bulk_create wrote nothing (every order invalid): no transaction ran.
        store_new_raw(channel=channel, entries=batch)
    for entry, order in done:
        if entry.raw.status != RawPayload.Status.PROCESSED:
            _set_processed(entry.raw, order, entry.norm.external_id[:64], now)
        result.add(CREATED, raw=entry.raw, order_id=order.pk)
    for index, exc in created.errors.items():
        raw = entries[index].raw
        quarantine(raw, _("The order is not valid: %(error)s") % {"error": "; ".join(
            exc.messages)})
        result.add(REJECTED, raw=raw)


def _mark_processed(rows: list[tuple[int, int, str]], now) -> None:
    """Mark raw payloads processed: ``rows`` are (raw id, order id, external id)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        # One statement for the batch, its values as three arrays: bulk_update's
        # CASE per field, or a VALUES list of 1,500 placeholders, costs far more to build.
        table = RawPayload._meta.db_table
        raw_ids, order_ids, external_ids = (list(column) for column in zip(*rows, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS r SET status = %s, error = '', attempts = r.attempts + 1, "
                f"processed_at = %s, order_id = v.order_id, external_id = v.external_id "
                f"FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[]) "
                f"AS v(id, order_id, external_id) WHERE r.id = v.id",
                [RawPayload.Status.PROCESSED.value, now, raw_ids, order_ids, external_ids])
        return
    RawPayload.objects.filter(pk__in=[raw_id for raw_id, _o, _e in rows]).update(
        status=RawPayload.Status.PROCESSED, error="", attempts=F("attempts") + 1,
        processed_at=now)
    RawPayload.objects.bulk_update(
        [RawPayload(pk=raw_id, order_id=order_id, external_id=external_id)
         for raw_id, order_id, external_id in rows], ["order", "external_id"])


def _normalize(body: str, normalizer) -> tuple[NormalizedOrder | None, str]:
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


def process_raw(*, raw: RawPayload, normalizer, resolver: SkuResolver | None = None
                ) -> tuple[str, int | None]:
    """Normalize and upsert one stored payload; quarantine it when that fails."""
    norm, error = _normalize(raw.body, normalizer)
    if error:
        quarantine(raw, error)
        return REJECTED, None
    return _upsert_raw(raw=raw, norm=norm, resolver=resolver or SkuResolver(raw.channel))


def _upsert_raw(*, raw: RawPayload, norm: NormalizedOrder, resolver: SkuResolver
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
                raw.error = _stale_note(norm, order) if outcome == STALE else ""
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


def _order_fields(channel: Channel, norm: NormalizedOrder) -> tuple[dict, list[str]]:
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


def _stale_note(norm: NormalizedOrder, order: Order) -> str:
    return _("Older than what the order holds (updated on the platform %(payload)s, the order "
             "has %(order)s): kept, not applied.") % {
        "payload": norm.updated_at.isoformat() if norm.updated_at else "?",
        "order": order.platform_updated_at.isoformat() if order.platform_updated_at else "?"}


def _line_dicts(norm: NormalizedOrder, resolver: SkuResolver) -> tuple[list[dict], list[str]]:
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


def _money_fields(norm: NormalizedOrder) -> dict:
    fields = {"currency": (norm.currency or "CNY").upper()[:3],
              "shipping_fee": norm.shipping_fee, "discount": norm.discount}
    if norm.total is not None:
        fields["total"] = norm.total
    return fields


def _platform_fields(norm: NormalizedOrder) -> dict:
    """Bookkeeping kept with a new order: the platform's modified time and write-back data."""
    fields = {}
    if norm.updated_at is not None:
        fields["platform_updated_at"] = norm.updated_at
    if norm.platform_data:
        fields["platform_data"] = norm.platform_data
    return fields


def _has_address(fields) -> bool:
    """Whether a parcel can be addressed: a recipient and a street.

    Amazon without its restricted data has neither.
    """
    get = fields.get if isinstance(fields, dict) else lambda key: getattr(fields, key)
    return bool(get("ship_name") and get("ship_street"))


def _shipment_info(norm: NormalizedOrder) -> dict:
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


def _shipped_message(info: dict) -> str:
    if info["tracking_number"]:
        return _("The platform shipped this order (%(carrier)s %(tracking)s); the hub will not "
                 "pick it.") % {"carrier": info["carrier"] or "?",
                                "tracking": info["tracking_number"]}
    return _("The platform shipped this order but gave no tracking number; the hub will not "
             "pick it.")


def _forward_transitions(fulfillment: str, status: str) -> list[str]:
    """``deliver``/``complete`` that bring a shipped order to where the platform is."""
    steps = []
    if fulfillment in (DELIVERED, COMPLETED) and status == S.SHIPPED:
        steps.append("deliver")
        status = S.DELIVERED
    if fulfillment == COMPLETED and status == S.DELIVERED:
        steps.append("complete")
    return steps


def _forward_reason(name: str) -> str:
    if name == "deliver":
        return _("delivered on the platform")
    return _("completed on the platform")


def no_address_reason() -> str:
    return _("The platform sent no shipping address (no recipient name or street): wait for "
             "it, or ask the platform for the buyer's address.")


def upsert_order(*, channel: Channel, norm: NormalizedOrder,
                 resolver: SkuResolver) -> tuple[str, Order]:
    """Create the order or apply what changed. Call inside a transaction.

    Returns ``STALE`` (and changes nothing) for a payload the platform modified
    before the one the order was last built from.
    """
    actor = actor_for(channel)
    fields, warnings = _order_fields(channel, norm)
    lines, unknown = _line_dicts(norm, resolver)
    order = (Order.objects.select_for_update()
             .filter(channel=channel, external_id=norm.external_id).first())
    if order is None:
        create_fields = {**fields, **_money_fields(norm), **_platform_fields(norm),
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
    reason = _cancel_reason(norm)
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
    OrderEvent.objects.create(
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
            info = _shipment_info(norm)
            order = order_ship_on_platform(order=order, actor=actor, **info)
            changed = True
        elif _picking_started(order):
            return _hold_shipped_while_picking(order, norm, actor) or changed
        for name in _forward_transitions(norm.fulfillment, order.status):
            order = order_transition(order=order, name=name, actor=actor,
                                     reason=_forward_reason(name))
            changed = True
        return changed
    if just_paid:
        if unknown:
            order = order_transition(order=order, name="hold_review", actor=actor,
                                     reason="unknown SKU: " + ", ".join(sorted(set(unknown))))
        if not _has_address(order):
            # Before automation sees it: no waybill can be booked without an address.
            order_transition(order=order, name="hold", actor=actor, reason=no_address_reason())
            OrderEvent.objects.create(order=order, kind=ADDRESS_MISSING, actor=actor,
                                      message=no_address_reason())
        return True
    return _release_if_address(order, actor) or changed


def _release_if_address(order: Order, actor: str) -> bool:
    """Release an order ingest held for want of an address, once the address is there."""
    if order.status != S.ON_HOLD or not _has_address(order):
        return False
    last = (order.events.filter(kind__in=[ADDRESS_MISSING, ADDRESS_RECEIVED])
            .order_by("-id").values_list("kind", flat=True).first())
    hold = order.transition_logs.order_by("-id").values_list("transition", "actor").first()
    if last != ADDRESS_MISSING or hold != ("hold", actor):
        return False  # held by a person, or for something else: theirs to release
    message = _("The platform sent the shipping address; the order goes on.")
    order_transition(order=order, name="release", actor=actor, reason=message)
    OrderEvent.objects.create(order=order, kind=ADDRESS_RECEIVED, actor=actor, message=message)
    return True


def _hold_shipped_while_picking(order: Order, norm: NormalizedOrder, actor: str) -> bool:
    """The platform shipped an order the warehouse is picking: stop the pick, tell ops once."""
    if order.events.filter(kind=SHIPPED_WHILE_PICKING).exists():
        return False
    reason = _("Shipped on the platform while being picked: stop the pick")
    if order.status in PICKING_STARTED:
        order_transition(order=order, name="hold", actor=actor, reason=reason)
    info = _shipment_info(norm)
    OrderEvent.objects.create(
        order=order, kind=SHIPPED_WHILE_PICKING, actor=actor,
        message=_("%(reason)s. %(shipped)s") % {"reason": reason,
                                                "shipped": _shipped_message(info)},
        data={"shipments": info["shipments"]})
    return True


def _cancel_reason(norm: NormalizedOrder) -> str:
    reason = _("cancelled on the platform")
    if norm.cancel_reason:
        reason = f"{reason} ({clean_text(norm.cancel_reason)[:100]})"
    return reason


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
    if not _has_address(fields) and _has_address(order):
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
    money = _money_fields(norm)
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
    OrderEvent.objects.create(order=order, kind="platform_change_pending", actor=actor,
                              message=message, data=data)
    if order.status in PICKING_STARTED:
        order_transition(order=order, name="hold", actor=actor, reason=message[:250])
    return True


def replay(*, raw: RawPayload, normalizer=None) -> str:
    """Process a stored payload again (after a fix or a mapping change)."""
    if normalizer is None:
        from channels.services import normalizer_for

        normalizer = normalizer_for(raw.channel)
    outcome, _order_id = process_raw(raw=raw, normalizer=normalizer)
    return outcome
