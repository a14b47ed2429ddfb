"""How fulfillment reacts to order changes (signals sent after commit)."""

from __future__ import annotations

import logging

from fulfillment.queue import enqueue
from fulfillment.services import credit as credit_service
from fulfillment.services.automation import REPROCESS_ON_EDIT, order_reprocess_after_edit
from orderhub.models import OrderStatus

CREDIT_ACTOR = "system:credit-release"

logger = logging.getLogger(__name__)

# Edits that change what automation decides on. Warehouse, carrier, priority
# and tracking edits are people overriding a decision: re-running would undo them.
RELEVANT_FIELDS = {
    "ship_country", "ship_province", "ship_city", "ship_district", "ship_street",
    "ship_postcode", "ship_phone", "buyer_phone", "buyer_message", "kind", "lines",
}
# REPROCESS_ON_EDIT (imported above) is the automation service's rule, kept importable here.
__all__ = ["REPROCESS_ON_EDIT", "RELEVANT_FIELDS", "TASK_CHUNK", "on_order_edited",
           "on_orders_status_changed"]


# Orders per automation task: one broker round-trip for a bulk import's batch,
# and a task a worker finishes in well under a second.
TASK_CHUNK = 500


def on_orders_status_changed(sender, *, changes, **kwargs):
    """Orders entering ``paid`` (pay, approve, reprocess) queue one automation task per chunk.

    Listens to the batch signal: a bulk import of 500 paid orders costs one
    ``automate_orders`` task, not 500. Only an order whose last change in the
    batch leaves it ``paid`` counts: one paid and then shipped by the platform
    (an import of a store's history) or put on hold in the same batch is not
    automation's to decide. The task checks the status again when it runs.
    Orders whose last change cancels them give back their open credit.
    """
    last: dict[int, str] = {}
    for change in changes:
        last[change.order_id] = change.to_status
    cancelled = [order_id for order_id, status in last.items()
                 if status == OrderStatus.CANCELLED]
    if cancelled:
        _release_credit(cancelled, kwargs.get("actor") or "")
    ids = [order_id for order_id, status in last.items() if status == OrderStatus.PAID]
    if not ids:
        return
    for start in range(0, len(ids), TASK_CHUNK):
        # Never raises on a dead broker (it logs): the orders stay paid and the
        # straggler sweep queues them again within a minute.
        enqueue("fulfillment.tasks.automate_orders", ids[start:start + TASK_CHUNK])


def _release_credit(order_ids: list[int], actor: str) -> None:
    """Cancelled orders give back what is still open on their customer's credit.

    One query when none of them was accepted on credit (a B2C batch).
    """
    try:
        credit_service.credit_release_orders(order_ids=order_ids, actor=CREDIT_ACTOR,
                                             cancelled_by=actor)
    except Exception:
        # The orders are cancelled already and must stay so: the balance stays
        # too high (orders are held, never let through wrongly) until the
        # ``release_cancelled_credit`` sweep gives it back within minutes.
        logger.exception("giving back credit for %s cancelled orders failed (first %s)",
                         len(order_ids), order_ids[0])


def on_order_edited(sender, *, order_id, fields, actor, status, **kwargs):
    """An edit before picking re-runs automation (not automation's own edits)."""
    if status not in REPROCESS_ON_EDIT or str(actor).startswith("system:automation"):
        return
    if not RELEVANT_FIELDS.intersection(fields or ()):
        return
    try:
        order_reprocess_after_edit(order_id=order_id)
    except Exception:
        # The edit is saved and must not fail because of this: the worker retries.
        logger.exception("re-processing order %s after an edit failed; queued", order_id)
        enqueue("fulfillment.tasks.reprocess_order", order_id)
