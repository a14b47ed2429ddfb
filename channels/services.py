"""Channel services: polling, health (pause/resume), webhooks, file imports, write-back.

Views, tasks, admin actions and commands call these; they hold the rules.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors import AuthError, ConnectorError, NormalizationError, get_connector
from channels.connectors.base import AmbiguousReply
from channels.models import (
    API_PLATFORMS,
    Channel,
    GapAlert,
    RawPayload,
    ShipmentPush,
    ShipmentPushAttempt,
)
from channels.pipeline import (
    REJECTED,
    IngestResult,
    canonical_json,
    ingest_items,
    process_raw,
    quarantine,
    store_raw,
)
from channels.signals import channel_paused
from channels.skus import SkuResolver
from orderhub.models import Order, OrderEvent

logger = logging.getLogger(__name__)

POLL_LOCK_SECONDS = 15 * 60
MAX_BACKOFF_SECONDS = 3600
SHIPMENT_PUSH_MAX_ATTEMPTS = 8


def max_failures() -> int:
    return int(getattr(settings, "CHANNEL_MAX_FAILURES", 5))


def normalizer_for(channel: Channel):
    """The object that turns this channel's payloads into NormalizedOrders."""
    if channel.platform == Channel.Platform.CSV:
        from channels.csv_import import CsvNormalizer

        return CsvNormalizer(channel)
    return get_connector(channel)


# --- people are told -------------------------------------------------------------------

def notify_owner(channel: Channel, subject: str, message: str) -> None:
    """Tell the channel's owner (or the site admins) that something needs a person."""
    subject = f"[OrderHub] {channel.name}: {subject}"
    try:
        if channel.owner and channel.owner.email:
            send_mail(subject, message, None, [channel.owner.email])
        else:
            mail_admins(subject, message)
    except Exception:  # noqa: BLE001 - a mail outage must not break the sync; it is logged
        logger.exception("channel %s: could not send notification %r", channel.code, subject)


# --- health -----------------------------------------------------------------------------

def channel_pause(*, channel: Channel, reason: str, actor: str = "system:channels") -> Channel:
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        if channel.paused:
            return channel
        channel.paused = True
        channel.paused_reason = (reason or _("paused"))[:255]
        channel.paused_at = timezone.now()
        channel.save(update_fields=["paused", "paused_reason", "paused_at"])
    logger.warning("channel %s paused by %s: %s", channel.code, actor, channel.paused_reason)
    paused = channel
    # The owner and the team hear of it through the notification outbox (robot and
    # e-mail, with retries): see fulfillment.notifications.receivers.on_channel_paused.
    transaction.on_commit(lambda: channel_paused.send(
        sender=Channel, channel_id=paused.pk, code=paused.code, name=paused.name,
        reason=paused.paused_reason,
    ))
    return channel


