"""Signals other apps listen to instead of reaching into the order core."""

from django.dispatch import Signal

# Sent after the transaction that moved an order commits.
# kwargs: order_id, transition, from_status, to_status, actor
order_status_changed = Signal()
