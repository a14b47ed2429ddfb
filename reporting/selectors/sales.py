"""Placed / paid / shipped counts, sales and paid → shipped time: the breakdown tables,
the chart series and the ship-time card, from three grouped queries (one per timestamp)
and the daily rollup for closed days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate

from channels.models import Channel
from orderhub.models import Order, OrderStatus
from reporting.models import DailyRollup
from reporting.selectors.rolled import (
    ORDER_KINDS,
    _scoped_rollup,
    _split_days,
)
from reporting.selectors.scope import (
    DashboardFilters,
    _channels,
    local_tz,
    orders_url,
    scoped_orders,
)

S = OrderStatus


# Upper bounds (hours) of the paid → shipped histogram buckets; the last is open.
SHIP_TIME_BUCKETS = [4, 8, 24, 48, 72]

def shipped_in_range(filters: DashboardFilters) -> QuerySet[Order]:
    return scoped_orders(filters).filter(filters.in_range("shipped_at"), paid_at__isnull=False)


_SHIP_TIME = ExpressionWrapper(F("shipped_at") - F("paid_at"), output_field=DurationField())


def _bucket_aggregates() -> tuple[dict, list[str]]:
    aggregates, labels, lower = {}, [], None
    for i, upper in enumerate([*SHIP_TIME_BUCKETS, None]):
        q = Q(ship_time__isnull=False)
        if lower is not None:
            q &= Q(ship_time__gt=dt.timedelta(hours=lower))
        if upper is not None:
            q &= Q(ship_time__lte=dt.timedelta(hours=upper))
        aggregates[f"b{i}"] = Count("id", filter=q)
        labels.append(f"≤ {upper} h" if upper is not None else f"> {lower} h")
        lower = upper
    return aggregates, labels


def _microseconds(delta) -> int:
    if delta is None:
        return 0
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def ship_groups(filters: DashboardFilters) -> list[dict]:
    """Orders shipped in the range per (channel, warehouse, currency), live: count, and
    for those with a payment time the paid → shipped total and histogram (rollup input)."""
    aggregates, _labels = _bucket_aggregates()
    rows = (scoped_orders(filters).filter(filters.in_range("shipped_at"))
            .annotate(ship_time=_SHIP_TIME)
            .values("channel_id", "warehouse_id", "currency")
            .annotate(n=Count("id"), ship_n=Count("id", filter=Q(paid_at__isnull=False)),
                      ship_sum=Sum("ship_time"), **aggregates))
    return [{**row, "ship_microseconds": _microseconds(row.pop("ship_sum"))} for row in rows]


def ship_time_stats(filters: DashboardFilters, *, use_rollup: bool = True,
                    split: tuple | None = None) -> dict:
    """Average paid → shipped time, count and histogram of the orders shipped in the range:
    ``{"hours", "orders", "buckets": [{"label", "orders"}, ...]}``. Rolled-up days are
    read from the rollup, the others (today, changed days) live, one query each."""
    aggregates, labels = _bucket_aggregates()
    rolled, live_runs = split or _split_days(filters, use_rollup)
    total_us, n, buckets = 0, 0, [0] * len(labels)
    for start, end in live_runs:
        part = replace(filters, date_from=start, date_to=end)
        row = shipped_in_range(part).annotate(ship_time=_SHIP_TIME).aggregate(
            total=Sum("ship_time"), n=Count("id"), **aggregates)
        total_us += _microseconds(row["total"])
        n += row["n"]
        buckets = [b + row[f"b{i}"] for i, b in enumerate(buckets)]
    if rolled:
        sums = {f"b{i}": Sum(f"b{i}") for i in range(len(labels))}
        row = _scoped_rollup(DailyRollup.objects.filter(kind="shipped", day__in=rolled),
                             filters).aggregate(us=Sum("ship_microseconds"), n=Sum("ship_n"),
                                                **sums)
        total_us += row["us"] or 0
        n += row["n"] or 0
        buckets = [b + (row[f"b{i}"] or 0) for i, b in enumerate(buckets)]
    return _ship_stats(total_us, n, buckets, labels)


def _ship_stats(total_us: int, n: int, buckets: list[int], labels: list[str]) -> dict:
    hours = None
    if n:
        hours = (Decimal(total_us) / Decimal(n) / Decimal(3_600_000_000)).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP)
    return {
        "hours": hours,
        "orders": n,
        "buckets": [{"label": label, "orders": buckets[i]} for i, label in enumerate(labels)],
    }


def ship_time_stats_from_groups(groups: dict) -> dict:
    """``ship_time_stats`` from ``range_groups`` rows (their "shipped" rows carry the
    paid → shipped sums), so the full dashboard needs no query of its own for it."""
    _aggregates, labels = _bucket_aggregates()
    total_us, n, buckets = 0, 0, [0] * len(labels)
    for row in groups["shipped"]:
        total_us += row["ship_microseconds"] or 0
        n += row["ship_n"] or 0
        buckets = [b + (row[f"b{i}"] or 0) for i, b in enumerate(buckets)]
    return _ship_stats(total_us, n, buckets, labels)


def paid_to_shipped(filters: DashboardFilters) -> dict:
    """Average paid → shipped time of the orders shipped in the range, and how many."""
    stats = ship_time_stats(filters)
    return {"hours": stats["hours"], "orders": stats["orders"]}


def ship_time_histogram(filters: DashboardFilters) -> list[dict]:
    """How many orders shipped in the range took ≤ 4 h, ≤ 8 h, ..."""
    return ship_time_stats(filters)["buckets"]



# Every table and chart below is derived from three GROUP BY queries, one per
# timestamp (placed, paid, shipped), each grouped by local day, channel and
# currency and each using that timestamp's index: no query scans all orders.


def _money(amount) -> Decimal:
    return (amount or Decimal("0")).quantize(Decimal("0.01"))


def range_groups(filters: DashboardFilters, *, by_warehouse: bool = False,
                 use_rollup: bool = True, split: tuple | None = None) -> dict[str, list[dict]]:
    """``{"placed": [...], "paid": [...], "shipped": [...]}``: rows of ``d`` (local day),
    ``channel_id``, ``currency`` (and ``warehouse_id`` with ``by_warehouse``) and the
    counts/sums for that day. Rolled-up days come from the rollup, the rest live."""
    tz = local_tz()
    # Sales are what was paid in the range and not cancelled since.
    not_cancelled = ~Q(status=S.CANCELLED)
    keys = ["d", "channel_id", "currency", *(["warehouse_id"] if by_warehouse else [])]
    rolled, live_runs = split or _split_days(filters, use_rollup and not by_warehouse)
    out: dict[str, list[dict]] = {"placed": [], "paid": [], "shipped": []}

    for start, end in live_runs:
        base = scoped_orders(replace(filters, date_from=start, date_to=end))
        part = replace(filters, date_from=start, date_to=end)

        def grouped(field_name, _base=base, _part=part, **aggregates):
            return list(_base.filter(_part.in_range(field_name))
                        .annotate(d=TruncDate(field_name, tzinfo=tz))
                        .values(*keys).annotate(**aggregates))

        out["placed"] += grouped("placed_at", n=Count("id"),
                                 cancelled=Count("id", filter=Q(status=S.CANCELLED)))
        out["paid"] += grouped("paid_at", n=Count("id"), kept=Count("id", filter=not_cancelled),
                               total=Sum("total", filter=not_cancelled))
        ship_aggregates, _labels = _bucket_aggregates()
        for row in grouped("shipped_at", _base=base.annotate(ship_time=_SHIP_TIME),
                           n=Count("id"), ship_n=Count("id", filter=Q(paid_at__isnull=False)),
                           ship_sum=Sum("ship_time"), **ship_aggregates):
            row["ship_microseconds"] = _microseconds(row.pop("ship_sum"))
            out["shipped"].append(row)

    if rolled:
        rows = (_scoped_rollup(DailyRollup.objects.filter(day__in=rolled, kind__in=ORDER_KINDS),
                               filters)
                .values("day", "kind", "channel_id", "currency")
                .annotate(n=Sum("n"), cancelled=Sum("cancelled"), kept=Sum("kept"),
                          total=Sum("total"), ship_n=Sum("ship_n"),
                          ship_microseconds=Sum("ship_microseconds"),
                          **{f"b{i}": Sum(f"b{i}") for i in range(len(SHIP_TIME_BUCKETS) + 1)})
                .order_by())
        for row in rows:
            row["d"] = row.pop("day")
            out[row.pop("kind")].append(row)
    return out


def _add_range_counts(groups: dict, entry_of) -> None:
    """Add ``range_groups`` rows to table rows (``entry_of(group row)``: its table row):
    placed and cancelled by placing time, paid and sales by payment, shipped."""
    for row in groups["placed"]:
        entry = entry_of(row)
        entry["placed"] += row["n"]
        entry["cancelled"] += row["cancelled"]
    for row in groups["paid"]:
        entry = entry_of(row)
        entry["paid"] += row["n"]
        if row["total"] is not None:
            entry["sales"][row["currency"]] += row["total"]
    for row in groups["shipped"]:
        entry_of(row)["shipped"] += row["n"]


def _table_row(entry: dict, filters: DashboardFilters, scope: list[tuple]) -> dict:
    """Finish a table row: its sales rounded per currency, and its drill-down links (the
    orders placed, paid, shipped and cancelled in ``filters``' range with the ``scope``
    pairs; none while a category filter is set)."""
    entry["links"] = {} if not filters.can_drill_down else {
        "placed": orders_url([*filters.range_params(), *scope]),
        "paid": orders_url([*filters.range_params("paid"), *scope]),
        "shipped": orders_url([*filters.range_params("shipped"), *scope]),
        "cancelled": orders_url([("status", S.CANCELLED), *filters.range_params(), *scope]),
    }
    entry["sales"] = {c: _money(v) for c, v in sorted(entry["sales"].items())}
    return entry


def by_day(filters: DashboardFilters, groups: dict | None = None) -> list[dict]:
    """One row per local day of the range (empty days included): placed, paid, shipped,
    cancelled, and sales per currency, each count with its drill-down link."""
    groups = groups or range_groups(filters)
    rows = {day: {"day": day, "placed": 0, "paid": 0, "shipped": 0, "cancelled": 0,
                  "sales": defaultdict(Decimal)} for day in filters.days}
    _add_range_counts(groups, lambda row: rows[row["d"]])

    scope = filters.scope_params()
    return [_table_row(rows[day], replace(filters, date_from=day, date_to=day), scope)
            for day in filters.days]


def by_platform(filters: DashboardFilters, groups: dict | None = None, *,
                channels: dict | None = None) -> list[dict]:
    """Placed / paid / shipped / cancelled in the range per platform, with sales per currency."""
    groups = groups or range_groups(filters)
    channels = channels or _channels()
    labels = dict(Channel.Platform.choices)
    merged: dict[str, dict] = {}

    def item(channel_id):
        platform = channels[channel_id][0]
        return merged.setdefault(platform, {
            "platform": platform, "label": str(labels.get(platform, platform)), "placed": 0,
            "paid": 0, "shipped": 0, "cancelled": 0, "sales": defaultdict(Decimal),
        })

    _add_range_counts(groups, lambda row: item(row["channel_id"]))

    scope = [p for p in filters.scope_params() if p[0] != "platform"]
    return [_table_row(merged[platform], filters, [("platform", platform), *scope])
            for platform in sorted(merged)]


def sales_summary(filters: DashboardFilters, groups: dict | None = None, *,
                  channels: dict | None = None) -> list[dict]:
    """Daily sales per platform, day and currency: orders paid that day, not cancelled."""
    groups = groups or range_groups(filters)
    channels = channels or _channels()
    merged: dict[tuple, list] = {}
    for row in groups["paid"]:
        if not row["kept"]:
            continue
        key = (row["d"], channels[row["channel_id"]][0], row["currency"])
        entry = merged.setdefault(key, [0, Decimal("0")])
        entry[0] += row["kept"]
        entry[1] += row["total"]
    return [{"day": day, "platform": platform, "currency": currency, "orders": n,
             "total": _money(total)}
            for (day, platform, currency), (n, total) in sorted(merged.items())]


def orders_per_day_per_channel(filters: DashboardFilters, groups: dict | None = None, *,
                               channels: dict | None = None) -> dict:
    """Chart series: placed orders per local day, one series per channel."""
    groups = groups or range_groups(filters)
    channels = channels or _channels()
    series: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for row in groups["placed"]:
        series[channels[row["channel_id"]][1]][row["d"]] += row["n"]
    return {
        "labels": [d.isoformat() for d in filters.days],
        "series": [{"label": name, "data": [per_day.get(d, 0) for d in filters.days]}
                   for name, per_day in sorted(series.items())],
    }


def placed_count(filters: DashboardFilters) -> int:
    return scoped_orders(filters).filter(filters.in_range("placed_at")).count()

