"""How fulfillment reacts to order changes (signals sent after commit)."""

from __future__ import annotations

import logging

from orderhub.models import OrderStatus

logger = logging.getLogger(__name__)

# Edits that change what automation decides on. Warehouse, carrier, priority
# and tracking edits are people overriding a decision: re-running would undo them.
RELEVANT_FIELDS = {
    "ship_country", "ship_province", "ship_city", "ship_district", "ship_street",
    "ship_postcode", "ship_phone", "buyer_phone", "buyer_message", "kind", "lines",
}
REPROCESS_ON_EDIT = (OrderStatus.PAID, OrderStatus.READY_TO_PICK, OrderStatus.OUT_OF_STOCK)


def on_order_status_changed(sender, *, order_id, to_status, **kwargs):
    """Entering ``paid`` (pay, approve, reprocess) queues the automation task."""
    if to_status != OrderStatus.PAID:
        return
    from fulfillment.tasks import automate_order

    try:
        automate_order.delay(order_id)
    except Exception:
        # The broker is down: the order stays paid and the straggler sweep
        # enqueues it again within minutes.
        logger.exception("could not queue automation for order %s", order_id)


def on_order_edited(sender, *, order_id, fields, actor, status, **kwargs):
    """An edit before picking re-runs automation (not automation's own edits)."""
    if status not in REPROCESS_ON_EDIT or str(actor).startswith("system:automation"):
        return
    if not RELEVANT_FIELDS.intersection(fields or ()):
        return
    from fulfillment.tasks import reprocess_order

    try:
        reprocess_order.run(order_id)
    except Exception:
        # The edit is saved and must not fail because of this: the worker retries.
        logger.exception("re-processing order %s after an edit failed; queued", order_id)
        try:
            reprocess_order.delay(order_id)
        except Exception:
            logger.exception("could not queue re-processing for order %s", order_id)
