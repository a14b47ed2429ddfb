"""The presale deferred queue: presale orders enter picking shortly before they ship.

A presale order (``Order.presale``) has a promised ship date, taken from, in
this order:

1. a date set by hand on ``/warehouse/presale/`` (kept on its deferral row),
2. the platform, where the connector keeps one in ``Order.platform_data``
   under ``PLATFORM_KEY`` (an ISO date or date-time),
3. the latest ``SKU.presale_ship_date`` among its lines.

Its release time is the start of the day ``lead`` days before that date, in
the configured time zone; ``lead`` is the order's warehouse's
``presale_lead_days``, else the ``PRESALE_LEAD_DAYS`` setting. Automation asks
``orders_hold_presale`` first: an order whose release time is still ahead is
written down as a ``PresaleDeferral`` (and its timeline says so) and stays
``paid``, untouched. The ``release_presale_orders`` beat task
(``presale_release_due``) marks the due ones released (in the database first,
exactly once per order) and queues automation for them on commit; a lost task
is caught by the straggler sweep, which sees the order released and paid.

A presale order without any ship date is not deferred: it is allocated like
any other order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from orderhub.db import in_values
from orderhub.models import Order, OrderLine, OrderStatus
from orderhub.queue import enqueue
from orderhub.services.events import order_event_record
from orderhub.services.orders import Actor, actor_info
from orderhub.stored_text import register_stored_texts
from warehouse.models import SKU, PresaleDeferral, Warehouse

logger = logging.getLogger(__name__)

ACTOR = "system:presale"
PLATFORM_KEY = "promised_ship_date"
DEFERRED, RELEASED = "presale_deferred", "presale_released"
AUTOMATE_TASK = "fulfillment.tasks.automate_orders"
# Orders released per sweep run (the beat runs every minute; more wait a minute).
RELEASE_BATCH = 500


# Timeline texts: stored in English, filled in, translated when shown.
DEFERRED_TEXT = gettext_noop("Presale: waits in the deferred queue until %(at)s "
                             "(ships %(date)s).")
RELEASED_TEXT = gettext_noop("Presale: released from the deferred queue to allocation and "
                             "picking (ships %(date)s).")
DATE_SET_TEXT = gettext_noop("Presale: ship date set to %(date)s; released at %(at)s.")
register_stored_texts(DEFERRED_TEXT, RELEASED_TEXT, DATE_SET_TEXT)


class PresaleError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def default_lead_days() -> int:
    return int(getattr(settings, "PRESALE_LEAD_DAYS", 1))


def release_time(ship_date: dt.date, lead_days: int) -> dt.datetime:
    """Midnight (configured zone) ``lead_days`` before ``ship_date``, as an aware datetime."""
    day = ship_date - dt.timedelta(days=max(lead_days, 0))
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min),
                               timezone.get_default_timezone())


def _platform_date(order: Order) -> dt.date | None:
    raw = (order.platform_data or {}).get(PLATFORM_KEY)
    if not raw or not isinstance(raw, str):
        return None
    when = parse_datetime(raw)
    if when is not None:
        if timezone.is_aware(when):
            when = timezone.localtime(when)
        return when.date()
    try:
        return parse_date(raw)
    except ValueError:
        return None


def ship_dates(orders: list[Order]) -> dict[int, tuple[dt.date, str]]:
    """``{order id: (promised ship date, source)}`` for the orders that have one.

    Two queries whatever the number of orders (lines, SKUs); manual dates live
    on the deferral rows and are the caller's to prefer.
    """
    out: dict[int, tuple[dt.date, str]] = {}
    rest = []
    for order in orders:
        day = _platform_date(order)
        if day is not None:
            out[order.pk] = (day, PresaleDeferral.Source.PLATFORM)
        else:
            rest.append(order.pk)
    if not rest:
        return out
    codes = defaultdict(set)
    for order_id, code in OrderLine.objects.filter(order_id__in=in_values(rest)).values_list(
            "order_id", "sku_code"):
        codes[order_id].add(code)
    dates = dict(SKU.objects.filter(
        code__in=in_values({c for cs in codes.values() for c in cs}, db_type="text"),
        presale_ship_date__isnull=False).values_list("code", "presale_ship_date"))
    for order_id in rest:
        found = [dates[c] for c in codes[order_id] if c in dates]
        if found:
            out[order_id] = (max(found), PresaleDeferral.Source.SKU)
    return out


def _lead_days(orders: list[Order]) -> dict[int, int]:
    wh_ids = {o.warehouse_id for o in orders if o.warehouse_id}
    per_wh = dict(Warehouse.objects.filter(pk__in=wh_ids, presale_lead_days__isnull=False)
                  .values_list("pk", "presale_lead_days")) if wh_ids else {}
    default = default_lead_days()
    return {o.pk: per_wh.get(o.warehouse_id, default) for o in orders}


def _event(order_id: int, kind: str, text: str, params: dict, data: dict,
           actor: Actor) -> None:
    order_event_record(order=order_id, kind=kind, actor=actor, message=text % params,
                       data=data)


def _fmt(when: dt.datetime) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M")


def orders_hold_presale(*, orders: list[Order], now: dt.datetime | None = None,
                        actor: Actor = ACTOR) -> set[int]:
    """The ids of ``orders`` that must wait in the deferred queue (automation skips them).

    New waiting presale orders get their deferral row and a timeline event here
    (in their own transaction, before automation decides for the others). An
    order whose deferral is due but not released yet is left waiting for the
    release sweep, so it is released exactly once. A batch without presale
    orders costs no query; one with them a few reads, plus the inserts of the
    new waiting orders (row and event).
    """
    presale = [o for o in orders if o.presale and o.status == OrderStatus.PAID]
    if not presale:
        return set()
    now = now or timezone.now()
    rows = {d.order_id: d for d in PresaleDeferral.objects.filter(
        order_id__in=in_values(o.pk for o in presale))}
    held = {order_id for order_id, d in rows.items() if d.released_at is None}
    fresh = [o for o in presale if o.pk not in rows]
    if not fresh:
        return held
    dates = ship_dates(fresh)
    leads = _lead_days([o for o in fresh if o.pk in dates])
    new_rows = []
    for order in fresh:
        if order.pk not in dates:
            continue
        ship_date, source = dates[order.pk]
        at = release_time(ship_date, leads[order.pk])
        if at <= now:
            continue  # due already: nothing to wait for
        new_rows.append(PresaleDeferral(order_id=order.pk, ship_date=ship_date, source=source,
                                        release_at=at, created_at=now))
    if new_rows:
        with transaction.atomic():
            # A concurrent run for the same order: the unique order column keeps one row,
            # and only the run whose row it is writes the event.
            PresaleDeferral.objects.bulk_create(new_rows, ignore_conflicts=True)
            created = set(PresaleDeferral.objects.filter(
                order_id__in=in_values(r.order_id for r in new_rows), created_at=now)
                .values_list("order_id", flat=True))
            for row in new_rows:
                if row.order_id in created:
                    _event(row.order_id, DEFERRED,
                           DEFERRED_TEXT, {"at": _fmt(row.release_at),
                                           "date": row.ship_date.isoformat()},
                           {"ship_date": row.ship_date.isoformat(), "source": row.source,
                            "release_at": row.release_at.isoformat()}, actor)
        held.update(r.order_id for r in new_rows)
    return held


def _release(ids: list[int], *, now: dt.datetime, actor: Actor) -> list[int]:
    """Mark the waiting deferrals of ``ids`` released; the ids this call released.

    Each row is released by a conditional update (``released_at`` still empty),
    so two sweeps racing release an order once and write one event.
    """
    who = actor_info(actor)
    released: list[int] = []
    with transaction.atomic():
        for deferral in PresaleDeferral.objects.filter(pk__in=ids, released_at__isnull=True):
            done = PresaleDeferral.objects.filter(pk=deferral.pk, released_at__isnull=True) \
                .update(released_at=now, released_by=who.label)
            if not done:
                continue
            released.append(deferral.order_id)
            _event(deferral.order_id, RELEASED, RELEASED_TEXT,
                   {"date": deferral.ship_date.isoformat()},
                   {"ship_date": deferral.ship_date.isoformat(),
                    "release_at": deferral.release_at.isoformat()}, actor)
        if released:
            ids_now = list(released)
            transaction.on_commit(lambda: enqueue(AUTOMATE_TASK, ids_now))
    return released


def presale_release_due(*, now: dt.datetime | None = None, limit: int = RELEASE_BATCH,
                        actor: Actor = ACTOR) -> list[int]:
    """Release every deferral whose time has come; the order ids released.

    Idempotent: a deferral is released once; running again releases nothing
    new. Automation is queued on commit for the released orders.
    """
    now = now or timezone.now()
    due = list(PresaleDeferral.objects.filter(released_at__isnull=True, release_at__lte=now)
               .order_by("release_at", "pk").values_list("pk", flat=True)[:limit])
    if not due:
        return []
    return _release(due, now=now, actor=actor)


def presale_set_date(*, order: Order | int, ship_date, actor: Actor,
                     now: dt.datetime | None = None) -> PresaleDeferral:
    """Set a waiting presale order's promised ship date by hand.

    Its release time is worked out again; a time already past releases it now.
    Refused (``PresaleError``) for an order not waiting in the queue.
    """
    who = actor_info(actor)
    if who.user is not None and not who.user.has_perm("warehouse.set_presale_date"):
        raise PresaleError(_("You are not allowed to change presale dates."))
    if isinstance(ship_date, str):
        try:
            ship_date = parse_date(ship_date.strip())
        except ValueError:
            ship_date = None
    if not isinstance(ship_date, dt.date):
        raise PresaleError(_("Give the ship date as YYYY-MM-DD."))
    now = now or timezone.now()
    order_id = order.pk if isinstance(order, Order) else int(order)
    with transaction.atomic():
        deferral = (PresaleDeferral.objects.select_for_update().select_related("order")
                    .filter(order_id=order_id).first())
        if deferral is None or deferral.released_at is not None:
            raise PresaleError(_("This order is not waiting in the presale queue."))
        lead = _lead_days([deferral.order])[order_id]
        deferral.ship_date = ship_date
        deferral.source = PresaleDeferral.Source.MANUAL
        deferral.release_at = release_time(ship_date, lead)
        deferral.save(update_fields=["ship_date", "source", "release_at"])
        _event(order_id, DEFERRED, DATE_SET_TEXT,
               {"date": ship_date.isoformat(), "at": _fmt(deferral.release_at)},
               {"ship_date": ship_date.isoformat(), "source": deferral.source,
                "release_at": deferral.release_at.isoformat()}, actor)
        if deferral.release_at <= now:
            _release([deferral.pk], now=now, actor=actor)
            deferral.refresh_from_db()
    return deferral
