"""How the warehouse reacts to order state changes (sent after commit)."""

import logging

from orderhub.models import OrderStatus

logger = logging.getLogger(__name__)


def on_order_status_changed(sender, *, order_id, transition, from_status, to_status, actor,
                            **kwargs):
    """Cancelled orders give their stock back; shipped orders take it off the shelf.

    Done in-process because both are short local writes; if one fails, the task
    retries it and the periodic sweep catches anything still left over.
    """
    from warehouse import tasks

    if to_status == OrderStatus.CANCELLED:
        job = tasks.release_order_stock
    elif to_status == OrderStatus.SHIPPED:
        job = tasks.consume_order_stock
    else:
        return
    try:
        job.run(order_id)
    except Exception:
        # The order already changed state and must not fail because of stock
        # bookkeeping: hand the work to the worker, which retries with backoff.
        logger.exception("stock update for order %s after %s failed; queued", order_id,
                         transition)
        job.delay(order_id)
