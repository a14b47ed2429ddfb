"""Fulfillment metrics read from waybills and tickets: tracking return rate, complaint
ratio, stalled parcels, and ``fulfillment_numbers`` which gathers them with the SLA.

Fulfillment metrics (tracking return rate, complaint ratio, stalled parcels, the
SLAs "paid → first valid tracking info" and "placed → first valid tracking info sent to
the buyer") read waybills and tickets, which change
without touching orders, so ``fulfillment_numbers`` caches them for a short while
(``DASHBOARD_FULFILLMENT_CACHE_SECONDS``, default 60 s). The stalled card links
to the waybill list's stalled filter and the complaint card to the ticket
queue's complaint filter,
each with the same scope, so they list exactly what was counted; no page can
filter by tracking time, so the tracking card links to the orders shipped in
the range, the SLA median and p90 cards to the dashboard's SLA tables and the SLA
share cards to the list of the orders over the SLA's window (``sla_late_orders``).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import replace
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, models, router
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
)
from django.utils import timezone

from fulfillment.shipping.models import Waybill
from fulfillment.tickets.selectors import complaint_count
from reporting.models import DailyRollup
from reporting.selectors.rolled import (
    _runs,
    _scoped_rollup,
    _split_days,
)
from reporting.selectors.sales import (
    placed_count,
)
from reporting.selectors.scope import (
    DashboardFilters,
    _cache_key,
    category_q,
    local_midnight,
    scoped_orders,
    thresholds,
)
from reporting.selectors.sla import (
    DEFAULT_WINDOW_HOURS,
    _first_tracking,
    _pct,
    _window,
    sla_paid_to_first_tracking,
    sla_placed_to_buyer_tracking,
    sla_trend_chart,
)


def tracking_return_rate(filters: DashboardFilters, *, window_hours: Decimal | None = None,
                         now: dt.datetime | None = None, use_rollup: bool = True,
                         split: tuple | None = None) -> dict:
    """Share (%) of the orders shipped in the range whose first valid tracking event came
    at most ``window_hours`` after shipping: ``{"rate", "in_time", "orders", "pending",
    "window_hours"}``.

    An order shipped less than the window ago and not yet scanned is still *pending*: it
    can make it, so it counts neither way (otherwise today's rate would dip every
    morning). Everything else counts: late, never scanned, scanned in time.

    Rolled-up days whose every order is past its window (so none is pending) come from
    the rollup's shipped → first tracking samples, the others live.
    """
    window_hours = window_hours or DEFAULT_WINDOW_HOURS
    window = dt.timedelta(hours=float(window_hours))
    now = now or timezone.now()
    settled = set()
    if use_rollup:
        rolled = (split or _split_days(filters, True))[0]
        settled = {day for day in rolled
                   if local_midnight(day + dt.timedelta(days=1)) <= now - window}
    n = in_time = pending = 0
    for start, end in _runs(filters, settled):
        row = _tracking_live(replace(filters, date_from=start, date_to=end), window, now)
        n, in_time, pending = n + row["n"], in_time + row["in_time"], pending + row["pending"]
    if settled:
        limit = window.total_seconds()
        rows = _scoped_rollup(DailyRollup.objects.filter(kind="shipped", day__in=settled),
                              filters).values_list("n", "samples")
        for count, samples in rows:
            n += count
            in_time += bisect_right(samples, limit)
    counted = n - pending
    return {"rate": _pct(in_time, counted), "in_time": in_time,
            "orders": counted, "pending": pending, "shipped": n,
            "window_hours": window_hours}


def _tracking_live(filters: DashboardFilters, window: dt.timedelta, now: dt.datetime) -> dict:
    """``tracking_return_rate``'s counts from the orders and waybills, one query."""
    # "The first valid event came in time" is "some valid waybill had an event in time":
    # one semi-join per order instead of a MIN per order.
    in_time = Exists(
        Waybill.objects.valid().filter(order=OuterRef("pk"), first_event_at__isnull=False)
        .filter(first_event_at__lte=ExpressionWrapper(OuterRef("shipped_at") + window,
                                                      output_field=models.DateTimeField())))
    orders = (scoped_orders(filters).filter(filters.in_range("shipped_at"))
              .annotate(scanned_in_time=in_time))
    if connection.vendor != "postgresql":
        return orders.aggregate(
            n=Count("id"), in_time=Count("id", filter=Q(scanned_in_time=True)),
            pending=Count("id", filter=Q(scanned_in_time=False, shipped_at__gt=now - window)))
    # Each FILTER names the EXISTS, and PostgreSQL, flattening Django's subquery, runs
    # the probe once per FILTER; OFFSET 0 keeps the subquery, so each order probes once.
    sql, params = orders.values("shipped_at", "scanned_in_time").order_by().query.sql_with_params()
    # Raw SQL: the read goes where the ORM's would (the replica under replica_reads).
    with connections[router.db_for_read(orders.model)].cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE o.scanned_in_time), "
            "COUNT(*) FILTER (WHERE NOT o.scanned_in_time AND o.shipped_at > %s) "
            f"FROM ({sql} OFFSET 0) AS o", [now - window, *params])
        n, in_time_n, pending = cursor.fetchone()
    return {"n": n, "in_time": in_time_n, "pending": pending}


