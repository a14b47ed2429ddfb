"""The ingestion pipeline: raw payload first, then normalize, then upsert.

Modules, by responsibility (each imports only those above it in this list):
``results`` (outcome counters), ``raw`` (raw storage), ``mapping`` (payload ->
normalized order -> order fields and lines, no writes), ``upsert`` (one order
through the order services), ``parallel`` (forked workers, handed the batch
function), ``batch`` (the batch engine).

Every platform payload (polled, webhook, imported file) takes the same path:

1. ``store_raw`` keeps the exact payload with a content hash before anything
   parses it. The hash makes a replay of the same payload a no-op.
2. The connector normalizes it into a ``NormalizedOrder``; a payload that does
   not normalize is quarantined with the reason (and can be replayed later:
   ``channels.services.raw_payload_replay``).
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
