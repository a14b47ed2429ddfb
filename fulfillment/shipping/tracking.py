"""Shipping tracking: carrier push subscriptions and callbacks, polling, recording scans,
delivering and completing orders, and flagging stalled parcels.

Part of the shipping services (``fulfillment.shipping.services`` re-exports the
public names).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.recipient import NeedsPlatformDecryption, real_recipient
from fulfillment import signals as fulfillment_signals
from fulfillment.shipping.carriers import CarrierError, TrackEvent, get_adapter
from fulfillment.shipping.carriers.base import DELIVERED
from fulfillment.shipping.models import CarrierAccount, TrackingEvent, Waybill
from fulfillment.shipping.selectors import ACTOR, S, W
from orderhub.models import Order
from orderhub.services.orders import OrderServiceError, order_transition

logger = logging.getLogger(__name__)


def site_url() -> str:
    return (getattr(settings, "SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


def subscribe_tracking(waybill: Waybill) -> None:
    """Ask the carrier to push the parcel's scans (when it can); polling is the fallback."""
    adapter = get_adapter(waybill.account)
    if not adapter.supports_push:
        return
    try:
        adapter.subscribe(tracking_number=waybill.tracking_number,
                          callback_url=callback_url(waybill.account),
                          salt=callback_salt(waybill.account),
                          phone=_phone_or_blank(waybill.order))
    except CarrierError as exc:
        # Polling still finds the events; the push only makes them arrive sooner.
        logger.warning("tracking subscription failed for waybill %s: %s", waybill.pk,
                       exc.message)
        return
    finally:
        adapter.close()
    Waybill.objects.filter(pk=waybill.pk).update(subscribed_at=timezone.now())


def _phone_or_blank(order: Order) -> str:
    try:
        return real_recipient(order).phone
    except NeedsPlatformDecryption:
        return ""


# --- tracking ---------------------------------------------------------------------------------

