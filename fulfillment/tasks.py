"""Fulfillment Celery tasks: thin, idempotent wrappers around the services.

A task retries only what may succeed later (``orderhub.adapters.is_retryable``),
with exponential backoff and jitter (``fulfillment.queue.retry_or_raise``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db.models import Q
from django.utils import timezone

from fulfillment.queue import RETRY_BACKOFF, RETRY_BACKOFF_MAX, retry_or_raise
from fulfillment.services import automation, credit, payments
from orderhub.models import Order, OrderStatus

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
STRAGGLER_MINUTES = 5


@shared_task(bind=True, name="fulfillment.tasks.automate_order", ignore_result=True,
             max_retries=MAX_RETRIES)
def automate_order(self, order_id: int) -> str:
    """Decide for a paid order; does nothing once the order left ``paid``."""
    status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
    if status != OrderStatus.PAID:
        return "skipped"
    try:
        return automation.order_automate(order=order_id).result
    except Exception as exc:
        retry_or_raise(self, exc)


@shared_task(bind=True, name="fulfillment.tasks.automate_orders", ignore_result=True,
             max_retries=MAX_RETRIES)
def automate_orders(self, order_ids: list[int]) -> dict[str, int]:
    """Decide for a batch of paid orders (the paid receiver's chunks, the straggler sweep).

    Idempotent: orders no longer ``paid`` are skipped. A failing order does not
    stop the others; only the failed ones are retried, with exponential backoff.
    Returns the count per result.
    """
    outcomes = automation.orders_automate(order_ids=order_ids)
    failed = [i for i, outcome in outcomes.items() if outcome.result == "error"]
    if failed:
        countdown = get_exponential_backoff_interval(
            factor=RETRY_BACKOFF, retries=self.request.retries,
            maximum=RETRY_BACKOFF_MAX, full_jitter=True)
        raise self.retry(args=[failed], countdown=max(countdown, 1),
                         exc=RuntimeError(f"automation failed for orders {failed}"))
    return dict(Counter(str(outcome.result) for outcome in outcomes.values()))


@shared_task(bind=True, name="fulfillment.tasks.reprocess_order", ignore_result=True,
             max_retries=MAX_RETRIES)
def reprocess_order(self, order_id: int, reset_approvals: bool = True) -> str:
    """Re-run automation after an edit (only while picking has not started)."""
    try:
        return automation.order_reprocess_after_edit(order_id=order_id,
                                                     reset_approvals=reset_approvals)
    except Exception as exc:
        retry_or_raise(self, exc)


@shared_task(name="fulfillment.tasks.automate_stragglers", ignore_result=True)
def automate_stragglers(limit: int = 500) -> int:
    """Safety net: paid orders untouched for a few minutes get their task again.

    A paid order normally leaves ``paid`` within seconds; one still there had
    its task lost (dead broker, crashed worker). One indexed query, one task.
    Presale orders waiting in the deferred queue are left out: they stay paid
    on purpose until ``warehouse.tasks.release_presale_orders`` releases them.
    """
    cutoff = timezone.now() - dt.timedelta(minutes=STRAGGLER_MINUTES)
    ids = list(Order.objects.filter(status=OrderStatus.PAID, updated_at__lt=cutoff)
               .filter(Q(presale_deferral__isnull=True)
                       | Q(presale_deferral__released_at__isnull=False))
               .order_by("paid_at", "pk").values_list("pk", flat=True)[:limit])
    if ids:
        automate_orders.delay(ids)
    return len(ids)


@shared_task(name="fulfillment.tasks.cancel_unpaid_orders", ignore_result=True)
def cancel_unpaid_orders(limit: int = 1000) -> int:
    """Cancel orders not paid within their channel's payment timeout."""
    return len(payments.orders_cancel_unpaid(limit=limit))


@shared_task(name="fulfillment.tasks.release_cancelled_credit", ignore_result=True)
def release_cancelled_credit(limit: int = 500) -> int:
    """Safety net: cancelled orders still counted in a B2B balance give it back."""
    return credit.credit_release_stragglers(limit=limit)
