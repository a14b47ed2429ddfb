"""Shipping booking: the waybill outbox (queue, book, complete, retry, type in, cancel).

Part of the shipping services (``fulfillment.shipping.services`` re-exports the
public names).

Booking is two steps so a booked tracking number is never lost:
1. ``waybill_book`` (waybill row locked): one call to the carrier, one attempt
   row; the tracking number is committed as soon as the carrier answers.
2. ``waybill_complete`` (order row locked): render the label, then move the
   order to ``shipped`` with carrier and tracking number set in the same version
   (``order_transition(set_fields=...)``). Safe to run again; the sweeper re-runs
   it for booked waybills whose order is still ``picked``.

Tasks are enqueued by name (``fulfillment.queue.enqueue``): the tasks module
imports these services, not the other way round.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import has_transition_perm

from channels.recipient import NeedsPlatformDecryption, real_recipient
from fulfillment import signals as fulfillment_signals
from fulfillment.queue import enqueue
from fulfillment.shipping.carriers import (
    CarrierError,
    CarrierRefused,
    CarrierTimeout,
    Parcel,
    Party,
    get_adapter,
)
from fulfillment.shipping.labels import label_store
from fulfillment.shipping.models import CarrierAccount, Waybill, WaybillAttempt
from fulfillment.shipping.selectors import ACTOR, S, W, account_for_order, carrier_company_for
from fulfillment.shipping.tracking import subscribe_tracking
from orderhub.models import Order
from orderhub.services.events import order_event_record
from orderhub.services.orders import (
    Actor,
    OrderServiceError,
    actor_info,
    order_transition,
)
from warehouse.models import SKU

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
CANCEL_MAX_ATTEMPTS = 6
MAX_BACKOFF_SECONDS = 3600
# An order on hold is not booked; look again this much later (costs no attempt).
HOLD_RECHECK = dt.timedelta(minutes=10)
OPEN_STATUSES = (W.PENDING, W.MANUAL, W.BOOKED)
TRACKING_NUMBER_RE = re.compile(r"^[A-Za-z0-9-]{6,40}$")
BOOK_TASK = "fulfillment.shipping.tasks.book_waybill"
CANCEL_TASK = "fulfillment.shipping.tasks.cancel_waybill"


class ShippingError(OrderServiceError):
    """A shipping action a person asked for cannot be done; the message says why."""


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min... capped at an hour."""
    return dt.timedelta(seconds=min(MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, attempts - 1)))


# --- creating (inside the finish transition) ------------------------------------------

def waybill_create(*, order: Order) -> Waybill | None:
    """Queue booking a waybill for an order that is becoming ``picked``.

    Call inside the transaction of the ``finish`` transition, so the outbox row
    commits (or rolls back) with it. Nothing is queued when the order already
    has a tracking number (typed in or imported) or an open waybill.
    """
    if order.tracking_number:
        return None
    if Waybill.objects.filter(order_id=order.pk, status__in=OPEN_STATUSES).exists():
        return None
    account, service = account_for_order(order)
    manual = account is not None and account.kind == CarrierAccount.Kind.MANUAL
    waybill = Waybill.objects.create(order_id=order.pk, account=account, service=service,
                                     status=W.MANUAL if manual else W.PENDING)
    if not manual:
        _enqueue_booking(waybill.pk)
    return waybill


def _enqueue_booking(waybill_id: int) -> None:
    transaction.on_commit(lambda: enqueue(BOOK_TASK, waybill_id))


# --- booking ---------------------------------------------------------------------------

def parcel_for(waybill: Waybill) -> Parcel:
    """What the carrier needs. Raises ``NeedsPlatformDecryption`` for encrypted recipients."""
    order, account = waybill.order, waybill.account
    recipient = real_recipient(order)
    lines = list(order.lines.all())
    weight_g = 0
    try:
        weights = dict(SKU.objects.filter(code__in={ln.sku_code for ln in lines})
                       .values_list("code", "weight_g"))
        weight_g = sum((weights.get(ln.sku_code) or 0) * ln.quantity for ln in lines)
    except Exception:  # noqa: BLE001 - weight is a hint; the carrier weighs the parcel anyway
        logger.exception("could not sum SKU weights for %s", order.number)
    return Parcel(
        reference=f"{order.number}-{waybill.pk}",
        sender=Party(name=account.sender_name, phone=account.sender_phone,
                     province=account.sender_province, city=account.sender_city,
                     district=account.sender_district, street=account.sender_address,
                     company=account.sender_company),
        recipient=Party(name=recipient.name, phone=recipient.phone,
                        province=recipient.province, city=recipient.city,
                        district=recipient.district, street=recipient.street,
                        country=recipient.country or "CN"),
        items=[(ln.name, ln.quantity) for ln in lines],
        weight_kg=max(0.1, round(weight_g / 1000, 2)) if weight_g else 1.0,
        service=waybill.service, monthly_account=account.monthly_account,
        remark=order.number,
    )