def channel_resume(*, channel: Channel, actor: str = "system:channels") -> Channel:
    """Resume polling from the stored cursor (minus the overlap): nothing is skipped."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        channel.paused = False
        channel.paused_reason = ""
        channel.paused_at = None
        channel.consecutive_failures = 0
        channel.next_poll_at = timezone.now()
        channel.resumed_at = timezone.now()
        channel.save(update_fields=["paused", "paused_reason", "paused_at",
                                    "consecutive_failures", "next_poll_at", "resumed_at"])
    logger.info("channel %s resumed by %s", channel.code, actor)
    return channel


def _record_failure(channel: Channel, exc: ConnectorError) -> None:
    now = timezone.now()
    channel.refresh_from_db()
    channel.consecutive_failures += 1
    channel.last_error = exc.message[:2000]
    channel.last_error_at = now
    delay = min(MAX_BACKOFF_SECONDS,
                channel.poll_interval * 2 ** (channel.consecutive_failures - 1))
    channel.next_poll_at = now + dt.timedelta(seconds=delay)
    channel.save(update_fields=["consecutive_failures", "last_error", "last_error_at",
                                "next_poll_at", "last_poll_at"])
    if isinstance(exc, AuthError):
        channel_pause(channel=channel, reason=_("Authentication failed: %(error)s")
                      % {"error": exc.message[:200]})
    elif channel.consecutive_failures >= max_failures():
        channel_pause(channel=channel, reason=_("%(n)s polls in a row failed. Last error: "
                                                "%(error)s") % {"n": channel.consecutive_failures,
                                                                "error": exc.message[:150]})


# --- polling -----------------------------------------------------------------------------

@dataclass
class PollOutcome:
    status: str  # "ok", "busy", "skipped", "failed"
    result: IngestResult | None = None
    error: str = ""


def _lock_key(channel_id: int) -> str:
    return f"channels:poll-lock:{channel_id}"


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
    from django.db.models import Q

    return (Channel.objects.filter(enabled=True, paused=False,
                                   platform__in=API_PLATFORMS)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)))


# --- webhooks ----------------------------------------------------------------------------

@dataclass
class WebhookOutcome:
    status_code: int
    message: str
    raw_ids: list[int]


def webhook_receive(*, channel: Channel, body: bytes, headers: Mapping[str, str]
                    ) -> WebhookOutcome:
    """Verify the signature on the raw bytes, then store each order payload.

    Processing happens in a task (enqueued on commit by the caller's view) so
    the platform gets its 2xx within its few-second budget.
    """
    from channels.connectors.woocommerce import WooCommerceConnector

    connector = get_connector(channel)
    if not connector.supports_webhooks:
        return WebhookOutcome(404, "this channel takes no webhooks", [])
    if isinstance(connector, WooCommerceConnector) and connector.is_ping(body=body,
                                                                        headers=headers):
        return WebhookOutcome(200, "ping", [])
    if len(body) > 5 * 1024 * 1024:
        return WebhookOutcome(413, "payload too large", [])
    if not connector.verify_webhook(body=body, headers=headers):
        logger.warning("channel %s: webhook with a missing or wrong signature refused",
                       channel.code)
        return WebhookOutcome(401, "invalid signature", [])
    # Only now is the body trusted enough to be read.
    try:
        data = json.loads(body)
    except ValueError:
        raw, _created = store_raw(channel=channel, body=body, source=RawPayload.Source.WEBHOOK)
        if raw.status == RawPayload.Status.PENDING:
            quarantine(raw, _("The webhook body is not valid JSON."))
        return WebhookOutcome(200, "kept for review", [])
    raw_ids = []
    for order in connector.webhook_orders(data=data, headers=headers):
        try:
            external_id = connector.external_id(order)
        except NormalizationError:
            external_id = ""
        raw, created = store_raw(channel=channel, body=canonical_json(order),
                                 source=RawPayload.Source.WEBHOOK, external_id=external_id)
        if created or raw.status == RawPayload.Status.PENDING:
            raw_ids.append(raw.pk)
    return WebhookOutcome(200, "ok", raw_ids)


def raw_payload_process(*, raw_id: int) -> str:
    """Process one stored payload (a webhook's), unless already done."""
    raw = RawPayload.objects.select_related("channel").get(pk=raw_id)
    if raw.status != RawPayload.Status.PENDING:
        return "done"
    outcome, _order_id = process_raw(raw=raw, normalizer=normalizer_for(raw.channel))
    return outcome


def raw_payload_replay(*, raw: RawPayload, actor: str) -> str:
    """Replay a quarantined payload after a fix or a mapping change."""
    logger.info("payload %s replayed by %s", raw.pk, actor)
    outcome, _order_id = process_raw(raw=raw, normalizer=normalizer_for(raw.channel))
    return outcome


@dataclass
class ReplayAllOutcome:
    fixed: int = 0
    failing: int = 0
    left: int = 0


REPLAY_ALL_BATCH = 200


def channel_replay_quarantined(*, channel: Channel, actor: str,
                               limit: int = REPLAY_ALL_BATCH) -> ReplayAllOutcome:
    """Replay a channel's quarantined payloads, oldest first, at most ``limit`` at a time.

    For after a fix (connector update, SKU mappings): each payload goes through the
    same path as one replayed by hand. Bounded so a click returns within a page
    request (200 payloads ≈ a few seconds); ``left`` says how many still wait.
    """
    quarantined = RawPayload.objects.filter(channel=channel,
                                            status=RawPayload.Status.QUARANTINED)
    ids = list(quarantined.order_by("received_at", "id").values_list("pk", flat=True)[:limit])
    logger.info("channel %s: %s replays %s quarantined payloads", channel.code, actor, len(ids))
    normalizer = normalizer_for(channel)
    outcome = ReplayAllOutcome()
    for raw in RawPayload.objects.filter(pk__in=ids).select_related("channel").order_by(
            "received_at", "id"):
        result, _order_id = process_raw(raw=raw, normalizer=normalizer)
        if result == REJECTED:
            outcome.failing += 1
        else:
            outcome.fixed += 1
    outcome.left = max(0, quarantined.count() - outcome.failing)
    return outcome


def raw_payload_dismiss(*, raw: RawPayload, actor: str) -> None:
    raw.status = RawPayload.Status.RESOLVED
    raw.error = f"{raw.error}\n[dismissed by {actor}]"[:4000]
    raw.save(update_fields=["status", "error"])


# --- file import -------------------------------------------------------------------------

def _jsonl_items(path: Path) -> Iterator[str]:
    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield line.decode("utf-8", errors="replace")


def _first_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            chunk = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")  # a BOM is common from Windows tools
            if chunk:
                return chunk[:1]
    return b""


@dataclass
class StreamFailure:
    error: Exception | None = None


# Read this much of a file at a time when streaming a JSON list.
STREAM_CHUNK_CHARS = 1 << 20


def json_list_items(path: Path, failure: StreamFailure) -> Iterator:
    """The items of a file holding one JSON list, decoded one at a time.

    Each item goes through the standard library's decoder, so it comes out
    exactly as ``json.loads`` gives it (numbers of any size, floats...) and a
    payload's stored text and hash are the same as when it arrives by poll.
    Memory holds one chunk of the file and the item being read, never the
    whole file. A syntax error (a truncated file) ends the stream and is kept
    in ``failure``; the items before it were yielded.
    """
    decoder = json.JSONDecoder()
    with path.open("r", encoding="utf-8-sig") as fh:
        buf, pos, eof = "", 0, False

        def more() -> bool:
            nonlocal buf, pos, eof
            chunk = "" if eof else fh.read(STREAM_CHUNK_CHARS)
            eof = not chunk
            buf, pos = buf[pos:] + chunk, 0
            return bool(chunk)

        def next_char() -> str:
            # The next non-blank character (not consumed), or "" at the end of the file.
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or not more():
                    return buf[pos:pos + 1]

        count = 0
        try:
            if next_char() != "[":
                raise ValueError("the file does not start with a JSON list")
            pos += 1
            if next_char() == "]":
                pos += 1
            else:
                while True:
                    next_char()
                    while True:
                        try:
                            item, end = decoder.raw_decode(buf, pos)
                        except json.JSONDecodeError:
                            if more():
                                continue  # the item goes on in the next chunk
                            raise
                        if not buf[end:].strip("0123456789.eE+-") and more():
                            continue  # the chunk may have cut a number: "12" of "12.5"
                        break
                    pos = end
                    count += 1
                    yield item
                    separator = next_char()
                    pos += 1
                    if separator == "]":
                        break
                    if separator != ",":
                        raise ValueError(f"expected “,” or “]” after an item, not {separator!r}"
                                         if separator else "the file ends inside the list")
            if next_char():
                raise ValueError("extra data after the list")
        except (ValueError, UnicodeDecodeError) as exc:
            failure.error = ValueError(f"{exc} (orders read before it: {count})")


def _reject_file(channel: Channel, path: Path, error) -> IngestResult:
    # Kept whole, so a person can see (and replay after a fix) what the file held.
    raw, _created = store_raw(channel=channel, body=path.read_bytes(),
                              source=RawPayload.Source.IMPORT)
    if raw.status != RawPayload.Status.PROCESSED:
        quarantine(raw, _("The file %(name)s cannot be read: %(error)s")
                   % {"name": path.name, "error": error})
    result = IngestResult()
    result.add(REJECTED, raw=raw)
    return result


def _read_items_files(paths) -> list:
    """The parsed item files (``import_orders --items``), each whole."""
    loaded = []
    for item_path in paths:
        try:
            loaded.append(json.loads(Path(item_path).read_bytes()))
        except (OSError, ValueError) as exc:
            raise NormalizationError(
                _("The items file %(name)s cannot be read: %(error)s")
                % {"name": Path(item_path).name, "error": exc}) from exc
    return loaded


def import_file(*, channel: Channel, path: Path, all_or_nothing: bool = False,
                workers: int = 1, items_paths=()) -> IngestResult:
    """Import a file of platform-native orders (JSON list / list response / one order /
    JSON lines).

    JSON lines and a top-level JSON list are streamed, a batch of orders at a
    time, so memory stays flat however big the file is. A platform list
    response (an object holding one page of orders) or a single order object
    is read whole. ``workers`` > 1 ingests the batches in that many processes
    (PostgreSQL only). ``items_paths``: files of the platform's separate item
    responses (Amazon getOrderItems), joined to their orders before ingest;
    raises NormalizationError when the channel's platform has no such files or
    one cannot be read (nothing is imported then).
    """
    if channel.platform == Channel.Platform.CSV:
        from channels.csv_import import csv_import

        outcome = csv_import(channel=channel, path=path, all_or_nothing=all_or_nothing)
        outcome.result.archived = outcome.archived
        outcome.result.archived_unchanged = outcome.archived_unchanged
        return outcome.result
    normalizer = normalizer_for(channel)
    join_items = None
    if items_paths:
        if not hasattr(normalizer, "attach_items"):
            raise NormalizationError(_("This channel's orders carry their own items: "
                                       "--items is only for Amazon channels."))
        items_data = _read_items_files(items_paths)

        def join_items(orders):
            return normalizer.attach_items(orders, items_data)
    else:
        def join_items(orders):
            return orders

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return ingest_items(channel=channel, items=join_items(_jsonl_items(path)),
                            source=RawPayload.Source.IMPORT, normalizer=normalizer,
                            workers=workers)
    if _first_byte(path) == b"[":
        failure = StreamFailure()
        result = ingest_items(channel=channel, items=join_items(json_list_items(path, failure)),
                              source=RawPayload.Source.IMPORT, normalizer=normalizer,
                              workers=workers)
        if failure.error is not None:
            result.merge(_reject_file(channel, path, failure.error))
        return result
    body = path.read_bytes()
    try:
        data = json.loads(body)
    except ValueError as exc:
        return _reject_file(channel, path, exc)
    try:
        orders = normalizer.orders_from_file(data)
    except NormalizationError as exc:
        if not isinstance(data, dict):
            return _reject_file(channel, path, exc)
        # Not a list response the connector knows: one order object, for every platform
        # (normalize then says clearly what is wrong if it is not an order either).
        orders = [data]
    return ingest_items(channel=channel, items=join_items(orders),
                        source=RawPayload.Source.IMPORT, normalizer=normalizer)


# --- write-back outbox ------------------------------------------------------------------

def shipment_push_create(*, order: Order) -> ShipmentPush | None:
    """Queue telling the platform this order shipped. Call inside the ship transaction."""
    channel = order.channel
    if not channel.is_api or not order.external_id:
        return None
    push = ShipmentPush.objects.create(order=order, channel=channel, carrier=order.carrier,
                                       carrier_company=order.carrier_company,
                                       tracking_number=order.tracking_number)
    from channels.tasks import deliver_shipment_push

    transaction.on_commit(lambda: deliver_shipment_push.delay(push.pk))
    return push


def _maybe_delivered(exc: ConnectorError) -> bool:
    """The request may have reached the platform and taken effect: a cut-off or missing
    reply (``AmbiguousReply``), or a transport failure with no HTTP status at all."""
    return isinstance(exc, AmbiguousReply) or (exc.retryable and exc.status_code is None)


def _read_back(connector, push: ShipmentPush, tracking_number: str) -> bool | None:
    """Does the platform already hold this shipment? None when it cannot tell."""
    try:
        return connector.confirm_shipment(external_id=push.order.external_id,
                                          tracking_number=tracking_number,
                                          platform_data=push.order.platform_data or {})
    except ConnectorError as exc:
        logger.warning("push %s: reading the order back failed: %s", push.pk, exc.message[:200])
        return None
    except Exception:  # noqa: BLE001 - a read-back is a check on top of the push: when it
        # breaks (a connector bug, a reply it does not know) the push goes on as it would
        # have without it, and the crash is logged for a fix.
        logger.exception("push %s: reading the order back crashed", push.pk)
        return None


def _mark_sent(push: ShipmentPush, *, status_code: int | None, confirmed: bool) -> str:
    push.status = ShipmentPush.Status.SENT
    push.sent_at = timezone.now()
    push.last_error = ""
    push.unconfirmed = False
    push.save(update_fields=["attempts", "status", "sent_at", "last_error", "unconfirmed",
                             "carrier"])
    ShipmentPushAttempt.objects.create(
        push=push, ok=True, status_code=status_code,
        error=_("confirmed by reading the order back") if confirmed else "")
    OrderEvent.objects.create(
        order=push.order, kind="shipment_pushed", actor="system:channels",
        message=(_("The platform already holds the tracking number (confirmed by reading "
                   "the order back).") if confirmed
                 else _("Tracking number sent to the platform.")))
    return "sent"


def shipment_push_deliver(*, push_id: int, connector=None) -> str:
    """One delivery attempt; returns "sent", "retry", "failed" or the push's final status.

    Tells the truth about the platform: a reply that may hide a success (timeout,
    cut-off body) is never a failure; the next attempt reads the order back first
    and only sends again when the platform does not hold the shipment. Before a
    push is marked permanently failed, the order is read back once more.
    """
    with transaction.atomic():
        push = ShipmentPush.objects.select_for_update().select_related("order", "channel").get(
            pk=push_id)
        if push.status != ShipmentPush.Status.PENDING:
            return push.status
        push.attempts += 1
        attempt = ShipmentPushAttempt(push=push)
        order = push.order
        tracking_number = push.tracking_number or order.tracking_number
        lines = [{"external_line_id": ln.external_line_id, "quantity": ln.quantity}
                 for ln in order.lines.all()]
        own_connector = connector is None
        try:
            connector = connector or get_connector(push.channel)
            # The platform's own name/code for the carrier (the channel's carrier_map
            # first), not the hub's carrier-account code.
            company = push.carrier_company or order.carrier_company
            push.carrier = connector.carrier_name(company, fallback=push.carrier
                                                  or order.carrier)[:40]
            if push.unconfirmed and _read_back(connector, push, tracking_number):
                return _mark_sent(push, status_code=None, confirmed=True)
            outcome = connector.push_shipment(
                external_id=order.external_id, carrier=push.carrier,
                tracking_number=tracking_number, lines=lines,
                platform_data=order.platform_data or {})
        except ConnectorError as exc:
            return _push_failed(push, attempt, exc, connector, tracking_number)
        finally:
            if own_connector and connector is not None:
                connector.close()
        return _mark_sent(push, status_code=outcome.status_code, confirmed=False)


def _push_failed(push: ShipmentPush, attempt: ShipmentPushAttempt, exc: ConnectorError,
                 connector, tracking_number: str) -> str:
    order = push.order
    attempt.error = exc.message[:2000]
    attempt.status_code = exc.status_code
    attempt.save()
    push.last_error = exc.message[:2000]
    # Once unclear, stay unclear until the platform is read back: a later plain error
    # (a 409 "already fulfilled") may well be the first attempt's success showing.
    push.unconfirmed = push.unconfirmed or _maybe_delivered(exc)
    if exc.retryable and push.attempts < SHIPMENT_PUSH_MAX_ATTEMPTS:
        push.next_attempt_at = timezone.now() + dt.timedelta(
            seconds=min(MAX_BACKOFF_SECONDS, 30 * 2 ** (push.attempts - 1)))
        push.save(update_fields=["attempts", "last_error", "next_attempt_at", "unconfirmed",
                                 "carrier"])
        return "retry"
    # About to give up: never call it failed when the platform did fulfil.
    if connector is not None and _read_back(connector, push, tracking_number):
        return _mark_sent(push, status_code=None, confirmed=True)
    error = exc.message[:300]
    push.status = ShipmentPush.Status.FAILED
    push.save(update_fields=["attempts", "last_error", "status", "unconfirmed", "carrier"])
    OrderEvent.objects.create(
        order=order, kind="shipment_push_failed", actor="system:channels",
        message=_("The platform could not be told about the shipment: %(error)s")
        % {"error": error})
    transaction.on_commit(lambda: notify_owner(
        push.channel, _("shipment not confirmed"),
        _("Order %(number)s (%(ext)s) shipped, but the platform refused the tracking "
          "number after %(n)s tries: %(error)s") % {
            "number": order.number, "ext": order.external_id, "n": push.attempts,
            "error": error}))
    return "failed"


# --- gap detection ------------------------------------------------------------------------

def gap_check(*, channel: Channel, day: dt.date, connector=None) -> GapAlert | None:
    """Compare the platform's order count for ``day`` (local date) with the hub's."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=1)
    connector = connector or get_connector(channel)
    platform_count = connector.count_orders(start=start, end=end)
    if platform_count is None:
        return None
    hub_count = Order.objects.filter(channel=channel, placed_at__gte=start,
                                     placed_at__lt=end).count()
    if platform_count <= hub_count:
        GapAlert.objects.filter(channel=channel, day=day, resolved=False).update(resolved=True)
        return None
    alert, _created = GapAlert.objects.update_or_create(
        channel=channel, day=day,
        defaults={"platform_count": platform_count, "hub_count": hub_count, "resolved": False})
    notify_owner(channel, _("possible missing orders"), _(
        "On %(day)s the platform reports %(platform)s orders but the hub holds %(hub)s: "
        "%(missing)s possibly missing. Check the channel's sync problems and run a poll."
    ) % {"day": day, "platform": platform_count, "hub": hub_count, "missing": alert.missing})
    return alert


def gap_check_days() -> int:
    return max(1, int(getattr(settings, "GAP_CHECK_DAYS", 7)))


def gap_check_window(*, channel: Channel, days: int | None = None, today: dt.date | None = None,
                     connector=None) -> list[GapAlert]:
    """``gap_check`` for each of the last ``days`` full local days (yesterday backwards).

    A late-arriving order (a webhook lost, a poll that never came back) can belong
    to any recent day, not only yesterday; an alert for a day that has caught up
    is resolved. Cost: one count call to the platform per day.
    """
    days = days or gap_check_days()
    today = today or timezone.localdate()
    own_connector = connector is None
    connector = connector or get_connector(channel)
    alerts = []
    try:
        for back in range(1, days + 1):
            alert = gap_check(channel=channel, day=today - dt.timedelta(days=back),
                              connector=connector)
            if alert is not None:
                alerts.append(alert)
    finally:
        if own_connector:
            connector.close()
    return alerts
