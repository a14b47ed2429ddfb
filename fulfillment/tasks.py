"""Fulfillment Celery tasks: thin, idempotent wrappers around the services."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
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
    its task lost (dead broker, crashed worker). One indexed query.
    """
    cutoff = timezone.now() - dt.timedelta(minutes=STRAGGLER_MINUTES)
    ids = list(Order.objects.filter(status=OrderStatus.PAID, updated_at__lt=cutoff)
               .order_by("paid_at", "pk").values_list("pk", flat=True)[:limit])
    for order_id in ids:
        automate_order.delay(order_id)
    return len(ids)


@shared_task(name="fulfillment.tasks.cancel_unpaid_orders", ignore_result=True)
def cancel_unpaid_orders(limit: int = 1000) -> int:
    """Cancel orders not paid within their channel's payment timeout."""
    from fulfillment.services.payments import orders_cancel_unpaid

    return len(orders_cancel_unpaid(limit=limit))