def waybill_book(*, waybill_id: int, adapter=None) -> str:
    """One booking attempt. Returns "booked", "retry", "failed", "wait" or the final status.

    The waybill row stays locked during the carrier call, so two deliveries of
    the task can never both book.
    """
    failure: tuple[str, bool] | None = None
    with transaction.atomic():
        waybill = (Waybill.objects.select_for_update(of=("self",))
                   .select_related("order", "account").get(pk=waybill_id))
        if waybill.status != W.PENDING:
            return waybill.status
        order = waybill.order
        if order.status in (S.CANCELLED, S.SHIPPED, S.DELIVERED, S.COMPLETED):
            waybill.status = W.SKIPPED
            waybill.last_error = _("Not booked: the order is %(status)s.") % {
                "status": order.get_status_display()}
            waybill.save(update_fields=["status", "last_error"])
            return waybill.status
        if order.status != S.PICKED:
            waybill.next_attempt_at = timezone.now() + HOLD_RECHECK
            waybill.last_error = _("Waiting: the order is %(status)s.") % {
                "status": order.get_status_display()}
            waybill.save(update_fields=["next_attempt_at", "last_error"])
            return "wait"
        if waybill.account is None:
            waybill.account, waybill.service = account_for_order(order)
            waybill.save(update_fields=["account", "service"])
        waybill.attempts += 1
        attempt = WaybillAttempt(waybill=waybill, action=WaybillAttempt.Action.BOOK)
        try:
            if waybill.account is None:
                raise CarrierRefused(_("No carrier account: add an enabled default carrier "
                                       "account in the admin, then retry."))
            if waybill.account.kind == CarrierAccount.Kind.MANUAL:
                waybill.status = W.MANUAL
                waybill.attempts -= 1
                waybill.save(update_fields=["status", "attempts"])
                return waybill.status
            parcel = parcel_for(waybill)
            adapter = adapter or get_adapter(waybill.account)
            booking = adapter.book(parcel)
        except NeedsPlatformDecryption as exc:
            failure = _record_failure(waybill, attempt, str(exc), None, retryable=False)
        except CarrierTimeout as exc:
            failure = _record_failure(
                waybill, attempt, _("The carrier did not answer in time (%(detail)s).")
                % {"detail": exc.message}, exc.status_code, retryable=True)
        except CarrierError as exc:
            failure = _record_failure(waybill, attempt, exc.message, exc.status_code,
                                      retryable=exc.retryable)
        else:
            attempt.ok = True
            attempt.status_code = booking.status_code
            attempt.save()
            waybill.status = W.BOOKED
            waybill.tracking_number = booking.tracking_number
            waybill.carrier_order_id = booking.carrier_order_id or parcel.reference
            waybill.label_data = booking.label_data
            waybill.booked_at = timezone.now()
            waybill.last_error = ""
            waybill.save(update_fields=["status", "tracking_number", "carrier_order_id",
                                        "label_data", "booked_at", "last_error", "attempts"])
            order_event_record(
                order=order, kind="waybill_booked", actor=ACTOR,
                message=_("Waybill %(number)s booked with %(carrier)s.") % {
                    "number": booking.tracking_number, "carrier": waybill.account.name},
                data={"waybill_id": waybill.pk})
        if failure is not None:
            error, permanent = failure
            order_id = order.pk
            transaction.on_commit(lambda: fulfillment_signals.waybill_failed.send(
                sender=Waybill, order_id=order_id, waybill_id=waybill_id, error=error,
                permanent=permanent))
            return "failed" if permanent else "retry"
    waybill_complete(waybill_id=waybill_id)
    return "booked"


