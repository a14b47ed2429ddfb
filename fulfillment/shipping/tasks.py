"""Shipping tasks: thin wrappers around fulfillment.shipping.services, taking ids, safe to rerun."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from fulfillment.shipping import services
from fulfillment.shipping.carriers import CarrierError
from fulfillment.shipping.models import Waybill

logger = logging.getLogger(__name__)

POLL_CHUNK = 20  # one chunk ≤ 20 calls × 10 s timeout: inside the 240 s soft limit


def _countdown(waybill_id: int) -> int:
    when = Waybill.objects.filter(pk=waybill_id).values_list("next_attempt_at", flat=True).get()
    return max(1, int((when - timezone.now()).total_seconds()))


@shared_task(name="fulfillment.shipping.tasks.book_waybill", bind=True, ignore_result=True,
             max_retries=services.MAX_ATTEMPTS)
def book_waybill(self, waybill_id: int) -> str:
    outcome = services.waybill_book(waybill_id=waybill_id)
    # "wait" (order on hold) is left to the sweeper: a hold may last days.
    if outcome == "retry":
        raise self.retry(countdown=_countdown(waybill_id))
    return outcome


@shared_task(name="fulfillment.shipping.tasks.complete_waybill", ignore_result=True)
def complete_waybill(waybill_id: int) -> str:
    return services.waybill_complete(waybill_id=waybill_id)


@shared_task(name="fulfillment.shipping.tasks.cancel_waybill", bind=True, ignore_result=True,
             max_retries=services.CANCEL_MAX_ATTEMPTS)
def cancel_waybill(self, waybill_id: int) -> str:
    outcome = services.waybill_cancel(waybill_id=waybill_id)
    if outcome == "retry":
        raise self.retry(countdown=_countdown(waybill_id))
    return outcome


@shared_task(name="fulfillment.shipping.tasks.deliver_due_waybills", ignore_result=True)
def deliver_due_waybills() -> int:
    """Safety net (every minute): bookings, cancels and ship steps whose task was lost.

    Cost: four indexed queries; duplicate tasks are harmless (row locks, status checks).
    """
    due = services.waybills_due()
    for waybill_id in due["book"]:
        book_waybill.delay(waybill_id)
    for waybill_id in due["cancel"]:
        cancel_waybill.delay(waybill_id)
    for waybill_id in due["complete"]:
        complete_waybill.delay(waybill_id)
    for order_id in due["orphaned"]:
        services.waybill_cancel_request(order_id=order_id)
    return sum(len(v) for v in due.values())


@shared_task(name="fulfillment.shipping.tasks.poll_tracking", ignore_result=True)
def poll_tracking() -> int:
    """Beat (every 30 min): poll the open parcels not polled lately, in chunks."""
    ids = services.waybills_to_poll()
    for start in range(0, len(ids), POLL_CHUNK):
        poll_waybills.delay(ids[start:start + POLL_CHUNK])
    return len(ids)


@shared_task(name="fulfillment.shipping.tasks.poll_waybills", ignore_result=True)
def poll_waybills(waybill_ids: list[int]) -> int:
    new = 0
    for waybill_id in waybill_ids:
        try:
            new += services.tracking_poll(waybill_id=waybill_id)
        except CarrierError as exc:
            # One carrier hiccup must not stop the rest of the chunk; next poll retries.
            logger.warning("tracking poll failed for waybill %s: %s", waybill_id, exc.message)
    return new


@shared_task(name="fulfillment.shipping.tasks.flag_stalled_parcels", ignore_result=True)
def flag_stalled_parcels() -> int:
    return len(services.flag_stalled())


@shared_task(name="fulfillment.shipping.tasks.complete_delivered_orders", ignore_result=True)
def complete_delivered_orders() -> int:
    return services.complete_delivered()
