"""Signals the warehouse sends; notifications (fulfillment) listen to them.

All are sent after the transaction that caused them commits.
"""

from django.dispatch import Signal

# A SKU's available stock (on hand − reserved − safety) dropped to zero or below,
# i.e. to its safety level. kwargs: warehouse_id, sku_id, sku_code, available, safety
stock_low = Signal()

# An order could not get its stock. kwargs: order_id, warehouse_id, shortages (list of
# dicts sku_code/requested/available), purchasing_contact (dict name/phone/email)
stock_insufficient = Signal()

# A picker reported a problem. kwargs: problem_id, order_id, warehouse_id, kind, note, actor
pick_problem_reported = Signal()

# A packer verified every item of an order at the packing bench.
# kwargs: check_id, order_id, warehouse_id, actor
pack_verified = Signal()

# The platform shipped an order the warehouse still held (reserved stock, a place on a
# pick list or an open pick task): all of it was undone, the lead should know.
# kwargs: order_id, warehouse_id, units_released, pick_lists (list of dicts
# voided/printed/printed_id), tasks_closed
order_shipped_on_platform = Signal()