def _record_failure(waybill: Waybill, attempt: WaybillAttempt, error: str,
                    status_code: int | None, *, retryable: bool) -> tuple[str, bool]:
    error = error[:2000]
    attempt.error = error
    attempt.status_code = status_code
    attempt.save()
    waybill.last_error = error
    if retryable and waybill.attempts < MAX_ATTEMPTS:
        waybill.next_attempt_at = timezone.now() + backoff(waybill.attempts)
        waybill.save(update_fields=["attempts", "last_error", "next_attempt_at"])
        return error, False
    waybill.status = W.FAILED
    waybill.save(update_fields=["attempts", "last_error", "status"])
    order_event_record(
        order=waybill.order_id, kind="waybill_failed", actor=ACTOR,
        message=_("The waybill could not be booked: %(error)s") % {"error": error[:300]},
        data={"waybill_id": waybill.pk})
    return error, True


def _shipped_fields(account: CarrierAccount, tracking_number: str) -> dict:
    """What shipping puts on the order with the ship transition."""
    return {"carrier": account.code, "carrier_company": carrier_company_for(account),
            "tracking_number": tracking_number}


def waybill_complete(*, waybill_id: int) -> str:
    """After booking: store the label, then ship the order. Safe to call again."""
    waybill = Waybill.objects.select_related("order", "account").get(pk=waybill_id)
    if waybill.status != W.BOOKED or waybill.order.status != S.PICKED:
        return "nothing"
    if not waybill.label:
        try:
            label_store(waybill=waybill)
        except NeedsPlatformDecryption as exc:
            Waybill.objects.filter(pk=waybill_id).update(last_error=str(exc))
            return "label_failed"
        except Exception as exc:  # noqa: BLE001 - recorded on the waybill; the sweeper retries
            logger.exception("label rendering failed for waybill %s", waybill_id)
            Waybill.objects.filter(pk=waybill_id).update(
                last_error=_("Booked, but the label could not be rendered: %(error)s")
                % {"error": str(exc)[:300]})
            return "label_failed"
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=waybill.order_id)
        if order.status != S.PICKED:
            return "nothing"
        # Carrier and tracking number go in the ship transition's own version.
        order_transition(order=order.pk, name="ship", actor=ACTOR,
                         reason=_("Waybill %(number)s booked") % {
                             "number": waybill.tracking_number},
                         set_fields=_shipped_fields(waybill.account, waybill.tracking_number))
    subscribe_tracking(waybill)
    return "shipped"


def waybill_retry(*, waybill: Waybill, actor: Actor) -> Waybill:
    """A person asks to book a failed waybill again (after fixing the cause)."""
    who = actor_info(actor)
    if who.user is not None and not who.user.has_perm("shipping.retry_waybill"):
        raise ShippingError(_("You are not allowed to do that."))
    with transaction.atomic():
        waybill = Waybill.objects.select_for_update().get(pk=waybill.pk)
        if waybill.status != W.FAILED:
            raise ShippingError(_("Only a failed waybill can be retried."))
        waybill.status = W.PENDING
        waybill.attempts = 0
        waybill.next_attempt_at = timezone.now()
        waybill.save(update_fields=["status", "attempts", "next_attempt_at"])
        order_event_record(order=waybill.order_id, kind="waybill_retry", actor=actor,
                           message=_("Waybill booking retried."))
        _enqueue_booking(waybill.pk)
    return waybill


def waybill_enter_tracking(*, order: Order | int, tracking_number: str, actor: Actor) -> Order:
    """A person booked the parcel by hand (manual carrier) and types the tracking number."""
    who = actor_info(actor)
    tracking_number = (tracking_number or "").strip().upper()
    if not TRACKING_NUMBER_RE.match(tracking_number):
        raise ShippingError(_("A tracking number is 6 to 40 letters, digits or dashes."))
    order_id = order.pk if isinstance(order, Order) else order
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status != S.PICKED:
            raise ShippingError(_("This order is %(status)s; only a picked order can be "
                                  "shipped.") % {"status": order.get_status_display()})
        waybill = (Waybill.objects.select_for_update(of=("self",))
                   .filter(order=order, status=W.MANUAL)
                   .select_related("account").first())
        if waybill is None:
            raise ShippingError(_("This order's carrier is not a manual one."))
        waybill.tracking_number = tracking_number
        waybill.status = W.BOOKED
        waybill.booked_at = timezone.now()
        waybill.last_error = ""
        waybill.save(update_fields=["tracking_number", "status", "booked_at", "last_error"])
        # Carrier and tracking number are set in the ship transition's own version,
        # by the person who typed them (the transition checks their right to ship).
        if who.user is not None and not has_transition_perm(order.ship, who.user):
            raise ShippingError(_("You are not allowed to do that."))
        order = order_transition(
            order=order.pk, name="ship", actor=actor,
            reason=_("Tracking number %(number)s typed in") % {"number": tracking_number},
            set_fields=_shipped_fields(waybill.account, tracking_number))
        order_event_record(order=order, kind="waybill_booked", actor=actor,
                           data={"waybill_id": waybill.pk},
                           message=_("Tracking number %(number)s typed in.") % {
                               "number": tracking_number})
    return order


