"""Signals between the parts of fulfillment (and for reporting).

Every one is sent after the transaction that caused it commits
(``transaction.on_commit``), so a receiver never sees a rolled-back change.
Receivers must be cheap and must not raise: they enqueue outbox rows or tasks.
"""

from typing import NamedTuple

from django.dispatch import Signal


class UrgentOrder(NamedTuple):
    order_id: int
    priority: int
    warehouse_id: int | None

# Automation (or a person) sent the order to review.
# kwargs: order_id, reasons (list of str, translated at send time), actor
order_needs_review = Signal()

# The order became urgent (priority 4 h or ASN) and is waiting to be picked.
# kwargs: order_id, priority (int), warehouse_id (int | None)
# Automation announces its urgent orders with ``orders_urgent`` below, never with
# this one: a receiver of urgent news listens to both.
order_urgent = Signal()

# The same news for many orders at once: automation sends it once per committed
# batch instead of ``order_urgent`` per order, so a receiver that reads or
# writes per order can do it with a few queries for the whole batch.
# kwargs: orders (list of UrgentOrder)
orders_urgent = Signal()

# Booking a waybill failed. kwargs: order_id, waybill_id, error (str), permanent (bool)
waybill_failed = Signal()

# A parcel has had no new tracking event for too long.
# kwargs: order_id, waybill_id, carrier (str), tracking_number, last_event_at (datetime | None)
parcel_stalled = Signal()

# A change request was filed or moved on.
# kwargs: change_id, order_id, status (str), step (str | None), actor
change_request_updated = Signal()

# Reporting raised a sales spike alert (``reporting.spikes``), sent on commit once per
# new alert. Defined here so fulfillment listens without importing reporting.
# kwargs: alert (reporting.models.SpikeAlert), actor
spike_alert_raised = Signal()
