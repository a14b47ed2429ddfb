"""The dashboard's two SLAs, each as median, p90 and share within its window, overall and per
channel, warehouse and day: "paid → first valid tracking info" (the carrier's first scan,
``sla_paid_to_first_tracking``) and "placed → first valid tracking info sent to the buyer"
(``sla_placed_to_buyer_tracking``; what "sent" means: ``reporting.buyer_tracking``), with
``sla_late_orders`` listing the orders over either's window.

Cold, the SLA and the tracking return rate read closed days from the daily rollup
too: per day it keeps every sample (paid → first tracking info of the orders first
scanned that day; shipped → first tracking info of the orders shipped that day),
so median, p90 and any time window stay exact. Other days are read live from the
parcels first scanned in them (SLA) or the orders shipped in them (tracking rate);
a day whose parcels may still arrive within the tracking window is always live.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, connections, models, router
from django.db.models import (
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.functions import TruncDate

from fulfillment.shipping.models import Waybill, WaybillQuerySet
from orderhub.models import Order
from reporting.models import DailyRollup
from reporting.selectors.rolled import (
    _scoped_rollup,
    _split_days,
)
from reporting.selectors.scope import (
    DashboardFilters,
    _channels,
    local_tz,
    scoped_orders,
)
from warehouse.models import Warehouse

# --- Fulfillment metrics: tracking, complaints, stalled parcels, SLA --------------------------
# Read from the shipping waybills and the tickets (closed days of the SLA and the
# tracking return rate from the rollup). Their changes do not start a new
# order-counts generation, so these numbers are never in the dashboard cache: they
# are cached for a short while (``fulfillment_numbers``), a few indexed queries.

# Valid tracking info comes from valid waybills only (``Waybill.objects.valid()``); the
# SQL below excludes the same statuses (``WaybillQuerySet.INVALID_STATUSES``).
DEFAULT_WINDOW_HOURS = Decimal("24")
# A parcel first scanned more than this long after shipping is a data problem, not an
# SLA sample. Per sample (not "shipped since the range start minus this"), so a day's
# samples are the same whatever range it is read in, and the rollup can keep them.
SLA_LOOKBACK_DAYS = 60


def _window(limits: dict, key: str) -> Decimal:
    threshold = limits.get(key)
    return (threshold.window_hours if threshold is not None and threshold.window_hours
            else DEFAULT_WINDOW_HOURS)


def _first_tracking():
    """Per order (``OuterRef("pk")``): the first event time over its valid waybills."""
    first = (Waybill.objects.valid().filter(order=OuterRef("pk"), first_event_at__isnull=False)
             .order_by()
             .values("order").annotate(first=Min("first_event_at")).values("first"))
    return Subquery(first, output_field=models.DateTimeField())


def _pct(part: int, whole: int, places: str = "0.1") -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(places),
                                                           rounding=ROUND_HALF_UP)


def _hours(seconds) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(str(seconds)) / Decimal(3600)).quantize(Decimal("0.1"),
                                                            rounding=ROUND_HALF_UP)


def _sla_row(n: int, median_s, p90_s, within: int) -> dict:
    return {"orders": n, "median_hours": _hours(median_s), "p90_hours": _hours(p90_s),
            "within": within, "within_pct": _pct(within, n)}


def _sla_orders(filters: DashboardFilters) -> QuerySet:
    """The orders that can be SLA samples: in scope, paid, shipped since the lookback."""
    lookback = filters.start - dt.timedelta(days=SLA_LOOKBACK_DAYS)
    return scoped_orders(filters).filter(paid_at__isnull=False, shipped_at__gte=lookback)


def _sla_samples(filters: DashboardFilters) -> QuerySet:
    """One row per order in scope whose first valid tracking info arrived in the range:
    ``pk``, ``channel_id``, ``warehouse_id``, ``d`` (local day of that info) and ``took``
    (paid → first tracking info). Orders never paid (COD...) have no SLA and are left
    out, and so are parcels first scanned more than ``SLA_LOOKBACK_DAYS`` after shipping.
    (The ORM form, for the Python path; the SQL paths state the same in SQL.)"""
    took = ExpressionWrapper(F("first_tracking") - F("paid_at"), output_field=DurationField())
    lookback = ExpressionWrapper(F("first_tracking") - dt.timedelta(days=SLA_LOOKBACK_DAYS),
                                 output_field=models.DateTimeField())
    return (_sla_orders(filters)
            .annotate(first_tracking=_first_tracking())
            .filter(filters.in_range("first_tracking"), shipped_at__gte=lookback)
            .annotate(took=took, d=TruncDate("first_tracking", tzinfo=local_tz()))
            .values("pk", "channel_id", "warehouse_id", "d", "took"))


def _sla_groups_postgres(filters: DashboardFilters, window_s: float) -> list[tuple]:
    """One grouped query: (level, key, n, median s, p90 s, within) for the whole range,
    per channel, per warehouse and per day (GROUPING SETS), percentiles in SQL.

    The fresh reference the rollup is checked against (``tests/reporting``): it reads
    every order shipped in the range and the lookback before it, so the dashboard itself
    uses ``sla_samples_live`` and the rollup instead.
    """
    orders_sql, orders_params = (_sla_orders(filters)
                                 .values("id", "channel_id", "warehouse_id", "paid_at",
                                         "shipped_at")
                                 .query.sql_with_params())
    invalid = ", ".join(["%s"] * len(WaybillQuerySet.INVALID_STATUSES))
    query = f"""
        WITH samples AS (
            SELECT o.channel_id, o.warehouse_id,
                   (ft.first_at AT TIME ZONE %s)::date AS d,
                   EXTRACT(EPOCH FROM ft.first_at - o.paid_at) AS secs
            FROM ({orders_sql}) AS o
            CROSS JOIN LATERAL (
                SELECT MIN(w.first_event_at) AS first_at FROM {Waybill._meta.db_table} w
                WHERE w.order_id = o.id AND w.first_event_at IS NOT NULL
                  AND w.status NOT IN ({invalid})
            ) AS ft
            WHERE ft.first_at >= %s AND ft.first_at < %s
              AND o.shipped_at >= ft.first_at - make_interval(days => %s)
        )
        SELECT GROUPING(channel_id), GROUPING(warehouse_id), GROUPING(d),
               channel_id, warehouse_id, d, COUNT(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY secs),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY secs),
               COUNT(*) FILTER (WHERE secs <= %s)
        FROM samples
        GROUP BY GROUPING SETS ((), (channel_id), (warehouse_id), (d))
    """
    params = [settings.TIME_ZONE, *orders_params, *WaybillQuerySet.INVALID_STATUSES,
              filters.start, filters.end, SLA_LOOKBACK_DAYS, window_s]
    # Raw SQL: the read goes where the ORM's would (the replica under replica_reads).
    with connections[router.db_for_read(Waybill)].cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    out = []
    for g_channel, g_warehouse, g_day, channel_id, warehouse_id, day, n, med, p90, within in rows:
        if not g_channel:
            level, key = "channel", channel_id
        elif not g_warehouse:
            level, key = "warehouse", warehouse_id
        elif not g_day:
            level, key = "day", day
        else:
            level, key = "all", None
        out.append((level, key, n, med, p90, within))
    return out


def sla_samples_live(filters: DashboardFilters) -> list[tuple]:
    """``(order id, channel_id, warehouse_id, local day, seconds)`` per SLA sample of the
    range (``_sla_samples``' orders, seconds paid → first valid tracking info).

    On PostgreSQL read from the parcels first scanned in the range (the waybills'
    first-event index): each is an order's first valid tracking info unless a valid
    waybill of the same order was scanned earlier (or at the same time with a lower id),
    so a day costs its ~2,000 parcels, not the 60-day lookback of shipped orders.
    """
    if connection.vendor != "postgresql":
        return [(r["pk"], r["channel_id"], r["warehouse_id"], r["d"],
                 r["took"].total_seconds()) for r in _sla_samples(filters)]

    orders_sql, orders_params = (scoped_orders(filters).filter(paid_at__isnull=False)
                                 .values("id", "channel_id", "warehouse_id", "paid_at",
                                         "shipped_at")
                                 .query.sql_with_params())
    invalid = ", ".join(["%s"] * len(WaybillQuerySet.INVALID_STATUSES))
    table = Waybill._meta.db_table
    query = f"""
        SELECT o.id, o.channel_id, o.warehouse_id, (w.first_event_at AT TIME ZONE %s)::date,
               EXTRACT(EPOCH FROM w.first_event_at - o.paid_at)::float8
        FROM {table} w
        JOIN ({orders_sql}) AS o ON o.id = w.order_id
        WHERE w.first_event_at >= %s AND w.first_event_at < %s
          AND w.status NOT IN ({invalid})
          AND o.shipped_at >= w.first_event_at - make_interval(days => %s)
          AND NOT EXISTS (
              SELECT 1 FROM {table} e
              WHERE e.order_id = w.order_id AND e.first_event_at IS NOT NULL
                AND e.status NOT IN ({invalid})
                AND (e.first_event_at < w.first_event_at
                     OR (e.first_event_at = w.first_event_at AND e.id < w.id)))
    """
    invalid_statuses = WaybillQuerySet.INVALID_STATUSES
    params = [settings.TIME_ZONE, *orders_params, filters.start, filters.end,
              *invalid_statuses, SLA_LOOKBACK_DAYS, *invalid_statuses]
    # Raw SQL: the read goes where the ORM's would (the replica under replica_reads).
    with connections[router.db_for_read(Waybill)].cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def _sla_groups_python(filters: DashboardFilters, window_s: float) -> list[tuple]:
    """The same groups as ``_sla_groups_postgres``, computed here (databases without
    ``percentile_cont``; the tests check both agree)."""
    samples = defaultdict(list)
    for row in _sla_samples(filters):
        samples[(row["channel_id"], row["warehouse_id"], row["d"])].append(
            row["took"].total_seconds())
    return _sla_groups_of(samples, window_s)


def _sla_groups_of(samples: dict, window_s: float) -> list[tuple]:
    """``_sla_groups_postgres``' rows from ``{(channel_id, warehouse_id, day): [seconds]}``,
    percentiles as ``percentile_cont`` (``percentile``)."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for (channel_id, warehouse_id, day), values in samples.items():
        groups[("all", None)] += values
        groups[("channel", channel_id)] += values
        groups[("warehouse", warehouse_id)] += values
        groups[("day", day)] += values
    out = []
    for (level, key), values in groups.items():
        # One sort per group (the rollup's sorted runs make it a merge) for both
        # percentiles and the count in time.
        values.sort()
        out.append((level, key, len(values), _percentile_sorted(values, 50),
                    _percentile_sorted(values, 90), bisect_right(values, window_s)))
    return out


def _sla_groups_rollup(filters: DashboardFilters, window_s: float,
                       split: tuple | None = None) -> list[tuple]:
    """The same groups, rolled-up days from the rollup's samples, the others live."""
    rolled, live_runs = split or _split_days(filters, True)
    return _sla_groups_of(_samples(filters, rolled, live_runs, sla_samples_live, "sla"),
                          window_s)


def _samples(filters: DashboardFilters, rolled, live_runs, live_samples, kind: str) -> dict:
    """Seconds per (channel, warehouse, day): live runs from ``live_samples``, rolled-up
    days from the rollup rows of ``kind`` (each keeps its samples, so both are exact)."""
    samples = defaultdict(list)
    for start, end in live_runs:
        part = replace(filters, date_from=start, date_to=end)
        for _pk, channel_id, warehouse_id, day, seconds in live_samples(part):
            samples[(channel_id, warehouse_id, day)].append(seconds)
    if rolled:
        rows = _scoped_rollup(DailyRollup.objects.filter(kind=kind, day__in=rolled),
                              filters).values_list("channel_id", "warehouse_id", "day",
                                                   "samples")
        for channel_id, warehouse_id, day, values in rows:
            samples[(channel_id, warehouse_id, day)] += values
    return samples


def sla_paid_to_first_tracking(filters: DashboardFilters, *,
                               window_hours: Decimal | None = None,
                               use_sql: bool | None = None,
                               split: tuple | None = None) -> dict:
    """SLA "order paid → first valid tracking info" of the orders whose first tracking info
    arrived in the range: median, p90 (hours, ``percentile_cont`` interpolation) and share
    within ``window_hours`` (default 24), overall, per channel, per warehouse and per local
    day (every day of the range, empty ones with ``orders`` 0).

    ``{"window_hours", "all": row, "by_channel": [row + "channel_id", "label"],
    "by_warehouse": [row + "warehouse_id", "label"], "by_day": [row + "day"]}``, each row
    ``{"orders", "median_hours", "p90_hours", "within", "within_pct"}``.

    ``use_sql`` None (the dashboard): rolled-up days from the rollup's per-day samples (every
    sample kept, so the percentiles are exact, not binned), the others live. True: one
    fresh query with ``percentile_cont`` in SQL; False: fresh, percentiles here.
    """
    window_hours = window_hours or DEFAULT_WINDOW_HOURS
    window_s = float(window_hours) * 3600
    if use_sql is None:
        groups = _sla_groups_rollup(filters, window_s, split)
    else:
        groups = (_sla_groups_postgres if use_sql else _sla_groups_python)(filters, window_s)

    return _sla_result(filters, window_hours, groups)


def _sla_result(filters: DashboardFilters, window_hours: Decimal, groups: list[tuple]) -> dict:
    """The SLA dict (``sla_paid_to_first_tracking``'s shape) from ``_sla_groups_*`` rows."""
    empty = _sla_row(0, None, None, 0)
    result = {"window_hours": window_hours, "all": empty, "by_channel": [],
              "by_warehouse": [], "by_day": []}
    per_day = {}
    channels = _channels()
    warehouses = dict(Warehouse.objects.values_list("pk", "name"))
    for level, key, n, med, p90, within in groups:
        row = _sla_row(n, med, p90, within)
        if level == "all":
            result["all"] = row
        elif level == "channel":
            label = channels.get(key, ("", "—"))[1]
            result["by_channel"].append({**row, "channel_id": key, "label": label})
        elif level == "warehouse":
            result["by_warehouse"].append({**row, "warehouse_id": key,
                                           "label": warehouses.get(key, "—")})
        else:
            per_day[key] = row
    result["by_channel"].sort(key=lambda r: r["label"])
    result["by_warehouse"].sort(key=lambda r: (r["warehouse_id"] is None, r["label"]))
    result["by_day"] = [{**per_day.get(day, empty), "day": day} for day in filters.days]
    return result


# --- SLA "placed → first valid tracking info sent to the buyer" -------------------------------
# The moment is stamped once per order (``reporting.models.BuyerTrackingInfo``, see
# ``reporting.buyer_tracking``), so a day's samples are the stamps that fell on it: the
# live days read them by the stamp's index, closed days from the rollup (kind ``buyer``).


def buyer_samples_live(filters: DashboardFilters) -> list[tuple]:
    """``(order id, channel_id, warehouse_id, local day, seconds)`` per order in scope whose
    first valid tracking info reached the buyer in the range (the stamp's day), seconds
    from placing to that moment."""
    took = ExpressionWrapper(F("buyer_tracking__at") - F("placed_at"),
                             output_field=DurationField())
    rows = (scoped_orders(filters).filter(filters.in_range("buyer_tracking__at"))
            .annotate(took=took, d=TruncDate("buyer_tracking__at", tzinfo=local_tz()))
            .values_list("pk", "channel_id", "warehouse_id", "d", "took"))
    return [(pk, channel_id, warehouse_id, day, delta.total_seconds())
            for pk, channel_id, warehouse_id, day, delta in rows]


def _buyer_groups(filters: DashboardFilters, window_s: float, use_rollup: bool,
                  split: tuple | None) -> list[tuple]:
    rolled, live_runs = split or _split_days(filters, use_rollup)
    if not use_rollup:
        rolled, live_runs = set(), [(filters.date_from, filters.date_to)]
    return _sla_groups_of(_samples(filters, rolled, live_runs, buyer_samples_live, "buyer"),
                          window_s)


def sla_placed_to_buyer_tracking(filters: DashboardFilters, *,
                                 window_hours: Decimal | None = None,
                                 use_rollup: bool = True, split: tuple | None = None) -> dict:
    """SLA "order placed → first valid tracking info sent to the buyer" of the orders whose
    buyer got it in the range, in ``sla_paid_to_first_tracking``'s shape (median, p90,
    share within ``window_hours`` of placing; overall, per channel, warehouse, day).

    Rolled-up days from the rollup's per-day samples (exact), the others live;
    ``use_rollup=False``: every day live (the fresh aggregate the rollup is tested on)."""
    window_hours = window_hours or DEFAULT_WINDOW_HOURS
    window_s = float(window_hours) * 3600
    return _sla_result(filters, window_hours,
                       _buyer_groups(filters, window_s, use_rollup, split))


SLA_KINDS = ("paid", "buyer")
LATE_LIST_LIMIT = 500


def sla_late_orders(filters: DashboardFilters, *, kind: str, window_hours: Decimal | None = None,
                    limit: int = LATE_LIST_LIMIT) -> dict:
    """The drill-down of an SLA: the orders counted in the range that took longer than
    ``window_hours`` (kind ``paid``: paid → first valid tracking info; ``buyer``: placed →
    first valid tracking info sent to the buyer), slowest first, at most ``limit``:
    ``{"count", "window_hours", "rows": [{"order", "hours", "at"}]}``. The same samples as
    the figures (read live), so ``count`` is the figure's ``orders - within``."""
    if kind not in SLA_KINDS:
        raise ValueError(kind)
    window_hours = window_hours or DEFAULT_WINDOW_HOURS
    window_s = float(window_hours) * 3600
    samples = (sla_samples_live if kind == "paid" else buyer_samples_live)(filters)
    late = sorted(((seconds, pk) for pk, *_key, seconds in samples if seconds > window_s),
                  reverse=True)
    shown = late[:limit]
    orders = Order.objects.select_related("channel", "warehouse").in_bulk(
        [pk for _s, pk in shown])
    at_field = "buyer_tracking__at" if kind == "buyer" else None
    stamps = {}
    if at_field:
        stamps = dict(Order.objects.filter(pk__in=[pk for _s, pk in shown])
                      .values_list("pk", at_field))
    rows = [{"order": orders[pk], "hours": _hours(seconds), "at": stamps.get(pk)}
            for seconds, pk in shown if pk in orders]
    return {"count": len(late), "window_hours": window_hours, "rows": rows}


def sla_trend_chart(sla: dict) -> dict:
    """Chart series of the SLA per day: median and p90 hours (gaps on empty days)."""
    return {
        "labels": [row["day"].isoformat() for row in sla["by_day"]],
        "median": [_float(row["median_hours"]) for row in sla["by_day"]],
        "p90": [_float(row["p90_hours"]) for row in sla["by_day"]],
        "within": [_float(row["within_pct"]) for row in sla["by_day"]],
    }


def _float(value):
    return None if value is None else float(value)


def percentile(values: list, p: float):
    """The ``p``-th percentile (0–100) with linear interpolation, as PostgreSQL's
    ``percentile_cont``; None for an empty list. Works on numbers and timedeltas."""
    return _percentile_sorted(sorted(values), p)


def _percentile_sorted(ordered: list, p: float):
    """``percentile`` of an already sorted list."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
