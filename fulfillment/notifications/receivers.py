"""Reactions to other apps' events: buyer SMS, team alerts and automatic tickets.

Every signal here is sent after the transaction that caused it committed. Each
receiver runs its own short transaction (ticket + outbox rows commit together)
and is idempotent: ticket and message keys come from what happened, so a
replayed signal opens nothing new and sends nothing twice. Receivers never
raise: a failure is logged, the cause has happened already.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from channels.health import problems_url
from channels.models import Channel
from channels.signals import channel_paused
from fulfillment import signals as fulfillment_signals
from fulfillment.notifications.models import (
    Event,
    Gateway,
    Language,
    MessageTemplate,
    WarehouseContact,
    default_buyer_gateway,
)
from fulfillment.notifications.services import (
    EventRoutes,
    Target,
    buyer_sms,
    contacts_for,
    contacts_for_warehouses,
    team_alert,
)
from fulfillment.shipping.models import Waybill
from fulfillment.shipping.rates import promised_days
from fulfillment.signals import UrgentOrder
from fulfillment.tickets.models import Ticket
from fulfillment.tickets.services import ticket_open
from orderhub.models import Order, OrderStatus, OrderTransitionLog
from orderhub.signals import order_status_changed
from warehouse import signals as warehouse_signals
from warehouse.models import PickProblem, Warehouse

logger = logging.getLogger(__name__)

ACTOR = "system:notifications"


def _safe(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the event happened; a failed alert must not undo it
            logger.exception("notification receiver %s failed", func.__name__)
    return wrapper


def _order(order_id):
    if not order_id:
        return None
    return Order.objects.select_related("channel", "warehouse").filter(pk=order_id).first()


def _warehouse_name(warehouse_id) -> str:
    if not warehouse_id:
        return ""
    return Warehouse.objects.filter(pk=warehouse_id).values_list("name", flat=True).first() or ""


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _ticket(**kwargs):
    return ticket_open(actor=ACTOR, **kwargs)[0]


# --- order transitions --------------------------------------------------------------------

def on_status_changed(sender, order_id, transition, from_status, to_status, actor="", **kwargs):
    # Every transition of every order lands here: decide before opening a transaction.
    if transition == "ship_on_platform":
        # The platform shipped it and told the buyer itself; a store's history
        # arrives this way by the thousand. The warehouse side is
        # ``on_order_shipped_on_platform``.
        return
    if to_status in ("shipped", "picked") or transition == "intercept":
        _on_status_changed(order_id, transition, from_status, to_status, actor)


def tracking_url(order) -> str:
    """The public tracking page with the order number filled in (absolute, for SMS)."""
    base = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    return f"{base}/track/?{urlencode({'number': order.number})}"


# Where carriers put their delivery promise in the booking answer we keep
# (``Waybill.label_data``): Kuaidi100's ``arrivalTime``, SF's ``promiseTm``,
# or our own normalised key. None of today's adapters fills one in for every
# booking, so templates must read well without it.
ESTIMATE_KEYS = ("estimated_delivery", "arrivalTime", "promiseTm")


def estimated_delivery(order) -> str:
    """The carrier's estimated delivery for the order's booked parcel; "" when unknown.

    The carrier's own promise in the booking answer wins; without one, the rate
    table's promised days for the parcel's service and destination zone, counted
    from the day it shipped (the same promise a "choose carrier" rule relied on).
    """
    waybill = (Waybill.objects.filter(order=order, status=Waybill.Status.BOOKED)
               .select_related("account").order_by("-booked_at", "-pk").first())
    if waybill is None:
        return ""
    data = waybill.label_data
    if isinstance(data, dict):
        promise = next((str(data[key]).strip() for key in ESTIMATE_KEYS if data.get(key)), "")
        if promise:
            return promise
    if waybill.account is None:
        return ""
    days = promised_days(carrier=waybill.account.code, service=waybill.service,
                         province=order.ship_province)
    if days is None:
        return ""
    shipped = timezone.localdate(order.shipped_at or timezone.now())
    return (shipped + dt.timedelta(days=days)).isoformat()


def buyer_context(order) -> dict:
    """What every buyer SMS may say about ``order`` (each event uses its own subset)."""
    return {"order_number": order.number, "buyer_name": order.buyer_name,
            "shop": order.channel.name if order.channel_id else "", "carrier": order.carrier,
            "tracking_number": order.tracking_number, "tracking_url": tracking_url(order)}


@_safe
def _on_status_changed(order_id, transition, from_status, to_status, actor):
    if to_status == "shipped":
        order = _order(order_id)
        if order is None:
            return
        buyer_sms(event=Event.SHIPPED, order=order, actor=ACTOR,
                  dedupe_key=f"sms:shipped:order:{order.pk}",
                  context={**buyer_context(order),
                           "estimated_delivery": estimated_delivery(order)})
    elif to_status == "picked":
        # Pre-shipment confirmation: packed and waiting for the carrier. Opt-in
        # (buyer_sms sends it only while an active template exists); one per order,
        # even when a hold or a re-pick brings it back to "picked". Most sellers leave it
        # off: find that out (one query) before loading the order.
        if not MessageTemplate.objects.filter(event=Event.READY_TO_SHIP, audience="buyer",
                                              active=True).exists():
            return
        order = _order(order_id)
        if order is None:
            return
        buyer_sms(event=Event.READY_TO_SHIP, order=order, actor=ACTOR,
                  dedupe_key=f"sms:ready_to_ship:order:{order.pk}",
                  context=buyer_context(order))
    elif transition == "intercept":
        order = _order(order_id)
        if order is None:
            return
        with override(settings.LANGUAGE_CODE):
            title = _("Intercept order %(number)s") % {"number": order.number}
        _ticket(kind=Ticket.Kind.INTERCEPT, title=title, order=order,
                description=order.cancel_reason, dedupe_key=f"intercept:order:{order.pk}")
        team_alert(event=Event.INTERCEPT, order=order, actor=ACTOR,
                   warehouse_id=order.warehouse_id, dedupe_key=f"team:intercept:order:{order.pk}",
                   context={"order_number": order.number, "from_status": from_status,
                            "reason": order.cancel_reason, "actor": actor})


# --- warehouse ------------------------------------------------------------------------------

def _purchasing_targets(warehouse_id, contact: dict | None) -> list[Target]:
    """The warehouse's purchasing contacts as configured here; else the warehouse's own."""
    targets = contacts_for(warehouse_id, WarehouseContact.Role.PURCHASING)
    if targets or not contact:
        return targets
    email = (contact.get("email") or "").strip()
    phone = (contact.get("phone") or "").strip()
    mail = Gateway.objects.filter(kind=Gateway.Kind.EMAIL, enabled=True).order_by("id").first()
    if email and mail is not None:
        return [Target(mail, email, "zh-hans", "purchasing")]
    sms = default_buyer_gateway()
    if phone and sms is not None:
        return [Target(sms, phone, "zh-hans", "purchasing")]
    return []


@_safe
def on_stock_insufficient(sender, order_id, warehouse_id, shortages, purchasing_contact=None,
                          **kwargs):

    order = _order(order_id)
    if order is None:
        return
    text = "; ".join(f"{s.get('sku_code')} {s.get('available')}/{s.get('requested')}"
                     for s in shortages or [])
    with override(settings.LANGUAGE_CODE):
        title = _("Out of stock: order %(number)s") % {"number": order.number}
    _ticket(kind=Ticket.Kind.OUT_OF_STOCK, title=title, order=order,
            description=text, dedupe_key=f"out_of_stock:order:{order.pk}")
    team_alert(event=Event.OUT_OF_STOCK, order=order, actor=ACTOR, warehouse_id=warehouse_id,
               targets=_purchasing_targets(warehouse_id, purchasing_contact),
               dedupe_key=f"team:out_of_stock:order:{order.pk}",
               context={"order_number": order.number, "warehouse": _warehouse_name(warehouse_id),
                        "shortages": text,
                        "contact_name": (purchasing_contact or {}).get("name", "")})


@_safe
def on_stock_low(sender, warehouse_id, sku_id, sku_code, available, safety, **kwargs):
    day = timezone.localdate().isoformat()
    team_alert(event=Event.STOCK_LOW, actor=ACTOR, warehouse_id=warehouse_id,
               dedupe_key=f"team:stock_low:{warehouse_id}:{sku_id}:{day}",
               context={"warehouse": _warehouse_name(warehouse_id), "sku_code": sku_code,
                        "available": available, "safety": safety})


@_safe
def on_pick_problem(sender, problem_id, order_id, warehouse_id, kind, note="", actor="",
                    **kwargs):

    order = _order(order_id)
    with override(settings.LANGUAGE_CODE):
        problem = str(PickProblem.Kind(kind).label) if kind in PickProblem.Kind.values else kind
        title = _("Picking problem on %(number)s: %(problem)s") % {
            "number": order.number if order else order_id, "problem": problem}
    _ticket(kind=Ticket.Kind.PICKING_PROBLEM, title=title, order=order, description=note,
            dedupe_key=f"pick_problem:{problem_id}")
    team_alert(event=Event.PICK_PROBLEM, order=order, actor=ACTOR, warehouse_id=warehouse_id,
               dedupe_key=f"team:pick_problem:{problem_id}",
               context={"order_number": order.number if order else "",
                        "warehouse": _warehouse_name(warehouse_id), "problem": problem,
                        "note": note, "actor": actor})


@_safe
def on_order_shipped_on_platform(sender, order_id, warehouse_id=None, units_released=0,
                                 pick_lists=(), tasks_closed=0, **kwargs):
    """The platform shipped an order the warehouse still held: the lead must not pick it.

    Sent as the intercept alert (the message every warehouse already routes:
    "stop the parcel"), to the routes and the warehouse's leads, with what was
    undone as its reason.
    """
    order = _order(order_id)
    if order is None:
        return
    was = (OrderTransitionLog.objects.filter(order_id=order_id, transition="ship_on_platform")
           .order_by("-created_at", "-id").values_list("from_status", flat=True).first())
    with override(settings.LANGUAGE_CODE):
        parts = [_("Shipped on the platform (%(carrier)s %(tracking)s): do not pick it.")
                 % {"carrier": order.carrier or "—", "tracking": order.tracking_number or "—"}]
        for replaced in pick_lists or ():
            if replaced.get("printed"):
                parts.append(_("Pick list %(voided)s is void: use its reprint %(printed)s.")
                             % replaced)
            else:
                parts.append(_("Pick list %(voided)s is void.") % replaced)
        if tasks_closed:
            parts.append(_("Its pick task was closed: put the items back."))
        if units_released:
            parts.append(_("%(n)s reserved units were released.") % {"n": units_released})
        from_label = str(OrderStatus(was).label) if was in OrderStatus.values else (was or "")
    warehouse_id = warehouse_id or order.warehouse_id
    team_alert(event=Event.INTERCEPT, order=order, actor=ACTOR, warehouse_id=warehouse_id,
               targets=contacts_for(warehouse_id, WarehouseContact.Role.LEAD),
               dedupe_key=f"team:shipped_on_platform:order:{order.pk}",
               context={"order_number": order.number, "from_status": from_label,
                        "reason": " ".join(parts),
                        "actor": order.channel.name if order.channel_id else ""})


# --- reporting, channels ----------------------------------------------------------------------

@_safe
def on_spike(sender, alert, **kwargs):
    series = alert.series or []
    orders = series[-1].get("orders", "") if series and isinstance(series[-1], dict) else ""
    team_alert(event=Event.SPIKE, actor=ACTOR, dedupe_key=f"team:spike:{alert.pk}",
               context={"sku_code": alert.sku_code, "province": alert.province,
                        "day": alert.day.isoformat(), "orders": orders,
                        "payment_success_percent": alert.payment_success_percent})


def _owner_email_target(channel, language):
    """The channel's owner, reached by e-mail through the outbox (retries included).

    Uses the first enabled e-mail gateway; with none configured at all, one that
    sends through Django's mail backend is added, since a paused sync must reach a
    person even on a fresh install. An admin who disabled e-mail is respected.
    """
    address = getattr(channel.owner, "email", "") if channel.owner_id else ""
    if not address:
        return None
    gateway = (Gateway.objects.filter(kind=Gateway.Kind.EMAIL, enabled=True)
               .order_by("id").first())
    if gateway is None and not Gateway.objects.filter(kind=Gateway.Kind.EMAIL).exists():
        gateway, _created = Gateway.objects.get_or_create(
            name="E-mail", defaults={"kind": Gateway.Kind.EMAIL})
        if gateway.kind != Gateway.Kind.EMAIL or not gateway.enabled:
            return None
    if gateway is None:
        return None
    return Target(gateway, address, language, f"owner{channel.owner_id}")


@_safe
def on_channel_paused(sender, channel_id, code="", name="", reason="", **kwargs):
    channel = Channel.objects.select_related("owner").filter(pk=channel_id).first()
    if channel is None:
        return
    # One pause is one incident; pausing again after a resume is a new one.
    since = int(channel.paused_at.timestamp()) if channel.paused_at else "now"
    with override(settings.LANGUAGE_CODE):
        title = _("Sync paused: %(name)s") % {"name": channel.name}
        # The failing payloads, one click away (each replayable there).
        reason = _("%(reason)s — sync problems: %(url)s") % {
            "reason": reason, "url": problems_url(channel)}
    _ticket(kind=Ticket.Kind.SYNC_PROBLEM, title=title, channel=channel, description=reason,
            dedupe_key=f"channel_paused:{channel.pk}:{since}")
    language = (Language.ZH_HANS if settings.LANGUAGE_CODE.lower().startswith("zh")
                else Language.EN)
    owner = _owner_email_target(channel, language)
    team_alert(event=Event.CHANNEL_PAUSED, actor=ACTOR,
               dedupe_key=f"team:channel_paused:{channel.pk}:{since}",
               targets=[owner] if owner else [],
               context={"channel": channel.name, "reason": reason})


# --- fulfillment ------------------------------------------------------------------------------

@_safe
def on_parcel_stalled(sender, order_id, waybill_id, carrier="", tracking_number="",
                      last_event_at=None, **kwargs):

    order = _order(order_id)
    if order is None:
        return
    stamp = int(last_event_at.timestamp()) if last_event_at else "none"
    key = f"{waybill_id}:{stamp}"
    context = {"order_number": order.number, "buyer_name": order.buyer_name,
               "shop": order.channel.name, "carrier": carrier or order.carrier,
               "tracking_number": tracking_number or order.tracking_number,
               "last_event_at": _local(last_event_at)}
    with override(settings.LANGUAGE_CODE):
        title = _("Parcel stalled: %(number)s (%(tracking)s)") % {
            "number": order.number, "tracking": context["tracking_number"]}
    _ticket(kind=Ticket.Kind.STALLED_PARCEL, title=title, order=order,
            dedupe_key=f"stalled:{key}")
    team_alert(event=Event.PARCEL_STALLED, order=order, actor=ACTOR,
               warehouse_id=order.warehouse_id, dedupe_key=f"team:stalled:{key}",
               context=context)
    buyer_sms(event=Event.DELAYED, order=order, actor=ACTOR, dedupe_key=f"sms:delayed:{key}",
              context=context)


@_safe
def on_waybill_failed(sender, order_id, waybill_id, error="", permanent=False, **kwargs):
    if not permanent:
        return  # retries are still under way; only a final failure needs a person
    order = _order(order_id)
    team_alert(event=Event.WAYBILL_FAILED, order=order, actor=ACTOR,
               warehouse_id=order.warehouse_id if order else None,
               dedupe_key=f"team:waybill_failed:{waybill_id}",
               context={"order_number": order.number if order else "", "error": error})


def on_order_urgent(sender, order_id, priority, warehouse_id=None, **kwargs):
    on_orders_urgent(sender, orders=[UrgentOrder(order_id, priority, warehouse_id)])


def on_orders_urgent(sender, orders, **kwargs):
    # Sent once per automation batch for its urgent orders (a fifth of a big sale),
    # and most warehouses route the alert to nobody: find who would hear it with
    # two reads for the whole batch and no transaction, and only then load the
    # orders (one query) and write the outbox rows, one transaction per order.
    try:
        leads = contacts_for_warehouses({u.warehouse_id for u in orders},
                                        WarehouseContact.Role.LEAD)
        routes = EventRoutes.load(Event.URGENT_ORDER)
        # Without a warehouse the order's own decides: leave those to the per-order step.
        heard = [u for u in orders if not u.warehouse_id or leads.get(u.warehouse_id)
                 or routes.for_warehouse(u.warehouse_id)]
        if not heard:
            return

        loaded = Order.objects.select_related("channel", "warehouse").in_bulk(
            [u.order_id for u in heard])
    except Exception:  # noqa: BLE001 - the orders are urgent already; an alert must not undo it
        logger.exception("notification receiver on_orders_urgent failed")
        return
    for urgent in heard:
        order = loaded.get(urgent.order_id)
        if order is not None:
            _on_order_urgent(order, urgent.priority, urgent.warehouse_id, leads, routes)


@_safe
def _on_order_urgent(order, priority, warehouse_id, leads, routes):
    if not warehouse_id and order.warehouse_id:
        warehouse_id = order.warehouse_id
        leads = contacts_for_warehouses([warehouse_id], WarehouseContact.Role.LEAD)
    with override(settings.LANGUAGE_CODE):
        label = str(Order.Priority(priority).label) if priority in Order.Priority.values else ""
    name = (order.warehouse.name if order.warehouse_id == warehouse_id and order.warehouse
            else _warehouse_name(warehouse_id))
    team_alert(event=Event.URGENT_ORDER, order=order, actor=ACTOR, warehouse_id=warehouse_id,
               targets=leads.get(warehouse_id, []), routes=routes,
               dedupe_key=f"team:urgent:order:{order.pk}:{priority}",
               context={"order_number": order.number, "priority": label, "warehouse": name})


def connect() -> None:
    uid = "notifications."
    order_status_changed.connect(on_status_changed, dispatch_uid=uid + "status")
    warehouse_signals.stock_insufficient.connect(on_stock_insufficient,
                                                 dispatch_uid=uid + "stock_insufficient")
    warehouse_signals.stock_low.connect(on_stock_low, dispatch_uid=uid + "stock_low")
    warehouse_signals.pick_problem_reported.connect(on_pick_problem,
                                                    dispatch_uid=uid + "pick_problem")
    warehouse_signals.order_shipped_on_platform.connect(
        on_order_shipped_on_platform, dispatch_uid=uid + "shipped_on_platform")
    fulfillment_signals.spike_alert_raised.connect(on_spike, dispatch_uid=uid + "spike")
    channel_paused.connect(on_channel_paused, dispatch_uid=uid + "channel_paused")
    fulfillment_signals.parcel_stalled.connect(on_parcel_stalled, dispatch_uid=uid + "stalled")
    fulfillment_signals.waybill_failed.connect(on_waybill_failed,
                                               dispatch_uid=uid + "waybill_failed")
    fulfillment_signals.order_urgent.connect(on_order_urgent, dispatch_uid=uid + "urgent")
    fulfillment_signals.orders_urgent.connect(on_orders_urgent, dispatch_uid=uid + "urgent_batch")
