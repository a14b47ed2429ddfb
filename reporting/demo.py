"""Demo waybills, tracking events and complaints, so the dashboard's fulfillment cards
(tracking return rate, SLA "paid → first tracking info", SLA "placed → tracking sent to
the buyer", stalled parcels, complaint ratio) show realistic numbers after
``manage.py seed_demo``.

The core demo ships, delivers and completes orders but books no waybills. For each
such order without a waybill this books one on a demo carrier account (see
``fulfillment.shipping.demo``) and records its scans through the shipping service
``tracking_record``: the older half of the orders (by payment time) got their first
scan slowly (~38 h after payment), the recent half fast (~3 h), so the SLA trend
shows an improvement. Two open parcels are left without news for days and flagged
stalled, and a few buyers complain (``ticket_open``).

The one module of reporting that writes into other apps, and only as demo data through
their own services (``manage.py seed_demo`` loads it by name; nothing in reporting
imports it): the read models stay read-only over the rest.

Idempotent: only orders without a waybill get one, tickets are keyed.
Timings come from a fixed random seed per order, so a rerun on the same data
would produce the same timeline.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from fulfillment.shipping.carriers.base import TrackEvent
from fulfillment.shipping.models import CarrierAccount, Waybill
from fulfillment.shipping.services import tracking_record
from fulfillment.tickets.models import Ticket
from fulfillment.tickets.services import ticket_open
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from reporting.buyer_tracking import tracking_sent_record
from reporting.models import BuyerTrackingSent

ACTOR = "system:seed_demo"
SEED = 20261122
SLOW_HOURS = (30.0, 46.0)  # older half: median ~38 h paid → first scan
FAST_HOURS = (2.0, 4.0)  # recent half: median ~3 h
STALLED = 2
# The order's carrier name → demo account code; other carriers use the manual account
# (never polled, so the demo does not ask the sandbox about parcels it never booked).
ACCOUNTS = {"SF": "sf-demo", "ZTO": "zto-kuaidi100"}


def _account(order: Order, accounts: dict) -> CarrierAccount | None:
    code = ACCOUNTS.get((order.carrier or "").upper(), "manual")
    return accounts.get(code) or accounts.get("manual")


def _events(order: Order, first: dt.datetime, now: dt.datetime, *,
            stalled: bool) -> list[TrackEvent]:
    """The parcel's scans: collected at ``first``, then in transit, then (for delivered
    and completed orders) out for delivery and delivered at the order's delivery time."""
    events = [TrackEvent(occurred_at=first, description="【上海市】快件已被揽收",
                         place="上海市", milestone=Waybill.Milestone.COLLECTED)]
    if stalled:
        return events
    transit = first + dt.timedelta(hours=8)
    delivered = order.delivered_at if order.status != S.SHIPPED else None
    if delivered is not None:
        delivered = max(delivered, first + dt.timedelta(hours=12))
    if transit < (delivered or now):
        events.append(TrackEvent(occurred_at=transit, description="快件已到达【上海转运中心】",
                                 place="上海市", milestone=Waybill.Milestone.IN_TRANSIT))
    if delivered is not None and delivered <= now:
        events.append(TrackEvent(occurred_at=delivered - dt.timedelta(hours=3),
                                 description="快件正在派送中", place="",
                                 milestone=Waybill.Milestone.OUT_FOR_DELIVERY))
        events.append(TrackEvent(occurred_at=delivered, description="快件已签收，签收人：本人",
                                 place="", milestone=Waybill.Milestone.DELIVERED))
    return events


def seed(stdout) -> None:
    now = timezone.now()
    accounts = {a.code: a for a in CarrierAccount.objects.filter(
        code__in=[*ACCOUNTS.values(), "manual"])}
    if not accounts:
        stdout.write("Reporting demo: no demo carrier accounts, no waybills created.")
        return
    orders = list(Order.objects.filter(status__in=[S.SHIPPED, S.DELIVERED, S.COMPLETED],
                                       paid_at__isnull=False, shipped_at__isnull=False,
                                       waybills__isnull=True)
                  .order_by("paid_at", "pk"))
    half = len(orders) // 2
    firsts = {}
    for i, order in enumerate(orders):
        rng = random.Random(SEED + order.pk)
        hours = rng.uniform(*(SLOW_HOURS if i < half else FAST_HOURS))
        firsts[order.pk] = min(order.paid_at + dt.timedelta(hours=hours),
                               now - dt.timedelta(minutes=10))
    # The oldest open parcels whose first scan is over a day old: no news since, stalled.
    stalled_ids = {o.pk for o in sorted(
        (o for o in orders if o.status == S.SHIPPED
         and firsts[o.pk] < now - dt.timedelta(hours=30)),
        key=lambda o: firsts[o.pk])[:STALLED]}
    made = 0
    for i, order in enumerate(orders):
        first = firsts[order.pk]
        booked = min(first, order.shipped_at) - dt.timedelta(minutes=30)
        stalled = order.pk in stalled_ids
        with transaction.atomic():
            waybill = Waybill.objects.create(
                order=order, account=_account(order, accounts), status=Waybill.Status.BOOKED,
                tracking_number=order.tracking_number or f"DEMO{order.pk:010d}",
                created_at=booked, booked_at=booked, next_attempt_at=booked,
                last_polled_at=now)
            tracking_record(waybill=waybill, events=_events(order, first, now,
                                                            stalled=stalled))
            if stalled:
                Waybill.objects.filter(pk=waybill.pk).update(
                    stalled_at=first + dt.timedelta(hours=24))
            # The buyer was given the number a few minutes after shipping (the shipped
            # SMS or the platform write-back): the buyer SLA's stamp (first one wins).
            tracking_sent_record(
                order_id=order.pk, tracking_number=waybill.tracking_number,
                sent_at=min(order.shipped_at + dt.timedelta(minutes=15), now),
                via=BuyerTrackingSent.Via.MESSAGE if i % 2 else BuyerTrackingSent.Via.PLATFORM)
        made += 1
    complaints = _complaints([o for o in orders if o.pk in stalled_ids], orders[:half])
    stdout.write(f"Reporting demo: {made} waybill(s) with tracking, {len(stalled_ids)} "
                 f"stalled, {complaints} complaint ticket(s) created.")


def _complaints(stalled: list[Order], slow: list[Order]) -> int:
    """A complaint per stalled parcel and one about a slow shipment (keyed: once)."""
    made = 0
    for order in stalled:
        _ticket, created = ticket_open(
            kind=Ticket.Kind.COMPLAINT, title="买家投诉：包裹多日没有物流更新",
            description="买家称物流信息停滞，要求核实包裹去向。", order=order,
            actor=ACTOR, dedupe_key=f"demo:reporting:stalled:{order.pk}")
        made += created
    for order in slow[:1]:
        _ticket, created = ticket_open(
            kind=Ticket.Kind.COMPLAINT, title=f"买家投诉：订单{order.number}发货太慢",
            description="买家称付款后一天多仍无物流信息。", order=order, actor=ACTOR,
            dedupe_key=f"demo:reporting:slow:{order.pk}")
        made += created
    return made