# --- cancelling (intercept) --------------------------------------------------------------

def waybill_cancel_request(*, order_id: int) -> list[int]:
    """The order was intercepted: stop its waybills. Returns the ids to cancel with carriers."""
    to_cancel = []
    with transaction.atomic():
        waybills = Waybill.objects.select_for_update(of=("self",)).filter(
            order_id=order_id, status__in=OPEN_STATUSES).select_related("account")
        for waybill in waybills:
            booked_by_api = (waybill.status == W.BOOKED and waybill.account is not None
                             and waybill.account.kind != CarrierAccount.Kind.MANUAL)
            if booked_by_api:
                waybill.status = W.CANCEL_PENDING
                waybill.next_attempt_at = timezone.now()
                to_cancel.append(waybill.pk)
            else:
                # Never booked (or booked by hand): nothing to tell a carrier's API.
                waybill.status = W.CANCELLED
                waybill.cancelled_at = timezone.now()
            waybill.save(update_fields=["status", "next_attempt_at", "cancelled_at"])
        for waybill_id in to_cancel:
            transaction.on_commit(lambda waybill_id=waybill_id: enqueue(CANCEL_TASK, waybill_id))
    return to_cancel


def waybill_cancel(*, waybill_id: int, adapter=None) -> str:
    """One attempt at cancelling a waybill with the carrier."""
    with transaction.atomic():
        waybill = (Waybill.objects.select_for_update(of=("self",))
                   .select_related("order", "account").get(pk=waybill_id))
        if waybill.status != W.CANCEL_PENDING:
            return waybill.status
        tries = waybill.attempt_rows.filter(action=WaybillAttempt.Action.CANCEL).count() + 1
        attempt = WaybillAttempt(waybill=waybill, action=WaybillAttempt.Action.CANCEL)
        try:
            adapter = adapter or get_adapter(waybill.account)
            adapter.cancel(tracking_number=waybill.tracking_number,
                           reference=waybill.carrier_order_id)
        except CarrierError as exc:
            attempt.error, attempt.status_code = exc.message[:2000], exc.status_code
            attempt.save()
            waybill.last_error = _("Cancelling failed: %(error)s") % {"error": exc.message[:500]}
            if exc.retryable and tries < CANCEL_MAX_ATTEMPTS:
                waybill.next_attempt_at = timezone.now() + backoff(tries)
                waybill.save(update_fields=["last_error", "next_attempt_at"])
                return "retry"
            waybill.status = W.CANCEL_FAILED
            waybill.save(update_fields=["last_error", "status"])
            order_event_record(
                order=waybill.order_id, kind="waybill_cancel_failed", actor=ACTOR,
                message=_("The waybill %(number)s could not be cancelled with the carrier: "
                          "%(error)s. Stop the parcel by phone.") % {
                    "number": waybill.tracking_number, "error": exc.message[:300]})
            return "failed"
        attempt.ok = True
        attempt.save()
        waybill.status = W.CANCELLED
        waybill.cancelled_at = timezone.now()
        waybill.last_error = ""
        waybill.save(update_fields=["status", "cancelled_at", "last_error"])
        order_event_record(order=waybill.order_id, kind="waybill_cancelled",
                           actor=ACTOR, data={"waybill_id": waybill.pk},
                           message=_("Waybill %(number)s cancelled with the carrier.")
                           % {"number": waybill.tracking_number})
        return "cancelled"

