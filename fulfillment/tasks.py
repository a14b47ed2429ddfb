"""Fulfillment Celery tasks: thin, idempotent wrappers around the services."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.utils import timezone

from orderhub.models import Order, OrderStatus

logger = logging.getLogger(__name__)

RETRY = {"autoretry_for": (Exception,), "retry_backoff": 5, "retry_backoff_max": 600,
         "retry_jitter": True, "max_retries": 8}
STRAGGLER_MINUTES = 5


@shared_task(name="fulfillment.tasks.automate_order", ignore_result=True, **RETRY)
def automate_order(order_id: int) -> str:
    """Decide for a paid order; does nothing once the order left ``paid``."""
    from fulfillment.services.automation import order_automate

    status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
    if status != OrderStatus.PAID:
        return "skipped"
    return order_automate(order=order_id).result


@shared_task(bind=True, name="fulfillment.tasks.automate_orders", ignore_result=True,
             max_retries=RETRY["max_retries"])
def automate_orders(self, order_ids: list[int]) -> dict[str, int]:
    """Decide for a batch of paid orders (the paid receiver's chunks, the straggler sweep).

    Idempotent: orders no longer ``paid`` are skipped. A failing order does not
    stop the others; only the failed ones are retried, with exponential backoff.
    Returns the count per result.
    """
    from fulfillment.services.automation import orders_automate

    outcomes = orders_automate(order_ids=order_ids)
    failed = [i for i, outcome in outcomes.items() if outcome.result == "error"]
    if failed:
        countdown = get_exponential_backoff_interval(
            factor=RETRY["retry_backoff"], retries=self.request.retries,
            maximum=RETRY["retry_backoff_max"], full_jitter=True)
        raise self.retry(args=[failed], countdown=max(countdown, 1),
                         exc=RuntimeError(f"automation failed for orders {failed}"))
    return dict(Counter(str(outcome.result) for outcome in outcomes.values()))


@shared_task(name="fulfillment.tasks.reprocess_order", ignore_result=True, **RETRY)
def reprocess_order(order_id: int, reset_approvals: bool = True) -> str:
    """Re-run automation after an edit (only while picking has not started)."""
    from fulfillment.receivers import REPROCESS_ON_EDIT
    from fulfillment.services.automation import order_reprocess

    status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
    if status not in REPROCESS_ON_EDIT:
        return "skipped"
    return order_reprocess(order=order_id, actor="system:automation",
                           reason="order edited", reset_approvals=reset_approvals).result


@shared_task(name="fulfillment.tasks.automate_stragglers", ignore_result=True)
def automate_stragglers(limit: int = 500) -> int:
    """Safety net: paid orders untouched for a few minutes get their task again.

    A paid order normally leaves ``paid`` within seconds; one still there had
    its task lost (dead broker, crashed worker). One indexed query, one task.
    """
    cutoff = timezone.now() - dt.timedelta(minutes=STRAGGLER_MINUTES)
    ids = list(Order.objects.filter(status=OrderStatus.PAID, updated_at__lt=cutoff)
               .order_by("paid_at", "pk").values_list("pk", flat=True)[:limit])
    if ids:
        automate_orders.delay(ids)
    return len(ids)


@shared_task(name="fulfillment.tasks.cancel_unpaid_orders", ignore_result=True)
def cancel_unpaid_orders(limit: int = 1000) -> int:
    """Cancel orders not paid within their channel's payment timeout."""
    from fulfillment.services.payments import orders_cancel_unpaid

    return len(orders_cancel_unpaid(limit=limit))
