"""Channel tasks: thin wrappers around channels.services, taking ids, safe to run twice.

Retries: only errors ``orderhub.adapters.is_retryable`` calls retryable (a
platform refusing, bad credentials: never), with exponential backoff. The
services enqueue these by their registered names, so this module is the only
one importing in that direction.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

from channels import services
from channels.models import API_PLATFORMS, Channel, ShipmentPush
from channels.services.webhooks import raw_payloads_sweep
from orderhub.adapters import AdapterError, is_retryable

logger = logging.getLogger(__name__)

# Backoff of a retried task: 2, 4, 8... seconds, at most this many.
RETRY_BACKOFF_MAX_SECONDS = 600


def _backoff(retries: int) -> int:
    return min(RETRY_BACKOFF_MAX_SECONDS, 2 ** (retries + 1))


@shared_task(name="channels.tasks.poll_due_channels", ignore_result=True)
def poll_due_channels() -> int:
    """Beat sweep (every minute): enqueue a poll for every channel whose interval elapsed.

    Cost: one small query; a duplicate enqueue is harmless (the per-channel lock).
    """
    ids = list(services.channels_due().values_list("pk", flat=True))
    for channel_id in ids:
        poll_channel.apply_async((channel_id,), expires=300)
    return len(ids)


@shared_task(name="channels.tasks.poll_channel", ignore_result=True,
             soft_time_limit=600, time_limit=660)
def poll_channel(channel_id: int) -> str:
    return services.channel_poll(channel=channel_id).status


@shared_task(name="channels.tasks.process_raw_payload", bind=True, ignore_result=True,
             max_retries=5)
def process_raw_payload(self, raw_id: int) -> str:
    try:
        return services.raw_payload_process(raw_id=raw_id)
    except (OSError, AdapterError) as exc:
        # A connection blip, or an outside system answering "later": the payload is
        # stored and still pending, so a later try gets it. What cannot be read the
        # pipeline quarantines itself; a permanent adapter error (bad credentials) is
        # raised at once, not retried.
        if not is_retryable(exc):
            raise
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(name="channels.tasks.process_pending_payloads", ignore_result=True)
def process_pending_payloads() -> int:
    """Beat safety net (every minute): payloads whose processing task was lost are queued."""
    return raw_payloads_sweep()


@shared_task(name="channels.tasks.deliver_shipment_push", bind=True, ignore_result=True,
             max_retries=services.SHIPMENT_PUSH_MAX_ATTEMPTS)
def deliver_shipment_push(self, push_id: int) -> str:
    outcome = services.shipment_push_deliver(push_id=push_id)
    if outcome == "retry":
        push = ShipmentPush.objects.get(pk=push_id)
        countdown = max(1, int((push.next_attempt_at - timezone.now()).total_seconds()))
        raise self.retry(countdown=countdown)
    return outcome


@shared_task(name="channels.tasks.deliver_due_shipment_pushes", ignore_result=True)
def deliver_due_shipment_pushes() -> int:
    """Safety net: pushes whose task was lost (broker down, worker crash) are sent from here."""
    due = ShipmentPush.objects.filter(status=ShipmentPush.Status.PENDING,
                                      next_attempt_at__lte=timezone.now()
                                      - dt.timedelta(minutes=5)).values_list("pk", flat=True)
    ids = list(due[:500])
    for push_id in ids:
        deliver_shipment_push.delay(push_id)
    return len(ids)


@shared_task(name="channels.tasks.check_gaps", ignore_result=True)
def check_gaps() -> None:
    """Daily: compare each of the last GAP_CHECK_DAYS days' order counts with the platform's.

    Cost: one count call per channel and day (7 days x a few channels: seconds).
    Platforms that cannot count (``count_orders`` returns None) are skipped quietly.
    """
    for channel in Channel.objects.filter(enabled=True, paused=False, platform__in=API_PLATFORMS):
        try:
            services.gap_check_window(channel=channel)
        except Exception:  # noqa: BLE001 - one broken channel must not stop the others' checks
            logger.exception("gap check failed for channel %s", channel.code)