def callback_salt(account: CarrierAccount) -> str:
    """The salt Kuaidi100 signs pushes with: the account's own, else one derived per account."""
    salt = ""
    try:
        salt = str(account.credentials.get("salt") or "")
    except Exception:  # noqa: BLE001 - unreadable credentials: fall back to the derived salt
        logger.warning("carrier account %s credentials unreadable", account.code)
    if salt:
        return salt
    return hmac.new(settings.SECRET_KEY.encode(), f"kuaidi100-salt:{account.code}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def callback_url(account: CarrierAccount) -> str:
    return site_url() + reverse("shipping:kuaidi100-callback", args=[account.code])


def _digest(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - a dedup key, not security


def tracking_record(*, waybill: Waybill, events: Iterable[TrackEvent]) -> int:
    """Store new events (replays are ignored) and move the waybill and order on.

    Returns how many events were new.
    """
    events = list(events)
    with transaction.atomic():
        waybill = Waybill.objects.select_for_update().get(pk=waybill.pk)
        known = set(waybill.events.values_list("occurred_at", "digest"))
        fresh = {}
        for ev in events:
            key = (ev.occurred_at, _digest(ev.description))
            if key not in known and key not in fresh:
                fresh[key] = TrackingEvent(
                    waybill=waybill, occurred_at=ev.occurred_at, place=ev.place[:120],
                    milestone=ev.milestone, description=ev.description, digest=key[1],
                    raw=ev.raw)
        # ignore_conflicts: a concurrent push of the same events must not fail either.
        TrackingEvent.objects.bulk_create(fresh.values(), ignore_conflicts=True)
        if not fresh:
            return 0
        new = sorted(fresh.values(), key=lambda e: e.occurred_at)
        newest = new[-1]
        fields = ["first_event_at", "last_event_at", "milestone", "stalled_at"]
        if waybill.first_event_at is None or new[0].occurred_at < waybill.first_event_at:
            waybill.first_event_at = new[0].occurred_at
        if waybill.last_event_at is None or newest.occurred_at >= waybill.last_event_at:
            waybill.last_event_at = newest.occurred_at
            waybill.milestone = newest.milestone
        waybill.stalled_at = None
        delivered = [e for e in new if e.milestone == DELIVERED]
        if delivered and waybill.delivered_at is None:
            waybill.delivered_at = delivered[0].occurred_at
            waybill.milestone = DELIVERED
            fields.append("delivered_at")
        waybill.save(update_fields=fields)
        if waybill.delivered_at and waybill.status == W.BOOKED:
            _deliver_order(waybill)
    return len(fresh)


def _deliver_order(waybill: Waybill) -> None:
    order = Order.objects.select_for_update().get(pk=waybill.order_id)
    if order.status != S.SHIPPED or order.tracking_number != waybill.tracking_number:
        return
    # The transition keeps an existing time: the carrier's, set in its own version.
    fields = {"delivered_at": waybill.delivered_at} if order.delivered_at is None else None
    order_transition(order=order.pk, name="deliver", actor=ACTOR, set_fields=fields,
                     reason=_("Carrier reports the parcel delivered"))


def tracking_poll(*, waybill_id: int, adapter=None) -> int:
    """Ask the carrier for a parcel's events; returns how many were new."""
    waybill = Waybill.objects.select_related("order", "account").get(pk=waybill_id)
    if not waybill.is_open or waybill.account.kind == CarrierAccount.Kind.MANUAL:
        return 0
    adapter = adapter or get_adapter(waybill.account)
    try:
        events = adapter.track(tracking_number=waybill.tracking_number,
                               phone=_phone_or_blank(waybill.order))
    finally:
        Waybill.objects.filter(pk=waybill_id).update(last_polled_at=timezone.now())
    return tracking_record(waybill=waybill, events=events)


class CallbackRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def tracking_callback(*, account_code: str, form: Mapping[str, str]) -> int:
    """A Kuaidi100 push. The signature is checked before anything in it is read.

    Returns the number of new events; raises ``CallbackRefused`` (403 for a bad
    signature, 404 for an unknown account) having stored nothing.
    """
    account = CarrierAccount.objects.filter(code=account_code, enabled=True,
                                            kind=CarrierAccount.Kind.KUAIDI100).first()
    if account is None:
        raise CallbackRefused(404, "unknown account")
    adapter = get_adapter(account)
    if not adapter.verify_callback(form=form, salt=callback_salt(account)):
        raise CallbackRefused(403, "bad signature")
    try:
        number, events = adapter.parse_callback(form=form)
    except CarrierError as exc:
        raise CallbackRefused(400, exc.message) from exc
    waybill = (Waybill.objects.filter(account=account, tracking_number=number)
               .exclude(status__in=[W.CANCELLED, W.SKIPPED]).order_by("-pk").first())
    if waybill is None:
        logger.info("kuaidi100 push for an unknown parcel on %s", account.code)
        return 0
    return tracking_record(waybill=waybill, events=events)


def stall_hours() -> float:
    return float(getattr(settings, "TRACKING_STALL_HOURS", 24))


def flag_stalled(now: dt.datetime | None = None) -> list[int]:
    """Flag open parcels with no new event for ``TRACKING_STALL_HOURS``; returns their ids."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=stall_hours())
    qs = (Waybill.objects.stalling(cutoff).select_for_update(of=("self",))
          .select_related("account").order_by("pk"))
    flagged = []
    with transaction.atomic():
        for waybill in qs[:500]:
            waybill.stalled_at = now
            waybill.save(update_fields=["stalled_at"])
            flagged.append(waybill.pk)
            kwargs = {"order_id": waybill.order_id, "waybill_id": waybill.pk,
                      "carrier": waybill.account.code, "tracking_number": waybill.tracking_number,
                      "last_event_at": waybill.last_event_at}
            transaction.on_commit(lambda kwargs=kwargs: fulfillment_signals.parcel_stalled.send(
                sender=Waybill, **kwargs))
    return flagged


def complete_after_days() -> int:
    return int(getattr(settings, "ORDER_COMPLETE_AFTER_DAYS", 7))


def complete_delivered(now: dt.datetime | None = None, *, limit: int = 500) -> int:
    """Complete orders delivered more than ``ORDER_COMPLETE_AFTER_DAYS`` ago."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=complete_after_days())
    ids = list(Order.objects.filter(status=S.DELIVERED, delivered_at__lt=cutoff)
               .order_by("delivered_at").values_list("pk", flat=True)[:limit])
    done = 0
    for order_id in ids:
        try:
            order_transition(order=order_id, name="complete", actor=ACTOR,
                             reason=_("No after-sales request within %(days)s days") % {
                                 "days": complete_after_days()},
                             expected_status=S.DELIVERED)
        except OrderServiceError:
            continue  # moved on meanwhile (after-sales); nothing to do
        done += 1
    return done

