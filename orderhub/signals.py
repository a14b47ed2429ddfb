"""Signals other apps listen to instead of reaching into the order core."""

import logging
from typing import NamedTuple

from django.dispatch import Signal

from orderhub.models import Order

logger = logging.getLogger(__name__)


class StatusChange(NamedTuple):
    order_id: int
    transition: str
    from_status: str
    to_status: str


# Sent after the transaction that moved an order commits.
# kwargs: order_id, transition, from_status, to_status, actor
order_status_changed = Signal()

# The same news for many orders at once, sent once per committed batch before the
# per-order ``order_status_changed`` signals (a single transition sends a batch of
# one). A receiver that does per-order work in queries listens here instead, so a
# bulk import of 500 orders costs it one query, not 500.
# kwargs: changes (list of StatusChange), actor
orders_status_changed = Signal()

# Sent after the transaction that edited an order's details or lines commits.
# kwargs: order_id, fields (list of changed field names; "lines" when lines changed),
# actor (label), status (the order's status at the edit)
order_edited = Signal()

# Sent after the transaction that created orders commits: one order entered by hand,
# or a bulk create's whole batch (before that batch's ``orders_status_changed``).
# kwargs: order_ids (list of int), actor (label)
orders_created = Signal()


def announce_status_changes(changes: list[StatusChange], actor: str) -> None:
    """Send the batch signal, then one ``order_status_changed`` per change.

    Call it after commit. A failing receiver is logged and does not keep the
    other receivers, or the other orders, from hearing the news: the orders
    have changed already.
    """
    if not changes:
        return
    for receiver, error in orders_status_changed.send_robust(
            sender=Order, changes=changes, actor=actor):
        if error is not None:
            logger.error("orders_status_changed receiver %r failed", receiver,
                         exc_info=(type(error), error, error.__traceback__))
    for change in changes:
        for receiver, error in order_status_changed.send_robust(
                sender=Order, actor=actor, **change._asdict()):
            if error is not None:
                logger.error("order_status_changed receiver %r failed for order %s (%s)",
                             receiver, change.order_id, change.transition,
                             exc_info=(type(error), error, error.__traceback__))


def announce_orders_created(order_ids: list[int], actor: str) -> None:
    """Send ``orders_created`` for orders whose creating transaction committed.

    A failing receiver is logged and does not keep the others from hearing it.
    """
    if not order_ids:
        return
    for receiver, error in orders_created.send_robust(sender=Order, order_ids=list(order_ids),
                                                      actor=actor):
        if error is not None:
            logger.error("orders_created receiver %r failed", receiver,
                         exc_info=(type(error), error, error.__traceback__))
