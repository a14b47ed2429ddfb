"""Shipping services: booking waybills through the outbox, labels, cancelling, tracking.

Views, tasks, receivers and commands call these; they hold the rules.

Booking is two steps so a booked tracking number is never lost:
1. ``waybill_book`` (waybill row locked): one call to the carrier, one attempt
   row; the tracking number is committed as soon as the carrier answers.
2. ``waybill_complete`` (order row locked): render the label, put carrier and
   tracking number on the order and move it to ``shipped``. Safe to run again;
   the sweeper re-runs it for booked waybills whose order is still ``picked``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.recipient import NeedsPlatformDecryption, real_recipient
from fulfillment import signals as fulfillment_signals
from fulfillment.shipping.carriers import (
    CarrierError,
    CarrierRefused,
    CarrierTimeout,
    Parcel,
    Party,
    TrackEvent,
    get_adapter,
)
from fulfillment.shipping.carriers.base import DELIVERED
from fulfillment.shipping.models import (
    CarrierAccount,
    TrackingEvent,
    Waybill,
    WaybillAttempt,
)
from orderhub.models import Order, OrderEvent, OrderStatus
from orderhub.services.orders import (
    Actor,
    OrderServiceError,
    actor_info,
    order_transition,
)

logger = logging.getLogger(__name__)

S = OrderStatus
W = Waybill.Status
ACTOR = "system:shipping"
MAX_ATTEMPTS = 6
CANCEL_MAX_ATTEMPTS = 6
MAX_BACKOFF_SECONDS = 3600
# An order on hold is not booked; look again this much later (costs no attempt).
HOLD_RECHECK = dt.timedelta(minutes=10)
OPEN_STATUSES = (W.PENDING, W.MANUAL, W.BOOKED)
TRACKING_NUMBER_RE = re.compile(r"^[A-Za-z0-9-]{6,40}$")

# Kuaidi100 company codes (its documented ``com`` values) -> the hub's carrier
# company (``channels.connectors.base.CARRIER_COMPANIES``), which each sales
# platform's connector turns into that platform's own carrier name on write-back.
KUAIDI100_COMPANIES = {
    "shunfeng": "SF", "zhongtong": "ZTO", "yuantong": "YTO", "shentong": "STO",
    "yunda": "YUNDA", "jd": "JD", "ems": "EMS", "jtexpress": "JTSD",
    "debangwuliu": "DEPPON", "debangkuaidi": "DEPPON", "huitongkuaidi": "BEST",
    "ups": "UPS", "fedex": "FEDEX", "dhl": "DHL", "usps": "USPS",
}


def carrier_company_for(account: CarrierAccount | None) -> str:
    """The carrier company a booking with ``account`` ships with ("" when unknown).

    The one place that maps carrier accounts to companies: an SF account is SF
    Express; a Kuaidi100 account is whatever company its ``carrier_code`` names; a
    manual account could be anyone, so it stays blank (the write-back then sends
    the account's own code, as before).
    """
    if account is None:
        return ""
    if account.kind == CarrierAccount.Kind.SF:
        return "SF"
    if account.kind == CarrierAccount.Kind.KUAIDI100:
        return KUAIDI100_COMPANIES.get((account.carrier_code or "").strip().lower(), "")
    return ""


class ShippingError(OrderServiceError):
    """A shipping action a person asked for cannot be done; the message says why."""


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min... capped at an hour."""
    return dt.timedelta(seconds=min(MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, attempts - 1)))