def tracking_lags(filters: DashboardFilters) -> list[tuple]:
    """Rollup input: ``(order id, channel_id, warehouse_id, currency, seconds)`` for each
    order shipped in the range that has valid tracking info, seconds from shipping to the
    first of it (in time ⇔ seconds ≤ the window, as ``_tracking_live`` counts)."""
    lag = ExpressionWrapper(F("first_tracking") - F("shipped_at"), output_field=DurationField())
    rows = (scoped_orders(filters).filter(filters.in_range("shipped_at"))
            .annotate(first_tracking=_first_tracking()).filter(first_tracking__isnull=False)
            .annotate(lag=lag)
            .values_list("pk", "channel_id", "warehouse_id", "currency", "lag"))
    return [(pk, channel_id, warehouse_id, currency, took.total_seconds())
            for pk, channel_id, warehouse_id, currency, took in rows]


def complaint_ratio(filters: DashboardFilters, *, placed: int | None = None) -> dict:
    """Orders placed in the range that have a complaint ticket (opened any time so far)
    / orders placed in the range, in %: ``{"ratio", "complaints", "orders"}``.

    Numerator and denominator are the same cohort (the orders placed in the range), so
    the ratio never exceeds 100 %: counting complaints opened in the range on older
    orders against today's placed orders once showed 160 %.
    """
    cohort = scoped_orders(filters).filter(filters.in_range("placed_at"))
    complaints = complaint_count(orders=cohort)
    if placed is None:
        placed = placed_count(filters)
    return {"ratio": _pct(complaints, placed, "0.01"), "complaints": complaints,
            "orders": placed}


def _waybill_scope(filters: DashboardFilters) -> Q:
    """The dashboard scope for waybill rows (through their order)."""
    q = filters.scope_q(through="order__", category=False)
    if filters.category:
        # Per waybill, not "order in (every order of the category)": the stalled parcels
        # are a few hundred, the category's orders a tenth of all.
        q &= category_q(filters.category, order=OuterRef("order_id"))
    return q


def stalled_parcels_per_carrier(filters: DashboardFilters) -> list[dict]:
    """Open parcels (booked, not delivered) flagged stalled, per carrier account, now:
    ``[{"carrier", "code", "parcels"}, ...]`` most first. The date range does not apply."""
    rows = (Waybill.objects.stalled().filter(_waybill_scope(filters))
            .values("account__code", "account__name").annotate(n=Count("id")).order_by())
    out = [{"carrier": r["account__name"] or "—", "code": r["account__code"] or "",
            "parcels": r["n"]} for r in rows]
    return sorted(out, key=lambda r: (-r["parcels"], r["carrier"]))


def fulfillment_numbers(filters: DashboardFilters, *, full: bool = True,
                        limits: dict | None = None, placed: int | None = None) -> dict:
    """Everything the dashboard shows from waybills and tickets (cached for
    ``DASHBOARD_FULFILLMENT_CACHE_SECONDS``, see above).
    ``full=False``: what the cards need (the wall screen, the cards' refresh).
    ``placed``: the orders placed in the range, when known (``dashboard_numbers``)."""
    limits = thresholds() if limits is None else limits
    # Waybills and tickets change without touching orders, so these numbers are
    # cached for a short while instead of per order-counts generation: the SLA
    # reads every order shipped in the range, too slow to run on each refresh.
    ttl = settings.DASHBOARD_FULFILLMENT_CACHE_SECONDS
    if ttl <= 0:
        return _fulfillment_numbers(filters, full=full, limits=limits, placed=placed)
    # The thresholds only matter here through their time windows.
    key = _cache_key(filters, f"fulfillment:{full}:{placed}:"
                     f"{_window(limits, 'sla_within_pct')}:"
                     f"{_window(limits, 'buyer_sla_within_pct')}:"
                     f"{_window(limits, 'tracking_return_rate')}")
    numbers = cache.get(key)
    if numbers is None:
        numbers = _fulfillment_numbers(filters, full=full, limits=limits, placed=placed)
        cache.set(key, numbers, ttl)
    return numbers


def _fulfillment_numbers(filters: DashboardFilters, *, full: bool, limits: dict,
                         placed: int | None) -> dict:
    # One check of the rollup's valid days serves the SLA and the tracking rate.
    split = _split_days(filters, True)
    sla = sla_paid_to_first_tracking(filters, window_hours=_window(limits, "sla_within_pct"),
                                     split=split)
    buyer_sla = sla_placed_to_buyer_tracking(
        filters, window_hours=_window(limits, "buyer_sla_within_pct"), split=split)
    stalled = stalled_parcels_per_carrier(filters)
    numbers = {
        "tracking": tracking_return_rate(
            filters, window_hours=_window(limits, "tracking_return_rate"), split=split),
        "complaints": complaint_ratio(filters, placed=placed),
        "stalled": sum(r["parcels"] for r in stalled),
        "stalled_per_carrier": stalled,
        "sla": sla,
        "buyer_sla": buyer_sla,
    }
    if full:
        numbers["charts"] = {
            "sla_trend": sla_trend_chart(sla),
            "buyer_sla_trend": sla_trend_chart(buyer_sla),
            "stalled": {"labels": [r["carrier"] for r in stalled],
                        "data": [r["parcels"] for r in stalled]},
        }
    return numbers
