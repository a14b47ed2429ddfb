"""Raw storage: every payload is kept exactly as received, with a content hash, first.

The hash makes a replay of the same payload a no-op. ``store_raw`` keeps one
payload (webhooks, files); ``attach_raw`` + ``store_new_raw`` do the same for a
batch in two or three queries; ``mark_processed`` marks a batch's stored rows
processed in one statement (``orderhub.db.update_rows``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels.connectors.base import NormalizationError, NormalizedOrder
from channels.models import Channel, RawPayload
from orderhub.db import in_values, insert_rows, lazy_commit_atomic, update_rows
from orderhub.models import Order

logger = logging.getLogger(__name__)


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()



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


@dataclass
class Entry:
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


def entry_for(item, normalizer) -> Entry:
    body = item if isinstance(item, str | bytes) else canonical_json(item)
    external_id = ""
    if isinstance(item, dict):
        try:
            external_id = normalizer.external_id(item)
        except (NormalizationError, NotImplementedError, AttributeError):
            external_id = ""
    body, digest = _prepare_body(body)
    return Entry(body=body, digest=digest, external_id=(external_id or "")[:64])


def attach_raw(*, channel: Channel, entries: list[Entry], source: str) -> None:
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


def store_new_raw(*, channel: Channel, entries: list[Entry]) -> None:
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


def store_raw_batch(*, channel: Channel, entries: list[Entry], source: str) -> None:
    """``store_raw`` for a batch: sets each entry's ``raw``, stored, in two or three queries."""
    attach_raw(channel=channel, entries=entries, source=source)
    store_new_raw(channel=channel, entries=entries)


def set_processed(raw: RawPayload, order: Order | None, external_id: str, now) -> None:
    raw.order = order
    raw.external_id = external_id
    raw.status = RawPayload.Status.PROCESSED
    raw.error = ""
    raw.attempts += 1
    raw.processed_at = now


def mark_processed(rows: list[tuple[RawPayload, Order, str]], now) -> None:
    """Mark stored raw payloads processed: ``rows`` are (raw row, its order, external id).

    One ``update_rows`` statement for the batch (on PostgreSQL an UPDATE from
    arrays: ``bulk_update``'s CASE per field costs far more to build for 1,500 rows).
    ``attempts`` counts from the row as the batch read it (``attach_raw``).
    """
    update_rows(RawPayload, [
        RawPayload(pk=raw.pk, status=RawPayload.Status.PROCESSED, error="",
                   attempts=raw.attempts + 1, processed_at=now, order_id=order.pk,
                   external_id=external_id)
        for raw, order, external_id in rows
    ], ["status", "error", "attempts", "processed_at", "order", "external_id"])
