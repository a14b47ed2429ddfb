"""Webhooks and stored payloads: verify and keep, then process, replay or dismiss."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors import NormalizationError, get_connector, normalizer_for
from channels.ingest.raw import canonical_json, quarantine, store_raw
from channels.ingest.results import REJECTED
from channels.ingest.upsert import process_raw
from channels.models import Channel, RawPayload
from orderhub.queue import enqueue

logger = logging.getLogger(__name__)

PROCESS_TASK = "channels.tasks.process_raw_payload"
# A payload still pending this long after it arrived had its task lost.
SWEEP_AFTER = dt.timedelta(minutes=2)
# Payloads queued per sweep run (about 1 KB each on the broker); the rest follow next run.
SWEEP_BATCH = 1000
SWEEP_TASK_EXPIRES = 110


# Larger bodies are refused with 413 before anything reads them whole. A platform's
# single-order webhook is a few kB; 5 MB leaves room for orders with hundreds of lines.
WEBHOOK_BODY_LIMIT = 5 * 1024 * 1024


@dataclass
class WebhookOutcome:
    """What the webhook answers: status, a reason in English for the platform's delivery
    log, the stored payloads to process. ``logged``: the refusal was logged here already
    (with its reason), so the view keeps Django's request logger from logging it again."""

    status_code: int
    message: str
    raw_ids: list[int]
    logged: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code < 400


def webhook_too_large(*, channel: Channel, size: int | None) -> WebhookOutcome:
    """The refusal of a body over ``WEBHOOK_BODY_LIMIT`` (``size`` None: no length given)."""
    logger.warning("channel %s: webhook body of %s refused: over the %s-byte limit",
                   channel.code, f"{size} bytes" if size is not None else "unknown length",
                   WEBHOOK_BODY_LIMIT)
    return WebhookOutcome(413, f"payload too large: the limit is {WEBHOOK_BODY_LIMIT} bytes",
                          [], logged=True)


def _not_an_object(data) -> tuple[str, str]:
    """Why ``data`` is no webhook body: in English for the platform, translated for ops."""
    if isinstance(data, list):
        return "the body is an array, not a JSON object", _(
            "The webhook body is a JSON array, not an object.")
    if isinstance(data, str):
        return "the body is a string, not a JSON object", _(
            "The webhook body is a JSON string, not an object.")
    return "the body is a bare value, not a JSON object", _(
        "The webhook body is a bare JSON value (a number, true/false or null), not an object.")


def _refuse_body(*, channel: Channel, body: bytes, reason: str, stored_reason: str
                 ) -> WebhookOutcome:
    """A signed body the hub cannot take in: kept whole as a quarantined payload (evidence
    ops see on the sync-problems page, replayable after a fix), answered 400."""
    raw, _created = store_raw(channel=channel, body=body, source=RawPayload.Source.WEBHOOK)
    if raw.status == RawPayload.Status.PENDING:
        quarantine(raw, stored_reason)  # logs the refusal with its reason
    else:
        # The platform sent the same body again (it retries after a 400).
        logger.warning("channel %s: webhook refused again (payload %s): %s",
                       channel.code, raw.pk, reason)
    return WebhookOutcome(400, f"{reason} (kept for review as payload {raw.pk})", [],
                          logged=True)


def webhook_receive(*, channel: Channel, body: bytes, headers: Mapping[str, str]
                    ) -> WebhookOutcome:
    """Verify the signature on the raw bytes, check the body's shape, then store each order.

    Processing happens in a task, queued when the caller's transaction commits,
    so the platform gets its 2xx within its few-second budget. The stored
    payload is the record of the work: with the broker down the task is not
    queued, the platform still gets its 2xx (it must not resend forever), and
    ``raw_payloads_sweep`` processes the payload later. A signed body that
    is not JSON, not a JSON object, or holds an order without the platform's
    order id is refused with 400 and kept as a quarantined payload: nothing a
    platform sent is dropped without a trace, and none of it is taken in half.
    """
    connector = get_connector(channel)
    if not connector.supports_webhooks:
        return WebhookOutcome(404, "this channel takes no webhooks", [])
    # WooCommerce pings a new webhook with a form body and no signature to check.
    is_ping = getattr(type(connector), "is_ping", None)
    if is_ping is not None and is_ping(body=body, headers=headers):
        return WebhookOutcome(200, "ping", [])
    if len(body) > WEBHOOK_BODY_LIMIT:
        return webhook_too_large(channel=channel, size=len(body))
    if not connector.verify_webhook(body=body, headers=headers):
        logger.warning("channel %s: webhook with a missing or wrong signature refused",
                       channel.code)
        return WebhookOutcome(401, "invalid signature", [], logged=True)
    # Only now is the body trusted enough to be read.
    try:
        data = json.loads(body)
    except ValueError:
        return _refuse_body(channel=channel, body=body, reason="the body is not valid JSON",
                            stored_reason=_("The webhook body is not valid JSON."))
    if not isinstance(data, dict):
        reason, stored_reason = _not_an_object(data)
        return _refuse_body(channel=channel, body=body, reason=reason,
                            stored_reason=stored_reason)
    orders = connector.webhook_orders(data=data, headers=headers)
    if not orders:
        # A topic the hub does not take in (Shopify products/*, WooCommerce order.deleted).
        logger.info("channel %s: webhook without an order to take in (topic headers: %s)",
                    channel.code, {k: v for k, v in headers.items() if "topic" in k.lower()})
        return WebhookOutcome(200, "nothing to take in", [])
    external_ids = []
    for order in orders:
        try:
            external_ids.append(connector.external_id(order))
        except NormalizationError as exc:
            # Checked for every order before any is stored: all or none of a body.
            return _refuse_body(
                channel=channel, body=body,
                reason=f"an order lacks the platform's required keys: {exc}",
                stored_reason=_("An order in the webhook body lacks the platform's required "
                                "keys: %(error)s") % {"error": exc})
    raw_ids = []
    for order, external_id in zip(orders, external_ids, strict=True):
        raw, created = store_raw(channel=channel, body=canonical_json(order),
                                 source=RawPayload.Source.WEBHOOK, external_id=external_id)
        if created or raw.status == RawPayload.Status.PENDING:
            raw_ids.append(raw.pk)
    for raw_id in raw_ids:
        transaction.on_commit(lambda raw_id=raw_id: enqueue(PROCESS_TASK, raw_id))
    return WebhookOutcome(200, "ok", raw_ids)


def raw_payloads_sweep(*, older_than: dt.timedelta = SWEEP_AFTER,
                       limit: int = SWEEP_BATCH) -> int:
    """Queue processing for payloads still pending ``older_than`` after they arrived.

    The safety net for a lost task (broker down when the webhook came, a worker
    killed mid-way): a payload normally leaves ``pending`` within seconds. Safe
    alongside normal processing: processing skips a payload no longer pending,
    and processing one twice changes nothing (upserts by external id). Cost: one
    query on the (status, received_at) index, then one small task per payload.
    """
    cutoff = timezone.now() - older_than
    ids = list(RawPayload.objects.filter(status=RawPayload.Status.PENDING,
                                         received_at__lt=cutoff)
               .order_by("received_at", "id").values_list("pk", flat=True)[:limit])
    if ids:
        logger.warning("%s payloads still pending after %s; queued again", len(ids), older_than)
    for raw_id in ids:
        # Expires after about two sweeps: an outage's backlog sits in the queue at
        # most twice, and the extra task of a payload done meanwhile returns at once.
        if not enqueue(PROCESS_TASK, raw_id, expires=SWEEP_TASK_EXPIRES):
            break
    return len(ids)


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


