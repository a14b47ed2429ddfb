"""Webhooks and stored payloads: verify and keep, then process, replay or dismiss."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

from channels.connectors import NormalizationError, get_connector, normalizer_for
from channels.ingest.raw import canonical_json, quarantine, store_raw
from channels.ingest.results import REJECTED
from channels.ingest.upsert import process_raw
from channels.models import Channel, RawPayload

logger = logging.getLogger(__name__)


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
    connector = get_connector(channel)
    if not connector.supports_webhooks:
        return WebhookOutcome(404, "this channel takes no webhooks", [])
    # WooCommerce pings a new webhook with a form body and no signature to check.
    is_ping = getattr(type(connector), "is_ping", None)
    if is_ping is not None and is_ping(body=body, headers=headers):
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


