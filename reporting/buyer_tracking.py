"""When an order's buyer first held valid tracking info: the stamp behind the SLA
"placed → first valid tracking info sent to the buyer" (``reporting.selectors.sla``).

Definitions (README, "The dashboard's two SLAs"):

- *Sent to the buyer*: a buyer message carrying the tracking number (the shipped SMS or
  e-mail, a delay notice) whose outbox row turned ``sent`` (the gateway took it), or the
  platform write-back carrying it that succeeded (``ShipmentPush`` ``sent``: the buyer
  sees it in the platform's app). Recorded per (order, tracking number), first send wins
  (``BuyerTrackingSent``). Queued, failed or retrying rows tell the buyer nothing.
- *Valid*: the number is that of a valid waybill of the order (not cancelled or skipped,
  ``Waybill.objects.valid()``) that has a carrier event (``first_event_at``).
- *The moment*: the later of the send and that waybill's first carrier event, the earliest
  over the order's numbers: the first moment the buyer held a number they could track.
  Stored once per order (``BuyerTrackingInfo``, the first one wins: a later send, scan or
  cancelled booking never moves it), indexed for the dashboard's live days.

Each input arriving in any order stamps it: a send recorded while the number has no scan
yet waits for the scan (the waybill receiver), a scan before the send waits for the send.
The receivers run inside the transaction that saved the outbox row or waybill, in a
savepoint: a failure here is logged and never undoes the send or the scan. A stamp on a
closed day sends that day back to live until the rollup rebuilds it (after commit).
"""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django.utils import timezone

from fulfillment.shipping.models import Waybill, WaybillQuerySet
from orderhub.models import Order
from reporting.models import BuyerTrackingInfo, BuyerTrackingSent
from reporting.rollup import rollup_days_mark_changed

logger = logging.getLogger(__name__)

Via = BuyerTrackingSent.Via


def buyer_tracking_stamp(*, order_id: int) -> BuyerTrackingInfo | None:
    """Stamp the order's first valid tracking info sent to the buyer, when it has one and
    none is stored yet; returns the new stamp (None: nothing new). Idempotent."""
    if BuyerTrackingInfo.objects.filter(pk=order_id).exists():
        return None  # the first one wins
    sends = {number: (sent_at, via) for number, sent_at, via in
             BuyerTrackingSent.objects.filter(order_id=order_id)
             .values_list("tracking_number", "sent_at", "via")}
    if not sends:
        return None
    candidates = []
    for number, first_event in (Waybill.objects.valid()
                                .filter(order_id=order_id, first_event_at__isnull=False,
                                        tracking_number__in=list(sends))
                                .values_list("tracking_number", "first_event_at")):
        sent_at, via = sends[number]
        candidates.append((max(sent_at, first_event), number, via))
    if not candidates:
        return None
    at, number, via = min(candidates)
    info, created = BuyerTrackingInfo.objects.get_or_create(
        order_id=order_id, defaults={"at": at, "tracking_number": number, "via": via})
    if not created:
        return None
    day = timezone.localdate(at)
    if day < timezone.localdate():
        transaction.on_commit(lambda: rollup_days_mark_changed(days={day}))
    return info


def tracking_sent_record(*, order_id: int, tracking_number: str, sent_at, via: str) -> bool:
    """Record that ``tracking_number`` reached the buyer of ``order_id`` at ``sent_at`` (the
    first send of a number wins), then stamp the order if that made its tracking info
    valid. Returns whether this send was the number's first."""
    tracking_number = (tracking_number or "").strip()
    if not tracking_number or sent_at is None:
        return False
    _row, created = BuyerTrackingSent.objects.get_or_create(
        order_id=order_id, tracking_number=tracking_number,
        defaults={"sent_at": sent_at, "via": via})
    if created:
        buyer_tracking_stamp(order_id=order_id)
    return created


def _guarded(func):
    """Run a receiver in a savepoint; log and swallow failures (the send happened)."""
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a stamp must never undo the send or the scan
            logger.exception("buyer tracking receiver %s failed", func.__name__)
    wrapper.__name__ = func.__name__
    return wrapper


def _message_numbers(message) -> list[str]:
    """The order's tracking numbers (its waybills' and its own) the message carried."""
    numbers = set(Waybill.objects.filter(order_id=message.order_id).exclude(tracking_number="")
                  .values_list("tracking_number", flat=True))
    own = Order.objects.filter(pk=message.order_id).values_list("tracking_number",
                                                                 flat=True).first()
    if own:
        numbers.add(own)
    text = " ".join([message.body or "", message.subject or "",
                     json.dumps(message.template_params or {}, ensure_ascii=False)])
    return sorted(n for n in numbers if n in text)


def on_message_saved(sender, instance, created=False, update_fields=None, **kwargs):
    """Receiver (notifications ``Message``): a buyer message carrying a tracking number was
    sent."""
    if update_fields is not None and "status" not in update_fields:
        return
    if (instance.status != "sent" or instance.kind != "sms" or not instance.order_id):
        return
    _record_message(instance)


@_guarded
def _record_message(message):
    for number in _message_numbers(message):
        tracking_sent_record(order_id=message.order_id, tracking_number=number,
                             sent_at=message.sent_at or timezone.now(), via=Via.MESSAGE)


def on_shipment_push_saved(sender, instance, created=False, update_fields=None, **kwargs):
    """Receiver (channels ``ShipmentPush``): the platform took the tracking number."""
    if update_fields is not None and "status" not in update_fields:
        return
    if instance.status != "sent":
        return
    _record_push(instance)


@_guarded
def _record_push(push):
    number = push.tracking_number or Order.objects.filter(pk=push.order_id).values_list(
        "tracking_number", flat=True).first()
    tracking_sent_record(order_id=push.order_id, tracking_number=number,
                         sent_at=push.sent_at or timezone.now(), via=Via.PLATFORM)


# What makes a waybill's number valid tracking info.
WAYBILL_FIELDS = {"order", "status", "first_event_at", "tracking_number"}


def on_waybill_saved(sender, instance, created=False, update_fields=None, **kwargs):
    """Receiver (shipping ``Waybill``): a number already sent may have become valid."""
    if update_fields is not None and not WAYBILL_FIELDS & set(update_fields):
        return
    if (instance.first_event_at is None or not instance.tracking_number
            or instance.status in WaybillQuerySet.INVALID_STATUSES):
        return
    _stamp_waybill(instance)


@_guarded
def _stamp_waybill(waybill):
    buyer_tracking_stamp(order_id=waybill.order_id)
