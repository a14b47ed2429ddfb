"""Shipping reads: which carrier account an order books with, the sweeper's and the
poller's work lists, and the buyer's public tracking lookup.

Part of the shipping services (``fulfillment.shipping.services`` re-exports the
public names); nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q
from django.utils import timezone

from fulfillment.shipping.models import CarrierAccount, CarrierService, Waybill
from orderhub.models import Order, OrderStatus

S = OrderStatus
W = Waybill.Status
# Who shipping's own (system) steps are recorded as, on events and transitions.
ACTOR = "system:shipping"

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
    accounts = {w.account_id for w in waybills if w.account_id and w.service}
    names = {}
    if accounts:
        names = {(a, c): n for a, c, n in CarrierService.objects.filter(
            account_id__in=accounts).values_list("account_id", "code", "name")}
    for w in waybills:
        w.service_label = names.get((w.account_id, w.service), w.service)
    return waybills


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
