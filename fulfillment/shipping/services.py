"""Shipping services, by responsibility, re-exported here under their old names.

The rules live in four modules; views, tasks, receivers, commands, other apps and
tests keep importing them from ``fulfillment.shipping.services``:

- ``fulfillment.shipping.booking``: the waybill outbox (queue, book, complete,
  retry, type a tracking number in, cancel).
- ``fulfillment.shipping.labels``: the label PDF and storing it.
- ``fulfillment.shipping.tracking``: push subscriptions and callbacks, polling,
  recording scans, delivering and completing orders, flagging stalled parcels.
- ``fulfillment.shipping.selectors``: reads (which account, work lists, the
  buyer's public lookup).

Patch a name where it is used (e.g. ``booking.real_recipient``), not here.
"""

from fulfillment.shipping.booking import (
    CANCEL_MAX_ATTEMPTS,
    HOLD_RECHECK,
    MAX_ATTEMPTS,
    MAX_BACKOFF_SECONDS,
    OPEN_STATUSES,
    TRACKING_NUMBER_RE,
    ShippingError,
    backoff,
    parcel_for,
    waybill_book,
    waybill_cancel,
    waybill_cancel_request,
    waybill_complete,
    waybill_create,
    waybill_enter_tracking,
    waybill_retry,
)
from fulfillment.shipping.carriers import get_adapter
from fulfillment.shipping.labels import label_pdf, label_store
from fulfillment.shipping.selectors import (
    ACTOR,
    KUAIDI100_COMPANIES,
    account_for_order,
    carrier_company_for,
    public_lookup,
    waybills_due,
    waybills_to_poll,
    with_service_names,
)
from fulfillment.shipping.tracking import (
    CallbackRefused,
    callback_salt,
    callback_url,
    complete_after_days,
    complete_delivered,
    flag_stalled,
    site_url,
    stall_hours,
    subscribe_tracking,
    tracking_callback,
    tracking_poll,
    tracking_record,
)

__all__ = [
    "ACTOR", "CANCEL_MAX_ATTEMPTS", "HOLD_RECHECK", "KUAIDI100_COMPANIES", "MAX_ATTEMPTS",
    "MAX_BACKOFF_SECONDS", "OPEN_STATUSES", "TRACKING_NUMBER_RE", "CallbackRefused",
    "ShippingError", "account_for_order", "backoff", "callback_salt", "callback_url",
    "carrier_company_for", "complete_after_days", "complete_delivered", "flag_stalled",
    "get_adapter", "label_pdf", "label_store", "parcel_for", "public_lookup", "site_url",
    "stall_hours", "subscribe_tracking", "tracking_callback", "tracking_poll",
    "tracking_record", "waybill_book", "waybill_cancel", "waybill_cancel_request",
    "waybill_complete", "waybill_create", "waybill_enter_tracking", "waybill_retry",
    "waybills_due", "waybills_to_poll", "with_service_names",
]
