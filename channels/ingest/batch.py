"""The batch engine: store and process platform orders a batch at a time.

``ingest_items`` pulls ``BATCH_SIZE`` payloads at a time lazily from any
iterable (a file is streamed). ``ingest_batch`` looks the batch's known
payloads up by hash in one query; orders the hub does not hold yet are created
together by ``orderhub.services.bulk.order_bulk_create`` in one transaction,
with the batch's new raw payloads written in that same transaction (those of
the created orders already "processed"): a payload is never kept without its
order, nor an order without its payload. Should that transaction fail, the
payloads are stored and committed on their own first, and the per-order path
retries them, so nothing is lost. Orders that exist, or come twice in the
batch, take the per-order ``upsert_order`` path (``channels.ingest.upsert``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import islice

from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.ingest import parallel
from channels.ingest.mapping import new_order_spec, normalize_body
from channels.ingest.raw import (
    Entry,
    attach_raw,
    entry_for,
    mark_processed,
    quarantine,
    set_processed,
    store_new_raw,
)
from channels.ingest.results import CREATED, REJECTED, UNCHANGED, IngestResult, actor_for
from channels.ingest.upsert import process_raw, upsert_normalized
from channels.models import Channel, RawPayload
from channels.skus import SkuResolver
from orderhub.db import insert_rows
from orderhub.models import Order
from orderhub.services.bulk import order_bulk_create

logger = logging.getLogger(__name__)

# Orders per batch: one transaction each. 500 orders (~1,500 lines) take a few
# MB in memory and keep each transaction's locks short.
BATCH_SIZE = 500


def ingest_items(*, channel: Channel, items: Iterable, source: str, normalizer,
                 resolver: SkuResolver | None = None,
                 batch_size: int | None = None, workers: int = 1) -> IngestResult:
    """Store and process platform orders (parsed objects or raw text), a batch at a time.

    ``items`` is consumed lazily: at most one batch is held in memory, so a
    generator over a file of any size keeps memory flat. With ``workers`` > 1
    (and PostgreSQL, outside a transaction) the batches run in that many
    forked processes: see ``channels.ingest.parallel``.
    """
    result = IngestResult()
    resolver = resolver or SkuResolver(channel)
    batch_size = batch_size or BATCH_SIZE
    if workers > 1:
        if parallel.can_fork():
            # The batch function is handed down: the workers run it without importing upward.
            return parallel.ingest_parallel(
                channel=channel, items=items, source=source, normalizer=normalizer,
                resolver=resolver, batch_size=batch_size, workers=workers,
                run_batch=ingest_batch)
    iterator = iter(items)
    while batch := list(islice(iterator, batch_size)):
        result.merge(ingest_batch(channel=channel, items=batch, source=source,
                                  normalizer=normalizer, resolver=resolver))
    return result


def ingest_batch(*, channel: Channel, items: list, source: str, normalizer,
                 resolver: SkuResolver) -> IngestResult:
    """One batch: raw payloads first, then new orders in bulk, the rest one by one.

    The raw payloads are committed before anything parses them. Orders the
    hub does not hold yet are created together by ``order_bulk_create`` in one
    transaction; orders that exist (or appear twice in the batch) go through
    the per-order path, which applies changes with versions and transitions.
    """
    result = IngestResult()
    entries = [entry_for(item, normalizer) for item in items]
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
        norm, error = normalize_body(entry.body, normalizer)
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
        outcome, order_id = upsert_normalized(raw=entry.raw, norm=entry.norm, resolver=resolver)
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
    """Which of these platform order ids the hub already holds for ``channel``.

    Hand-written SQL on PostgreSQL (``known_orders_sql``); the ORM elsewhere.
    """
    external_ids.discard("")  # an order without one takes the per-order path anyway
    if not external_ids:
        return set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*known_orders_sql(channel.pk, sorted(external_ids)))
            return {row[0] for row in cursor.fetchall()}
    return set(Order.objects.filter(channel=channel, external_id__in=list(external_ids))
               .values_list("external_id", flat=True))


def known_orders_sql(channel_id: int, external_ids: list[str]) -> tuple[str, list]:
    """The known-orders probe (PostgreSQL): one unique-index lookup per id.

    Each id is looked up as the pair ``(channel_id, external_id)`` with
    ``ROW(...) = ROW(...)`` against a pair unnested from two arrays: both
    columns are equalities on the joined row, so the only index matching both
    is the unique (channel, external id) one, which answers each id with one
    descent whatever the channel's size. An index on the channel alone would
    read the channel's whole order list per id; the planner took it on an
    analysed database whose statistics had the channel small (a new or growing
    channel), 45.5M index entries for 10k orders (issue 17). There is no such
    index any more (``orderhub`` migration ``order_index_audit``), and
    ``tests/channels/test_known_orders_plan.py`` checks the plan on skewed,
    analysed data.
    """
    table = Order._meta.db_table
    sql = (f"SELECT o.external_id FROM unnest(%s::bigint[], %s::text[]) AS v(channel_id, "
           f"external_id) JOIN {table} AS o ON (o.channel_id, o.external_id) = "
           f"(v.channel_id, v.external_id) WHERE o.external_id <> ''")
    return sql, [[channel_id] * len(external_ids), list(external_ids)]


def _create_in_bulk(channel: Channel, entries: list[Entry], resolver: SkuResolver,
                    result: IngestResult, batch: list[Entry]) -> None:
    """Create ``entries``' orders in bulk; the ``batch``'s unsaved raw rows go in with them.

    The new raw payloads are written in the orders' transaction, those of the
    created orders already "processed": one COPY, and no UPDATE of the rows
    just written. Should that transaction fail, nothing of it is kept, and the
    payloads are stored on their own first (``store_new_raw``) before the
    per-order path retries them: nothing a platform sent is lost either way.
    """
    resolver.prefetch([line for entry in entries for line in entry.norm.lines])
    paid_reason = _("paid on the platform")  # translated once per batch, not per order
    specs = [new_order_spec(channel, entry.norm, resolver, paid_reason) for entry in entries]
    done, now = [], timezone.now()
    unsaved = list({id(entry.raw): entry.raw for entry in batch if entry.raw.pk is None}.values())

    def store_raw_and_mark(created) -> None:
        # Inside the orders' transaction: a payload is "processed" exactly when its order exists.
        done.extend((entry, order) for entry, order in zip(entries, created.orders, strict=True)
                    if order is not None)
        stored = [(entry.raw, order, entry.norm.external_id[:64])
                  for entry, order in done if entry.raw.pk is not None]
        for entry, order in done:
            if entry.raw.pk is None:
                set_processed(entry.raw, order, entry.norm.external_id[:64], now)
        insert_rows(RawPayload, unsaved, returning_pk=True)
        mark_processed(stored, now)

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
            outcome, order_id = upsert_normalized(raw=entry.raw, norm=entry.norm, resolver=resolver)
            result.add(outcome, raw=entry.raw, order_id=order_id)
        return
    if not created.orders or all(order is None for order in created.orders):
        # order_bulk_create wrote nothing (every order invalid): no transaction ran.
        store_new_raw(channel=channel, entries=batch)
    for entry, order in done:
        if entry.raw.status != RawPayload.Status.PROCESSED:
            set_processed(entry.raw, order, entry.norm.external_id[:64], now)
        result.add(CREATED, raw=entry.raw, order_id=order.pk)
    for index, exc in created.errors.items():
        raw = entries[index].raw
        quarantine(raw, _("The order is not valid: %(error)s") % {"error": "; ".join(
            exc.messages)})
        result.add(REJECTED, raw=raw)


