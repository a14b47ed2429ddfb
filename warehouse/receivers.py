"""How the warehouse reacts to order state changes (sent after commit)."""

import logging

from orderhub.models import OrderStatus
from orderhub.queue import enqueue
from warehouse import tasks
from warehouse.services.picklists import OFF_QUEUE, SHIPPED_ON_PLATFORM

logger = logging.getLogger(__name__)


def on_order_status_changed(sender, *, order_id, transition, from_status, to_status, actor,
                            **kwargs):
    """Cancelled orders give their stock back; shipped orders take it off the shelf.

    Done in-process because both are short local writes; if one fails, the task
    retries it and the periodic sweep catches anything still left over. An
    order the platform shipped itself is left to the batch receiver below (its
    stock is released, not consumed).
    """
    if transition == SHIPPED_ON_PLATFORM:
        return
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
        # ``enqueue`` never raises on a dead broker; the reservation sweep covers a lost task.
        logger.exception("stock update for order %s after %s failed; queued", order_id,
                         transition)
        enqueue(job.name, order_id)


def on_orders_status_changed(sender, *, changes, **kwargs):
    """Orders that left the pick queue come off their active pick lists.

    Review, out of stock and cancelled (a plain cancel, an intercept, or
    automation re-deciding after an edit) leave the queue, and so does an
    order the platform shipped itself (its stock released too); an order that comes
    back to ``ready_to_pick`` may have been routed to another warehouse than
    its list's. The service checks the orders' current rows: a batch with
    nothing to do costs two indexed queries (stale slots, open tasks of
    cancelled orders); a batch with no such moves costs none.
    """
    shipped = list(dict.fromkeys(c.order_id for c in changes
                                 if c.transition == SHIPPED_ON_PLATFORM))
    if shipped:
        _leave_warehouse(shipped)
    watched = (*OFF_QUEUE, OrderStatus.READY_TO_PICK)
    ids = list(dict.fromkeys(c.order_id for c in changes if c.to_status in watched))
    if not ids:
        return
    try:
        tasks.drop_stale_pick_list_orders.run(ids)
    except Exception:
        # The orders already moved; a picker would be refused at claim time meanwhile.
        logger.exception("taking %s orders off pick lists failed; queued", len(ids))
        enqueue(tasks.drop_stale_pick_list_orders.name, ids)


def _leave_warehouse(order_ids: list[int]) -> None:
    """Orders the platform shipped give back their stock, pick list places and tasks."""
    try:
        tasks.leave_warehouse_shipped_on_platform.run(order_ids)
    except Exception:
        # The orders are shipped already; the task retries and the reservation
        # sweep catches any order still holding stock.
        logger.exception("taking %s platform-shipped orders out of the warehouse failed; "
                         "queued", len(order_ids))
        enqueue(tasks.leave_warehouse_shipped_on_platform.name, order_ids)


def on_stock_insufficient(sender, *, order_id, warehouse_id, shortages, **kwargs):
    """A short allocation asks another warehouse for the units (a transfer request).

    Sent after commit: a failure here is logged and never fails the allocation;
    the out-of-stock sweep allocates the order again later, which sends this
    signal again (the service adds nothing for an order already waiting).
    """
    from warehouse.services.transfers import transfer_for_shortage

    try:
        transfer_for_shortage(order_id=order_id, warehouse_id=warehouse_id,
                              shortages=shortages)
    except Exception:
        logger.exception("transfer request for order %s failed", order_id)
