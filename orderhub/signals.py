"""Signals other apps listen to instead of reaching into the order core."""

from django.dispatch import Signal

# Sent after the transaction that moved an order commits.
# kwargs: order_id, transition, from_status, to_status, actor
order_status_changed = Signal()

# Sent after the transaction that edited an order's details or lines commits.
# kwargs: order_id, fields (list of changed field names; "lines" when lines changed),
# actor (label), status (the order's status at the edit)
order_edited = Signal()
