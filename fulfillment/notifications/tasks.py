"""Notification tasks: thin wrappers around the services, taking ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from fulfillment.notifications import services
from fulfillment.notifications.models import Message


@shared_task(name="fulfillment.notifications.tasks.deliver_message", bind=True,
             ignore_result=True, max_retries=services.MAX_ATTEMPTS)
def deliver_message(self, message_id: int) -> str:
    outcome = services.message_deliver(message_id=message_id)
    if outcome == "retry":
        due = (Message.objects.filter(pk=message_id)
               .values_list("next_attempt_at", flat=True).first())
        countdown = max(1, int((due - timezone.now()).total_seconds())) if due else 60
        # Jitter keeps a burst of failures (gateway outage) from retrying in lockstep.
        raise self.retry(countdown=countdown + int(countdown * 0.1 * (hash(message_id) % 10) / 10))
    return outcome


@shared_task(name="fulfillment.notifications.tasks.deliver_due_messages", ignore_result=True)
def deliver_due_messages() -> int:
    """Beat safety net (every minute): send what is due and whose task was lost.

    Cost: one indexed query on (status, next_attempt_at); at most 500 ids per run,
    the rest follow on the next run. A duplicate enqueue is harmless: delivery
    claims the row first and skips rows that are not due.
    """
    ids = services.messages_due()
    for message_id in ids:
        deliver_message.apply_async((message_id,), expires=600)
    return len(ids)
