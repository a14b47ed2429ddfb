"""Webhook tasks: thin wrappers around the services, taking ids, safe to run twice.

Retries are not Celery retries: a failed try sets the row's ``next_attempt_at`` and
the minute sweep queues it when due (a countdown of hours would outlive the
broker's visibility timeout).
"""

from __future__ import annotations

from celery import shared_task

from webhooks import services

SWEEP_BATCH = 500


@shared_task(name="webhooks.tasks.send_delivery", ignore_result=True)
def send_delivery(delivery_id: int) -> str:
    return services.delivery_send(delivery_id=delivery_id)


@shared_task(name="webhooks.tasks.send_due_deliveries", ignore_result=True)
def send_due_deliveries() -> int:
    """Beat (every minute): queue deliveries that are due and not in flight.

    Cost: one indexed query on (status, next_attempt_at) and one UPDATE marking
    them queued; at most ``SWEEP_BATCH`` per run. A full batch (a bulk import's
    deliveries) queues the sweep again at once for the rest.
    """
    ids = services.deliveries_due(limit=SWEEP_BATCH)
    expires = int(services.QUEUED_FOR.total_seconds())
    for delivery_id in ids:
        send_delivery.apply_async((delivery_id,), expires=expires)
    if len(ids) == SWEEP_BATCH:
        send_due_deliveries.apply_async(expires=expires)
    return len(ids)


@shared_task(name="webhooks.tasks.record_missed_events", ignore_result=True)
def record_missed_events() -> int:
    """Beat (every minute): deliveries for order events the live receivers missed.

    Cost: per source (orders, transition log) one read of at most ``MISSED_BATCH``
    rows past the cursor, one lookup of their existing deliveries, one insert.
    """
    return services.missed_events_record()
