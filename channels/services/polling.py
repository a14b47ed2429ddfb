"""Polling: pull what changed since the channel's cursor, once at a time per channel."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from channels.connectors import ConnectorError, get_connector
from channels.ingest.batch import ingest_items
from channels.ingest.results import IngestResult
from channels.models import API_PLATFORMS, Channel, RawPayload
from channels.services.health import _record_failure
from channels.skus import SkuResolver

logger = logging.getLogger(__name__)

# The per-channel poll lock lives this long and is renewed after every page. A poll
# killed outright (SIGKILL, OOM, a lost host) cannot release it, so it must expire on
# its own soon: with a 15-minute lock, beat's polls of that channel answered "busy" for
# up to 15 minutes. A short, renewed lease is simpler and more robust than recording
# the owner's hostname and pid: it needs no liveness check, works across hosts, and a
# live poll keeps it as long as one page (fetch + store) takes less than this.
POLL_LOCK_SECONDS = 90


@dataclass
class PollOutcome:
    status: str  # "ok", "busy", "skipped", "failed"
    result: IngestResult | None = None
    error: str = ""


def _lock_key(channel_id: int) -> str:
    return f"channels:poll-lock:{channel_id}"


def _lock_renew(channel_id: int, token: str) -> bool:
    """Extend our poll lock; False when another poll holds it now (ours expired)."""
    key = _lock_key(channel_id)
    holder = cache.get(key)
    if holder == token:
        return bool(cache.touch(key, POLL_LOCK_SECONDS)) or cache.add(
            key, token, POLL_LOCK_SECONDS)
    if holder is None:
        return cache.add(key, token, POLL_LOCK_SECONDS)
    return False


def _poll_start(channel: Channel, now: dt.datetime) -> dt.datetime:
    """Where a poll starts reading: the cursor minus the overlap, or the backfill window."""
    if channel.cursor_at:
        return channel.cursor_at - dt.timedelta(seconds=channel.overlap_seconds)
    return now - dt.timedelta(days=channel.backfill_days)


def _move_cursor(channel: Channel, watermark: dt.datetime, started: dt.datetime) -> None:
    """Move the cursor to ``watermark`` (pages up to it are committed): never back, never
    past the poll's start (a platform clock ahead of ours must not skip what comes next)."""
    target = min(watermark, started)
    if channel.cursor_at is None or target > channel.cursor_at:
        channel.cursor_at = target
        Channel.objects.filter(pk=channel.pk).update(cursor_at=target)


def _pin_first_sync(channel: Channel, since: dt.datetime, started: dt.datetime) -> None:
    """A first sync that got no watermark (it failed, or its connector promised nothing):
    pin the cursor where the poll started reading. Left empty, the backfill window
    would slide forward with the clock on every poll and drop whatever falls out of
    it; pinned, the next poll reads from the same point until a watermark comes."""
    if channel.cursor_at is None:
        logger.warning("channel %s: first poll gave no watermark; cursor kept at %s",
                       channel.code, since.isoformat())
        _move_cursor(channel, since, started)


def channel_poll(*, channel: Channel | int, connector=None, force: bool = False) -> PollOutcome:
    """Pull what changed since the channel's cursor, once; never two polls of one channel.

    The cursor follows the ``FetchedPage`` contract: it moves only to the last
    page ``watermark`` seen, right after that page is stored (so a poll cut short
    by a time limit, an error or a spent rate budget keeps what it certainly
    read), and never past the poll's start. The timestamps of the orders
    themselves never move it: a scan sorted by anything but a stable
    ``updated_at`` key would skip an order edited on an already-read page.
    The next poll starts ``overlap_seconds`` before the cursor.
    """
    channel_id = channel.pk if isinstance(channel, Channel) else int(channel)
    token = uuid.uuid4().hex
    if not cache.add(_lock_key(channel_id), token, POLL_LOCK_SECONDS):
        return PollOutcome(status="busy")
    try:
        channel = Channel.objects.get(pk=channel_id)
        if not channel.is_api or not channel.enabled or (channel.paused and not force):
            return PollOutcome(status="skipped")
        started = timezone.now()
        Channel.objects.filter(pk=channel.pk).update(last_poll_at=started)
        channel.last_poll_at = started
        since = _poll_start(channel, started)
        result = IngestResult()
        watermarked = False
        own_connector = connector is None
        try:
            connector = connector or get_connector(channel)
            resolver = SkuResolver(channel)
            for page in connector.fetch_orders(since=since):
                page_result = ingest_items(channel=channel, items=page.orders,
                                           source=RawPayload.Source.POLL, normalizer=connector,
                                           resolver=resolver)
                result.merge(page_result)
                if page.watermark is not None:
                    # ingest_items committed the page: the cursor may follow it now.
                    _move_cursor(channel, page.watermark, started)
                    watermarked = True
                if not _lock_renew(channel_id, token):
                    # A page took longer than the lease and another poll took over: stop
                    # reading (what was stored stays) rather than run two polls at once.
                    logger.warning("channel %s: poll lock taken over; this poll stops",
                                   channel.code)
                    return PollOutcome(status="busy", result=result)
        except ConnectorError as exc:
            _pin_first_sync(channel, since, started)
            _record_failure(channel, exc)
            return PollOutcome(status="failed", result=result, error=exc.message)
        finally:
            if own_connector and connector is not None:
                connector.close()
        if not watermarked:
            _pin_first_sync(channel, since, started)
        Channel.objects.filter(pk=channel.pk).update(
            last_success_at=timezone.now(), consecutive_failures=0,
            next_poll_at=timezone.now() + dt.timedelta(seconds=channel.poll_interval),
        )
        return PollOutcome(status="ok", result=result)
    finally:
        if cache.get(_lock_key(channel_id)) == token:
            cache.delete(_lock_key(channel_id))


def channels_due(now: dt.datetime | None = None):
    now = now or timezone.now()
    return (Channel.objects.filter(enabled=True, paused=False,
                                   platform__in=API_PLATFORMS)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)))