def site_url() -> str:
    return (getattr(settings, "SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


# --- which account --------------------------------------------------------------------

def account_for_order(order: Order) -> tuple[CarrierAccount | None, str]:
    """The carrier account and service code for ``order``.

    ``order.carrier`` holds the account code the routing rules chose (their
    service choice is on ``order.decision``, which may not exist); otherwise the
    enabled default account.
    """
    account = None
    if order.carrier:
        account = CarrierAccount.objects.filter(code=order.carrier, enabled=True).first()
    if account is None:
        account = (CarrierAccount.objects.filter(enabled=True, is_default=True)
                   .order_by("pk").first())
    if account is None:
        return None, ""
    service = ""
    try:
        decision = order.decision
    except (ObjectDoesNotExist, AttributeError):
        decision = None
    if decision is not None and getattr(decision, "carrier", "") in ("", account.code):
        service = getattr(decision, "carrier_service", "") or ""
    return account, service or account.default_service


def with_service_names(waybills: list[Waybill]) -> list[Waybill]:
    """Set ``service_label`` (the service's name where known) on each waybill; one query."""
    from fulfillment.shipping.models import CarrierService

    accounts = {w.account_id for w in waybills if w.account_id and w.service}
    names = {}
    if accounts:
        names = {(a, c): n for a, c, n in CarrierService.objects.filter(
            account_id__in=accounts).values_list("account_id", "code", "name")}
    for w in waybills:
        w.service_label = names.get((w.account_id, w.service), w.service)
    return waybills


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
    from fulfillment.shipping.tasks import book_waybill

    transaction.on_commit(lambda: book_waybill.delay(waybill_id))


# --- booking ---------------------------------------------------------------------------

def parcel_for(waybill: Waybill) -> Parcel:
    """What the carrier needs. Raises ``NeedsPlatformDecryption`` for encrypted recipients."""
    order, account = waybill.order, waybill.account
    recipient = real_recipient(order)
    lines = list(order.lines.all())
    weight_g = 0
    try:
        from warehouse.models import SKU

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
            OrderEvent.objects.create(
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
    OrderEvent.objects.create(
        order_id=waybill.order_id, kind="waybill_failed", actor=ACTOR,
        message=_("The waybill could not be booked: %(error)s") % {"error": error[:300]},
        data={"waybill_id": waybill.pk})
    return error, True


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
        order.carrier = waybill.account.code
        order.carrier_company = carrier_company_for(waybill.account)
        order.tracking_number = waybill.tracking_number
        order._change_reason = "waybill booked"
        order.save(update_fields=["carrier", "carrier_company", "tracking_number"])
        order_transition(order=order.pk, name="ship", actor=ACTOR,
                         reason=_("Waybill %(number)s booked") % {
                             "number": waybill.tracking_number})
    _subscribe(waybill)
    return "shipped"


def _subscribe(waybill: Waybill) -> None:
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
        OrderEvent.objects.create(order_id=waybill.order_id, kind="waybill_retry",
                                  actor_user=who.user, actor=who.label,
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
        order.carrier = waybill.account.code
        order.carrier_company = carrier_company_for(waybill.account)
        order.tracking_number = tracking_number
        order._change_reason = "tracking number typed in"
        order.save(update_fields=["carrier", "carrier_company", "tracking_number"])
        order = order_transition(order=order.pk, name="ship", actor=actor,
                                 reason=_("Tracking number %(number)s typed in") % {
                                     "number": tracking_number})
        OrderEvent.objects.create(order=order, kind="waybill_booked", actor_user=who.user,
                                  actor=who.label, data={"waybill_id": waybill.pk},
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
        from fulfillment.shipping.tasks import cancel_waybill

        for waybill_id in to_cancel:
            transaction.on_commit(lambda waybill_id=waybill_id: cancel_waybill.delay(waybill_id))
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
            OrderEvent.objects.create(
                order_id=waybill.order_id, kind="waybill_cancel_failed", actor=ACTOR,
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
        OrderEvent.objects.create(order_id=waybill.order_id, kind="waybill_cancelled",
                                  actor=ACTOR, data={"waybill_id": waybill.pk},
                                  message=_("Waybill %(number)s cancelled with the carrier.")
                                  % {"number": waybill.tracking_number})
        return "cancelled"


# --- the sweeper ---------------------------------------------------------------------------

def waybills_due(now: dt.datetime | None = None, *, grace: dt.timedelta = dt.timedelta(minutes=2)
                 ) -> dict[str, list[int]]:
    """Work whose task was lost (dead broker, crashed worker), for the sweeper."""
    now = now or timezone.now()
    cutoff = now - grace
    book = list(Waybill.objects.filter(status=W.PENDING, next_attempt_at__lte=cutoff)
                .order_by("next_attempt_at").values_list("pk", flat=True)[:200])
    cancel = list(Waybill.objects.filter(status=W.CANCEL_PENDING, next_attempt_at__lte=cutoff)
                  .order_by("next_attempt_at").values_list("pk", flat=True)[:200])
    complete = list(Waybill.objects.filter(status=W.BOOKED, order__status=S.PICKED,
                                           booked_at__lte=cutoff)
                    .values_list("pk", flat=True)[:200])
    orphaned = list(Waybill.objects.filter(status=W.BOOKED, order__status=S.CANCELLED)
                    .values_list("order_id", flat=True).distinct()[:200])
    return {"book": book, "cancel": cancel, "complete": complete, "orphaned": orphaned}


# --- labels ----------------------------------------------------------------------------------

def _mask_phone(phone: str) -> str:
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(digits) < 7:
        return digits
    return f"{digits[:3]}****{digits[-4:]}"


def _address(province: str, city: str, district: str, street: str, country: str = "CN") -> str:
    """Chinese addresses run together (上海市浦东新区…); others read with spaces."""
    parts = [province, "" if city == province else city, district, street]
    return ("" if country in ("", "CN") else " ").join(p for p in parts if p)


def label_pdf(waybill: Waybill) -> bytes:
    """The 100×150 mm label. Raises ``NeedsPlatformDecryption`` for encrypted recipients."""
    from warehouse.services.picklists import code128_svg, render_pdf

    order = waybill.order
    recipient = real_recipient(order)
    lines = list(order.lines.all())
    return render_pdf("shipping/label_pdf.html", {
        "waybill": waybill,
        "account": waybill.account,
        "order": order,
        "recipient": recipient,
        "recipient_address": _address(recipient.province, recipient.city, recipient.district,
                                      recipient.street, recipient.country),
        # Privacy labels: the courier's scanner has the full number, the box does not.
        "recipient_phone": _mask_phone(recipient.phone),
        "sender_phone": _mask_phone(waybill.account.sender_phone),
        "barcode": code128_svg(waybill.tracking_number, height_mm=16),
        "order_barcode": code128_svg(order.number, height_mm=8),
        "units": sum(ln.quantity for ln in lines),
        "lines": lines[:6],
        "printed_at": timezone.localtime(),
    })


def label_store(*, waybill: Waybill) -> None:
    pdf = label_pdf(waybill)
    waybill.label.save(f"{waybill.tracking_number}.pdf", ContentFile(pdf), save=False)
    Waybill.objects.filter(pk=waybill.pk).update(label=waybill.label.name)
    OrderEvent.objects.create(order_id=waybill.order_id, kind="label_printed", actor=ACTOR,
                              message=_("Label rendered for %(number)s.") % {
                                  "number": waybill.tracking_number},
                              data={"waybill_id": waybill.pk})


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
    from django.urls import reverse

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
    if order.delivered_at is None:
        # The transition keeps an existing time: the carrier's, not ours.
        Order.objects.filter(pk=order.pk).update(delivered_at=waybill.delivered_at)
    order_transition(order=order.pk, name="deliver", actor=ACTOR,
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


def waybills_to_poll(now: dt.datetime | None = None, *, limit: int = 200) -> list[int]:
    """Open parcels not polled for ``TRACKING_POLL_HOURS`` (default 2), longest first."""
    now = now or timezone.now()
    hours = float(getattr(settings, "TRACKING_POLL_HOURS", 2))
    cutoff = now - dt.timedelta(hours=hours)
    qs = (Waybill.objects.filter(status=W.BOOKED, delivered_at__isnull=True)
          .exclude(account__kind=CarrierAccount.Kind.MANUAL)
          .filter(Q(last_polled_at__isnull=True) | Q(last_polled_at__lt=cutoff))
          .order_by("last_polled_at", "pk"))
    return list(qs.values_list("pk", flat=True)[:limit])


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
    qs = (Waybill.objects.select_for_update(of=("self",))
          .filter(status=W.BOOKED, delivered_at__isnull=True, stalled_at__isnull=True)
          .filter(Q(last_event_at__lt=cutoff)
                  | Q(last_event_at__isnull=True, booked_at__lt=cutoff))
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


# --- public tracking --------------------------------------------------------------------------

def _last4(phone: str) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else ""


def public_lookup(*, number: str, phone_last4: str) -> Order | None:
    """The order a buyer may see: ``number`` is a hub/platform order or tracking number.

    None when nothing matches OR the phone does not: callers must not tell the two apart.
    """
    number = (number or "").strip()
    phone_last4 = (phone_last4 or "").strip()
    if not number or len(number) > 64 or not re.fullmatch(r"\d{4}", phone_last4):
        return None
    waybill_orders = Waybill.objects.filter(tracking_number=number).values("order_id")
    candidates = Order.objects.filter(
        Q(number=number) | Q(external_id=number) | Q(tracking_number=number)
        | Q(pk__in=waybill_orders)).order_by("-placed_at")[:20]
    for order in candidates:
        phones = {_last4(order.ship_phone), _last4(order.buyer_phone)} - {""}
        if any(hmac.compare_digest(p, phone_last4) for p in phones):
            return order
    return None
