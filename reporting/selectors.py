"""Read side of reporting: KPI cards, breakdowns, chart series and summaries.

Every number is an SQL aggregate over the orders (the one exception is the
rollup's per-category grouping of a day, ``category_groups``, which groups a
day's few thousand rows in Python so its cost does not grow with the number of
categories; the category table's live days are one grouped query on PostgreSQL,
``_category_totals_live``), and every count carries the order-list query string that selects
exactly the orders it counted (``orders_url``), so a click on a card shows
those orders and no others.

Two kinds of card:
- "now" cards (awaiting shipment, out of stock, in review, urgent not picked)
  count the orders in a state at this moment; the date range does not apply,
  the channel/platform/warehouse/category filters do.
- "range" cards (paid → shipped time) look at what happened in the date range.

Speed: the views read ``dashboard_numbers`` (cached per order-counts
generation, so never stale), and the range tables read closed days from the
daily rollup (``reporting.rollup``, also per category) and only today and
changed days live. Cold (a changed hub), the million-order benchmark spends
~40 ms on the backlog cards (index-only), ~50 ms on today's grouped queries
and ~80 ms on today's category table.

SKU category: an order is "in" category C when at least one of its lines sells
a SKU of category C. Gift lines do not count (neither ``OrderLine.is_gift`` nor
a SKU flagged as a gift): a free sample must not pull an order into the
sample's category. A kit counts under the kit SKU's own category, not under
its components' (the line sold the kit). Lines whose SKU is unknown or has no
category put the order in no category. An order with lines in two categories
is in both, so the category table's rows can add up to more than the total.
The order list cannot filter by category, so while a category filter is set
the cards and tables carry no drill-down links (they would show more orders
than were counted).

Fulfillment metrics (tracking return rate, complaint ratio, stalled parcels, the
SLA "paid → first valid tracking info") read waybills and tickets, which change
without touching orders, so ``fulfillment_numbers`` caches them for a short while
(``DASHBOARD_FULFILLMENT_CACHE_SECONDS``, default 60 s). The stalled card links
to the waybill list's stalled filter and the complaint card to the ticket
queue's complaint filter,
each with the same scope, so they list exactly what was counted; no page can
filter by tracking time, so the tracking card links to the orders shipped in
the range and the SLA cards to the dashboard's SLA table.

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
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models
from django.db.models import (
    Case,
    Count,
    DateField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    When,
)
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from orderhub.models import Order, OrderLine, OrderStatus

S = OrderStatus

# Paid and not yet shipped (or cancelled): the shipping backlog. The index for the
# category filter's backlog (reporting migration 0008) has the same condition.
AWAITING_SHIPMENT = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING, S.PICKED,
                     S.ON_HOLD]
# Urgent work nobody has finished picking. Held orders are left out on purpose:
# someone stopped them, so they are not late work for the pickers.
NOT_YET_PICKED = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING]
URGENT_MIN_PRIORITY = Order.Priority.H4

# A cached dashboard is keyed by the order-counts generation, so this only bounds
# how long an unused entry lingers.
DASHBOARD_CACHE_SECONDS = 300

# Upper bounds (hours) of the paid → shipped histogram buckets; the last is open.
SHIP_TIME_BUCKETS = [4, 8, 24, 48, 72]


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_midnight(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in TIME_ZONE (as an aware datetime)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=local_tz())


def orders_url(params) -> str:
    """``/orders/?...`` for ``params`` (a list of pairs; a key may repeat, e.g. status)."""
    pairs = [(k, v) for k, v in params if v not in (None, "")]
    return f"{reverse('orders:list')}?{urlencode(pairs)}"


def sku_categories() -> list[str]:
    """The SKU categories there are, sorted (blank left out)."""
    from warehouse.models import SKU

    return list(SKU.objects.exclude(category="").order_by("category")
                .values_list("category", flat=True).distinct())


class _ExistsPerRow(Exists):
    """EXISTS that PostgreSQL checks per outer row (``OFFSET 0`` keeps it from becoming a
    semi-join): a few thousand orders probe their own lines in an index (reporting
    migration 0008; ~10 ms) instead of hashing every line of the category (~50 ms, what
    the planner picks otherwise)."""

    def as_sql(self, compiler, connection, template=None, **extra_context):
        if connection.vendor == "postgresql":
            template = "EXISTS(%(subquery)s OFFSET 0)"
        return super().as_sql(compiler, connection, template=template, **extra_context)


def category_q(category: str, *, order=None, per_row: bool = True) -> Q:
    """Orders with a non-gift line selling a non-gift SKU of ``category`` (module docstring).
    ``order``: what the lines' order is (default: the order of the query it filters).
    ``per_row=False`` for a filter over very many orders (the whole backlog): a semi-join."""
    from warehouse.models import SKU

    codes = SKU.objects.filter(category=category, is_gift=False).values("code")
    exists = _ExistsPerRow if per_row else Exists
    return Q(exists(OrderLine.objects.filter(order=order if order is not None
                                             else OuterRef("pk"), is_gift=False,
                                             sku_code__in=codes)))


@dataclass(frozen=True)
class DashboardFilters:
    date_from: dt.date
    date_to: dt.date
    channel: object | None = None  # channels.Channel
    platform: str = ""
    warehouse: object | None = None  # warehouse.Warehouse
    category: str = ""  # warehouse.SKU.category

    @property
    def start(self) -> dt.datetime:
        return local_midnight(self.date_from)

    @property
    def end(self) -> dt.datetime:
        """Exclusive: midnight after the last day."""
        return local_midnight(self.date_to + dt.timedelta(days=1))

    @property
    def days(self) -> list[dt.date]:
        n = (self.date_to - self.date_from).days + 1
        return [self.date_from + dt.timedelta(days=i) for i in range(n)]

    def scope_q(self, *, per_row: bool = True) -> Q:
        """Channel, platform, warehouse and SKU category: the filters every card obeys
        (``per_row``: see ``category_q``)."""
        q = Q()
        if self.channel is not None:
            q &= Q(channel=self.channel)
        if self.platform:
            q &= Q(channel__platform=self.platform)
        if self.warehouse is not None:
            q &= Q(warehouse=self.warehouse)
        if self.category:
            q &= category_q(self.category, per_row=per_row)
        return q

    @property
    def can_drill_down(self) -> bool:
        """The order list has no category filter: a link would show more than was counted."""
        return not self.category

    def in_range(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.start, f"{field_name}__lt": self.end})

    def scope_params(self) -> list[tuple[str, str]]:
        return [
            ("channel", getattr(self.channel, "code", "")),
            ("platform", self.platform),
            ("warehouse", getattr(self.warehouse, "code", "")),
        ]

    def range_params(self, prefix: str = "") -> list[tuple[str, str]]:
        """The date range as order-list parameters on placed (``from``/``to``) or another field."""
        start, end = ("from", "to") if not prefix else (f"{prefix}_from", f"{prefix}_to")
        return [(start, self.date_from.isoformat()), (end, self.date_to.isoformat())]

    def query_string(self) -> str:
        """The dashboard's own query string for these filters (for exports and the wall)."""
        pairs = [("from", self.date_from.isoformat()), ("to", self.date_to.isoformat()),
                 *self.scope_params(), ("category", self.category)]
        return urlencode([(k, v) for k, v in pairs if v])


def scoped_orders(filters: DashboardFilters, *, per_row: bool = True) -> QuerySet[Order]:
    return Order.objects.filter(filters.scope_q(per_row=per_row)).order_by()


def _status_params(statuses) -> list[tuple[str, str]]:
    return [("status", str(s)) for s in statuses]


# --- KPI cards ---------------------------------------------------------------------------


@dataclass
class Card:
    key: str
    label: str
    value: Decimal | int | None
    state: str = "na"
    link: str = ""
    scope: str = "now"  # "now" or "range"
    unit: str = ""
    hint: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def display(self) -> str:
        if self.value is None:
            return "—"
        return f"{self.value}"


def snapshot_counts(filters: DashboardFilters) -> dict[str, int]:
    """The "now" counts in one query over the backlog statuses.

    ``COUNT(status)``, not ``COUNT(id)`` (status is never NULL, so the counts are the
    same): every column this reads (status, priority, channel, warehouse) is in the
    partial ``order_backlog_idx``, so PostgreSQL answers from the index alone
    (index-only scan: ~40 ms instead of ~500 ms for the 120,000-order backlog of the
    million-order benchmark, cold).
    """
    urgent = Q(priority__gte=URGENT_MIN_PRIORITY, status__in=NOT_YET_PICKED)
    # The whole backlog: the category (if any) as a semi-join over the category's lines.
    return scoped_orders(filters, per_row=False).filter(status__in=AWAITING_SHIPMENT).aggregate(
        awaiting_shipment=Count("status"),
        out_of_stock=Count("status", filter=Q(status=S.OUT_OF_STOCK)),
        in_review=Count("status", filter=Q(status=S.REVIEW)),
        urgent_not_picked=Count("status", filter=urgent),
    )


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
        from reporting.models import DailyRollup

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


def channels_with_sync_problems(filters: DashboardFilters) -> int:
    from channels.models import Channel

    qs = Channel.objects.filter(enabled=True).filter(
        Q(paused=True) | Q(consecutive_failures__gt=0)
    )
    if filters.channel is not None:
        qs = qs.filter(pk=filters.channel.pk)
    if filters.platform:
        qs = qs.filter(platform=filters.platform)
    return qs.count()


def thresholds() -> dict:
    from reporting.models import KpiThreshold

    return {t.kpi: t for t in KpiThreshold.objects.all()}


def _state(limits: dict, key: str, value) -> str:
    threshold = limits.get(key)
    if threshold is None:
        return "na" if value is None else "ok"
    return threshold.state(value)


def kpi_cards(filters: DashboardFilters, numbers: dict | None = None,
              fulfillment: dict | None = None) -> list[Card]:
    """Every card, in display order, with its value, state and drill-down link.

    ``numbers`` are ``dashboard_numbers(filters)`` and ``fulfillment`` are
    ``fulfillment_numbers(filters)`` when the caller has them already; thresholds and
    channel health are always read fresh (both are tiny).
    """
    from reporting.models import Kpi

    limits = thresholds()
    counts = numbers["snapshot"] if numbers else snapshot_counts(filters)
    scope = filters.scope_params()
    scope_pairs = [(k, v) for k, v in scope if v]
    ship = numbers["ship"] if numbers else ship_time_stats(filters)

    def card(key, value, link="", scope_kind="now", unit="", hint="", **extra):
        if not filters.can_drill_down and link.startswith(reverse("orders:list")):
            link = ""
        return Card(key=key, label=Kpi(key).label, value=value,
                    state=_state(limits, key, value), link=link, scope=scope_kind, unit=unit,
                    hint=hint, extra=extra)

    try:
        channels_link = reverse("channels:health")
    except Exception:  # noqa: BLE001 - the channels page is optional for the dashboard
        channels_link = ""

    fulfillment = fulfillment if fulfillment is not None else fulfillment_numbers(
        filters, full=False, limits=limits, placed=numbers.get("placed") if numbers else None)
    tracking, complaints = fulfillment["tracking"], fulfillment["complaints"]
    sla = fulfillment["sla"]["all"]
    sla_window = fulfillment["sla"]["window_hours"]
    shipped_link = orders_url([*filters.range_params("shipped"), *scope])
    # Neither the order list nor the waybill list can filter by tracking time, so the SLA
    # cards point at the dashboard's own SLA table (per channel and warehouse).
    sla_link = "#sla" if sla["orders"] else ""
    try:
        # The waybill list's "stalled" tab and the ticket queue take the same scope (and,
        # for complaints, opened dates and "linked to an order") as the counts, so each
        # link lists exactly what its card counted. Neither filters by SKU category.
        stalled_link = (f"{reverse('shipping:waybills')}?"
                        f"{urlencode([('status', 'stalled'), *scope_pairs])}")
        complaints_link = (f"{reverse('tickets:queue')}?" + urlencode(
            [("kind", "complaint"), ("status", "all"), ("linked", "1"),
             *filters.range_params("opened"), *scope_pairs]))
    except Exception:  # noqa: BLE001 - the fulfillment pages are optional for the dashboard
        stalled_link = complaints_link = ""
    if not filters.can_drill_down:
        stalled_link = complaints_link = ""
    sla_hint = _("%(n)s orders got their first tracking info in the range") % {
        "n": sla["orders"]}
    return [
        card(Kpi.AWAITING_SHIPMENT, counts["awaiting_shipment"],
             orders_url([*_status_params(AWAITING_SHIPMENT), *scope])),
        card(Kpi.PAID_TO_SHIPPED, ship["hours"],
             orders_url([*filters.range_params("shipped"), *scope]) if ship["orders"] else "",
             scope_kind="range", unit="h",
             hint=_("%(n)s orders shipped in the range") % {"n": ship["orders"]},
             orders=ship["orders"]),
        card(Kpi.TRACKING_RETURN_RATE, tracking["rate"],
             shipped_link if tracking["orders"] or tracking["pending"] else "",
             scope_kind="range", unit="%",
             hint=_("%(in_time)s of %(n)s shipped orders scanned within %(hours)s h"
                    " (%(pending)s still within the window)") % {
                 "in_time": tracking["in_time"], "n": tracking["orders"],
                 "hours": _hours_text(tracking["window_hours"]),
                 "pending": tracking["pending"]},
             orders=tracking["shipped"]),
        card(Kpi.COMPLAINT_RATIO, complaints["ratio"], complaints_link,
             scope_kind="range", unit="%",
             hint=_("%(c)s orders with a complaint / %(n)s orders placed") % {
                 "c": complaints["complaints"], "n": complaints["orders"]},
             orders=complaints["orders"]),
        card(Kpi.OUT_OF_STOCK, counts["out_of_stock"],
             orders_url([*_status_params([S.OUT_OF_STOCK]), *scope])),
        card(Kpi.IN_REVIEW, counts["in_review"],
             orders_url([*_status_params([S.REVIEW]), *scope])),
        card(Kpi.STALLED_PARCELS, fulfillment["stalled"], stalled_link,
             hint=_("Open parcels without a tracking update for too long.")),
        card(Kpi.CHANNEL_SYNC_PROBLEMS, channels_with_sync_problems(filters), channels_link,
             hint=_("Paused or failing channels (warehouse and category filters do not apply).")),
        card(Kpi.URGENT_NOT_PICKED, counts["urgent_not_picked"],
             orders_url([*_status_params(NOT_YET_PICKED),
                         ("priority_min", str(int(URGENT_MIN_PRIORITY))), *scope])),
        card(Kpi.SLA_MEDIAN, sla["median_hours"], sla_link, scope_kind="range", unit="h",
             hint=sla_hint, orders=sla["orders"]),
        card(Kpi.SLA_P90, sla["p90_hours"], sla_link, scope_kind="range", unit="h",
             hint=sla_hint, orders=sla["orders"]),
        card(Kpi.SLA_WITHIN, sla["within_pct"], sla_link, scope_kind="range", unit="%",
             hint=_("%(within)s of %(n)s within %(hours)s h of payment") % {
                 "within": sla["within"], "n": sla["orders"],
                 "hours": _hours_text(sla_window)},
             orders=sla["orders"]),
    ]


def _hours_text(hours: Decimal) -> str:
    """24.0 → "24", 1.5 → "1.5"."""
    return f"{hours.normalize():f}" if isinstance(hours, Decimal) else str(hours)


def _cache_key(filters: DashboardFilters, part: str) -> str:
    from orderhub.services.orders import order_counts_generation

    parts = [filters.date_from.isoformat(), filters.date_to.isoformat(),
             str(getattr(filters.channel, "pk", "")), filters.platform,
             str(getattr(filters.warehouse, "pk", "")), filters.category, settings.TIME_ZONE,
             get_language() or ""]
    return f"reporting:dashboard:{order_counts_generation()}:{part}:{'|'.join(parts)}"


def dashboard_numbers(filters: DashboardFilters, *, full: bool = True) -> dict:
    """Every order aggregate the dashboard shows, cached per order-counts generation.

    Any order create, transition or edit starts a new generation (on commit), so a
    cached answer is never stale; repeated views and the wall's 30 s polling of
    an unchanged hub cost one cache read. ``full=False``: only what the cards need.
    """
    key = _cache_key(filters, "full" if full else "cards")
    numbers = cache.get(key)
    if numbers is None:
        # One validity check of the rollup serves the cards and the tables.
        split = _split_days(filters, True)
        numbers = {"snapshot": snapshot_counts(filters)}
        if not full:
            numbers["ship"] = ship_time_stats(filters, split=split)
            numbers["placed"] = placed_count(filters)
        else:
            groups = range_groups(filters, split=split)
            channels = _channels()
            numbers.update({
                "ship": ship_time_stats_from_groups(groups),
                "by_day": by_day(filters, groups),
                "by_platform": by_platform(filters, groups, channels=channels),
                "sales": sales_summary(filters, groups, channels=channels),
                "per_channel": orders_per_day_per_channel(filters, groups, channels=channels),
                "by_category": by_category(filters),
            })
            numbers["placed"] = sum(row["n"] for row in groups["placed"])
        cache.set(key, numbers, DASHBOARD_CACHE_SECONDS)
    return numbers


# --- breakdowns ------------------------------------------------------------------------------
# Every table and chart below is derived from three GROUP BY queries, one per
# timestamp (placed, paid, shipped), each grouped by local day, channel and
# currency and each using that timestamp's index: no query scans all orders.


def _money(amount) -> Decimal:
    return (amount or Decimal("0")).quantize(Decimal("0.01"))


def _split_days(filters: DashboardFilters, use_rollup: bool,
                categories=None) -> tuple[set, list[tuple]]:
    """The range's days with a valid rollup (for ``categories``, default: the filter's),
    and the other days as contiguous (from, to) runs."""
    rolled: set = set()
    if use_rollup:
        from reporting.rollup import valid_days

        if categories is None:
            categories = [filters.category] if filters.category else []
        rolled = valid_days(filters.date_from, filters.date_to, categories)
    return rolled, _runs(filters, rolled)


def _runs(filters: DashboardFilters, skip: set) -> list[tuple]:
    """The range's days not in ``skip`` as contiguous (from, to) runs."""
    runs: list[list] = []
    for day in filters.days:
        if day in skip:
            continue
        if runs and runs[-1][1] == day - dt.timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [tuple(run) for run in runs]


def _scoped_rollup(qs, filters: DashboardFilters, *, by_category: bool = False):
    """``qs`` narrowed to the filters' scope; ``by_category``: leave the category to the caller."""
    if filters.channel is not None:
        qs = qs.filter(channel=filters.channel)
    if filters.platform:
        qs = qs.filter(channel__platform=filters.platform)
    if filters.warehouse is not None:
        qs = qs.filter(warehouse=filters.warehouse)
    if by_category:
        return qs
    # Rows with a blank category are the whole scope; the others only that category's orders.
    return qs.filter(category=filters.category)


# The rollup kinds that count orders by one of their timestamps (the other, "sla", holds
# the SLA samples of a day's first tracking info).
ORDER_KINDS = ("placed", "paid", "shipped")


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
        from reporting.models import DailyRollup

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


def _channels() -> dict[int, tuple[str, str]]:
    from channels.models import Channel

    return {pk: (platform, name)
            for pk, platform, name in Channel.objects.values_list("pk", "platform", "name")}


def by_day(filters: DashboardFilters, groups: dict | None = None) -> list[dict]:
    """One row per local day of the range (empty days included): placed, paid, shipped,
    cancelled, and sales per currency, each count with its drill-down link."""
    groups = groups or range_groups(filters)
    rows = {day: {"day": day, "placed": 0, "paid": 0, "shipped": 0, "cancelled": 0,
                  "sales": defaultdict(Decimal)} for day in filters.days}
    for row in groups["placed"]:
        rows[row["d"]]["placed"] += row["n"]
        rows[row["d"]]["cancelled"] += row["cancelled"]
    for row in groups["paid"]:
        rows[row["d"]]["paid"] += row["n"]
        if row["total"] is not None:
            rows[row["d"]]["sales"][row["currency"]] += row["total"]
    for row in groups["shipped"]:
        rows[row["d"]]["shipped"] += row["n"]

    scope = filters.scope_params()
    out = []
    for day in filters.days:
        row = rows[day]
        iso = day.isoformat()
        row["links"] = {} if not filters.can_drill_down else {
            "placed": orders_url([("from", iso), ("to", iso), *scope]),
            "paid": orders_url([("paid_from", iso), ("paid_to", iso), *scope]),
            "shipped": orders_url([("shipped_from", iso), ("shipped_to", iso), *scope]),
            "cancelled": orders_url([("status", S.CANCELLED), ("from", iso), ("to", iso),
                                     *scope]),
        }
        row["sales"] = {c: _money(v) for c, v in sorted(row["sales"].items())}
        out.append(row)
    return out


def by_platform(filters: DashboardFilters, groups: dict | None = None, *,
                channels: dict | None = None) -> list[dict]:
    """Placed / paid / shipped / cancelled in the range per platform, with sales per currency."""
    from channels.models import Channel

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

    for row in groups["placed"]:
        item(row["channel_id"])["placed"] += row["n"]
        item(row["channel_id"])["cancelled"] += row["cancelled"]
    for row in groups["paid"]:
        entry = item(row["channel_id"])
        entry["paid"] += row["n"]
        if row["total"] is not None:
            entry["sales"][row["currency"]] += row["total"]
    for row in groups["shipped"]:
        item(row["channel_id"])["shipped"] += row["n"]

    scope = [p for p in filters.scope_params() if p[0] != "platform"]
    out = []
    for platform in sorted(merged):
        entry = merged[platform]
        here = [("platform", platform), *scope]
        entry["links"] = {} if not filters.can_drill_down else {
            "placed": orders_url([*filters.range_params(), *here]),
            "paid": orders_url([*filters.range_params("paid"), *here]),
            "shipped": orders_url([*filters.range_params("shipped"), *here]),
            "cancelled": orders_url([("status", S.CANCELLED), *filters.range_params(), *here]),
        }
        entry["sales"] = {c: _money(v) for c, v in sorted(entry["sales"].items())}
        out.append(entry)
    return out


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


def by_category(filters: DashboardFilters, *, use_rollup: bool = True) -> list[dict]:
    """Placed / paid / shipped / cancelled and sales per currency in the range, per SKU
    category (only the filter's category when one is set); each row is what the whole
    dashboard shows with that category as its filter (membership rules: module docstring).

    Rolled-up days: one rollup query for every category. Other days (today, changed
    days): ``category_groups``, two queries whatever the number of categories.
    """
    categories = [filters.category] if filters.category else sku_categories()
    if not categories:
        return []
    rows = {c: {"category": c, "placed": 0, "paid": 0, "shipped": 0, "cancelled": 0,
                "sales": defaultdict(Decimal)} for c in categories}
    rolled, live_runs = _split_days(filters, use_rollup, categories)
    if rolled:
        from reporting.models import DailyRollup

        qs = DailyRollup.objects.filter(day__in=rolled, category__in=categories,
                                        kind__in=ORDER_KINDS)
        for r in (_scoped_rollup(qs, filters, by_category=True)
                  .values("category", "kind", "currency")
                  .annotate(n=Sum("n"), cancelled=Sum("cancelled"), total=Sum("total"))
                  .order_by()):
            _category_add(rows[r["category"]], r["kind"], r["n"], r["cancelled"],
                          r["currency"], r["total"])
    for start, end in live_runs:
        part = replace(filters, date_from=start, date_to=end)
        if connection.vendor == "postgresql":
            for category, currency, *counts in _category_totals_live(part, categories):
                for kind, n, cancelled, total in zip(ORDER_KINDS, *counts, strict=True):
                    _category_add(rows[category], kind, n, cancelled, currency, total)
            continue
        for (kind, category, *_key), counts in category_groups(part).items():
            if category in rows:
                _category_add(rows[category], kind, counts["n"], counts["cancelled"],
                              _key[-1], counts["total"])

    out = []
    for category in categories:
        row = rows[category]
        row["sales"] = {c: _money(v) for c, v in sorted(row["sales"].items())}
        # The order list cannot filter by category; the dashboard can.
        row["link"] = (f"{reverse('dashboard')}?"
                       f"{replace(filters, category=category).query_string()}")
        out.append(row)
    return out


def _category_totals_live(filters: DashboardFilters, categories: list[str]) -> list[tuple]:
    """``by_category``'s live counts in one grouped query: ``(category, currency, (placed,
    paid, shipped), (cancelled, None, None), (None, sales, None))`` per category and
    currency, for the orders placed, paid or shipped in the range (its category ignored).

    Each order lists its own categories from its lines (an index probe per order, the
    membership of ``category_q``), and the grouping happens in SQL: the table's only
    numbers are counts and sums, so nothing needs the per-order rows in Python
    (``category_groups``, which the rollup builds from, does; tests prove both agree).
    """
    from warehouse.models import SKU

    part = replace(filters, category="")
    in_range = Q()
    for _kind, field_name in _TIMESTAMPS:
        in_range |= part.in_range(field_name)
    orders_sql, orders_params = (scoped_orders(part).filter(in_range)
                                 .values("id", "currency", "status", "total", "placed_at",
                                         "paid_at", "shipped_at").order_by()
                                 .query.sql_with_params())
    window = {field: f"(o.{field} >= %s AND o.{field} < %s)"
              for _kind, field in _TIMESTAMPS}
    query = f"""
        SELECT c.category, o.currency,
               COUNT(*) FILTER (WHERE {window["placed_at"]}),
               COUNT(*) FILTER (WHERE {window["paid_at"]}),
               COUNT(*) FILTER (WHERE {window["shipped_at"]}),
               COUNT(*) FILTER (WHERE {window["placed_at"]} AND o.status = %s),
               SUM(o.total) FILTER (WHERE {window["paid_at"]} AND o.status <> %s)
        FROM ({orders_sql}) AS o
        CROSS JOIN LATERAL (
            SELECT DISTINCT s.category
            FROM {OrderLine._meta.db_table} l
            JOIN {SKU._meta.db_table} s ON s.code = l.sku_code
            WHERE l.order_id = o.id AND NOT l.is_gift AND NOT s.is_gift
              AND s.category = ANY(%s)
        ) AS c
        GROUP BY c.category, o.currency
    """
    bounds = [part.start, part.end]
    # In the order of the placeholders: the select list's, then the orders', then the lines'.
    params = [*bounds, *bounds, *bounds, *bounds, S.CANCELLED, *bounds, S.CANCELLED,
              *orders_params, [c for c in categories if c]]
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    return [(category, currency, (placed, paid, shipped), (cancelled, None, None),
             (None, total, None))
            for category, currency, placed, paid, shipped, cancelled, total in rows]


def _category_add(row: dict, kind: str, n: int, cancelled: int, currency: str, total) -> None:
    """Add one rollup row or one live group to a category row (same meaning either way)."""
    row[kind] += n or 0
    if kind == "placed":
        row["cancelled"] += cancelled or 0
    elif kind == "paid" and total is not None:
        # Sales: paid in the range and not cancelled since (the rollup keeps only those).
        row["sales"][currency] += total


_TIMESTAMPS = (("placed", "placed_at"), ("paid", "paid_at"), ("shipped", "shipped_at"))


def order_categories(orders) -> dict[int, set[str]]:
    """``{order id: its SKU categories}`` for ``orders`` (ids, or a query of ``pk``), by
    the membership rules of the module docstring; orders in no category are left out.
    Two queries; the Python form of ``category_q`` (tests prove both agree)."""
    from warehouse.models import SKU

    category_of = dict(SKU.objects.filter(is_gift=False).exclude(category="")
                       .values_list("code", "category"))
    categories: dict[int, set] = defaultdict(set)
    lines = (OrderLine.objects.filter(order__in=orders, is_gift=False)
             .values_list("order_id", "sku_code").order_by())
    # Plain fetches, not .iterator(): a day is a few thousand rows, and a server-side
    # cursor outside a transaction (WITH HOLD) costs more than it saves here.
    for order_id, code in lines:
        category = category_of.get(code)
        if category:
            categories[order_id].add(category)
    return categories


def category_groups(filters: DashboardFilters) -> dict[tuple, dict]:
    """The rollup's counters per SKU category, for the range and scope of ``filters``
    (its own category, if any, is ignored): ``{(kind, category, local day, channel_id,
    warehouse_id, currency): {"n", "cancelled", "kept", "total", "ship_n",
    "ship_microseconds", "b0".."b5"}}``, with the meaning of ``range_groups`` and
    ``ship_groups`` rows for the orders in that category (membership: module docstring).

    One query for the orders placed, paid or shipped in the range, one for their
    lines; the grouping happens here, so the cost does not grow with the number of
    categories (a day of ~3,000 orders: ~50 ms). ``category_q`` is the SQL form of
    the same membership; tests prove both agree.
    """
    part = replace(filters, category="")
    in_range = Q()
    for _kind, field_name in _TIMESTAMPS:
        in_range |= part.in_range(field_name)
    orders = scoped_orders(part).filter(in_range)
    categories = order_categories(orders.values("pk"))
    if not categories:
        return {}

    tz = local_tz()
    bounds = [dt.timedelta(hours=h) for h in SHIP_TIME_BUCKETS]
    out: dict[tuple, dict] = {}
    # The local day of each timestamp in the range (NULL outside it), computed in SQL:
    # parsing aware timestamps in Python would cost more than everything else here.
    days = {f"{kind}_d": Case(When(part.in_range(field_name),
                                   then=TruncDate(field_name, tzinfo=tz)),
                              default=None, output_field=DateField())
            for kind, field_name in _TIMESTAMPS}
    rows = (orders.annotate(**days, ship_time=_SHIP_TIME)
            .values_list("pk", "channel_id", "warehouse_id", "currency", "status", "total",
                         *days, "ship_time").order_by())
    for pk, channel_id, warehouse_id, currency, status, total, *on_days, took in rows:
        if pk not in categories:
            continue
        cancelled = status == S.CANCELLED
        for (kind, _field), day in zip(_TIMESTAMPS, on_days, strict=True):
            if day is None:
                continue
            for category in categories[pk]:
                key = (kind, category, day, channel_id, warehouse_id, currency)
                counts = out.get(key)
                if counts is None:
                    counts = out[key] = {"n": 0, "cancelled": 0, "kept": 0, "total": None,
                                         "ship_n": 0, "ship_microseconds": 0,
                                         **{f"b{i}": 0 for i in range(len(bounds) + 1)}}
                counts["n"] += 1
                if kind == "placed":
                    counts["cancelled"] += cancelled
                elif kind == "paid" and not cancelled:
                    counts["kept"] += 1
                    counts["total"] = (counts["total"] or Decimal("0")) + total
                elif kind == "shipped" and took is not None:
                    counts["ship_n"] += 1
                    counts["ship_microseconds"] += _microseconds(took)
                    # Same buckets as the SQL: (lower, upper], the last one open.
                    bucket = next((i for i, b in enumerate(bounds) if took <= b), len(bounds))
                    counts[f"b{bucket}"] += 1
    return out


# --- Fulfillment metrics: tracking, complaints, stalled parcels, SLA --------------------------
# Read from the shipping waybills and the tickets (closed days of the SLA and the
# tracking return rate from the rollup). Their changes do not start a new
# order-counts generation, so these numbers are never in the dashboard cache: they
# are cached for a short while (``fulfillment_numbers``), a few indexed queries.

# A waybill that carried (or carries) the order's parcel. A cancelled or skipped one
# says nothing about this order's parcel; its events are not "valid tracking info".
INVALID_WAYBILL_STATUSES = ["cancelled", "cancel_pending", "skipped"]
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
    from django.db.models import Min, Subquery

    from fulfillment.shipping.models import Waybill

    first = (Waybill.objects.filter(order=OuterRef("pk"), first_event_at__isnull=False)
             .exclude(status__in=INVALID_WAYBILL_STATUSES).order_by()
             .values("order").annotate(first=Min("first_event_at")).values("first"))
    return Subquery(first, output_field=models.DateTimeField())


def _pct(part: int, whole: int, places: str = "0.1") -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(places),
                                                           rounding=ROUND_HALF_UP)


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
        from reporting.models import DailyRollup

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
    from fulfillment.shipping.models import Waybill

    # "The first valid event came in time" is "some valid waybill had an event in time":
    # one semi-join per order instead of a MIN per order.
    in_time = Exists(
        Waybill.objects.filter(order=OuterRef("pk"), first_event_at__isnull=False)
        .exclude(status__in=INVALID_WAYBILL_STATUSES)
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
    with connection.cursor() as cursor:
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
    """Orders with a complaint ticket opened in the range (orders in scope, placed any
    time) / orders placed in the range, in %: ``{"ratio", "complaints", "orders"}``."""
    from fulfillment.tickets.selectors import complaint_count

    scope = filters.scope_q()
    orders = scoped_orders(filters) if scope else None
    complaints = complaint_count(orders=orders, start=filters.start, end=filters.end)
    if placed is None:
        placed = placed_count(filters)
    return {"ratio": _pct(complaints, placed, "0.01"), "complaints": complaints,
            "orders": placed}


def placed_count(filters: DashboardFilters) -> int:
    return scoped_orders(filters).filter(filters.in_range("placed_at")).count()


def _waybill_scope(filters: DashboardFilters) -> Q:
    """The dashboard scope for waybill rows (through their order)."""
    q = Q()
    if filters.channel is not None:
        q &= Q(order__channel=filters.channel)
    if filters.platform:
        q &= Q(order__channel__platform=filters.platform)
    if filters.warehouse is not None:
        q &= Q(order__warehouse=filters.warehouse)
    if filters.category:
        # Per waybill, not "order in (every order of the category)": the stalled parcels
        # are a few hundred, the category's orders a tenth of all.
        q &= category_q(filters.category, order=OuterRef("order_id"))
    return q


def stalled_parcels_per_carrier(filters: DashboardFilters) -> list[dict]:
    """Open parcels (booked, not delivered) flagged stalled, per carrier account, now:
    ``[{"carrier", "code", "parcels"}, ...]`` most first. The date range does not apply."""
    from fulfillment.shipping.models import Waybill

    rows = (Waybill.objects.filter(_waybill_scope(filters), status=Waybill.Status.BOOKED,
                                   stalled_at__isnull=False, delivered_at__isnull=True)
            .values("account__code", "account__name").annotate(n=Count("id")).order_by())
    out = [{"carrier": r["account__name"] or "—", "code": r["account__code"] or "",
            "parcels": r["n"]} for r in rows]
    return sorted(out, key=lambda r: (-r["parcels"], r["carrier"]))


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
    from django.db import connection

    from fulfillment.shipping.models import Waybill

    orders_sql, orders_params = (_sla_orders(filters)
                                 .values("id", "channel_id", "warehouse_id", "paid_at",
                                         "shipped_at")
                                 .query.sql_with_params())
    invalid = ", ".join(["%s"] * len(INVALID_WAYBILL_STATUSES))
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
    params = [settings.TIME_ZONE, *orders_params, *INVALID_WAYBILL_STATUSES,
              filters.start, filters.end, SLA_LOOKBACK_DAYS, window_s]
    with connection.cursor() as cursor:
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
    from django.db import connection

    if connection.vendor != "postgresql":
        return [(r["pk"], r["channel_id"], r["warehouse_id"], r["d"],
                 r["took"].total_seconds()) for r in _sla_samples(filters)]
    from fulfillment.shipping.models import Waybill

    orders_sql, orders_params = (scoped_orders(filters).filter(paid_at__isnull=False)
                                 .values("id", "channel_id", "warehouse_id", "paid_at",
                                         "shipped_at")
                                 .query.sql_with_params())
    invalid = ", ".join(["%s"] * len(INVALID_WAYBILL_STATUSES))
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
    params = [settings.TIME_ZONE, *orders_params, filters.start, filters.end,
              *INVALID_WAYBILL_STATUSES, SLA_LOOKBACK_DAYS, *INVALID_WAYBILL_STATUSES]
    with connection.cursor() as cursor:
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
    samples = defaultdict(list)
    for start, end in live_runs:
        part = replace(filters, date_from=start, date_to=end)
        for _pk, channel_id, warehouse_id, day, seconds in sla_samples_live(part):
            samples[(channel_id, warehouse_id, day)].append(seconds)
    if rolled:
        from reporting.models import DailyRollup

        rows = _scoped_rollup(DailyRollup.objects.filter(kind="sla", day__in=rolled),
                              filters).values_list("channel_id", "warehouse_id", "day",
                                                   "samples")
        for channel_id, warehouse_id, day, values in rows:
            samples[(channel_id, warehouse_id, day)] += values
    return _sla_groups_of(samples, window_s)


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
    from warehouse.models import Warehouse

    window_hours = window_hours or DEFAULT_WINDOW_HOURS
    window_s = float(window_hours) * 3600
    if use_sql is None:
        groups = _sla_groups_rollup(filters, window_s, split)
    else:
        groups = (_sla_groups_postgres if use_sql else _sla_groups_python)(filters, window_s)

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
    stalled = stalled_parcels_per_carrier(filters)
    numbers = {
        "tracking": tracking_return_rate(
            filters, window_hours=_window(limits, "tracking_return_rate"), split=split),
        "complaints": complaint_ratio(filters, placed=placed),
        "stalled": sum(r["parcels"] for r in stalled),
        "stalled_per_carrier": stalled,
        "sla": sla,
    }
    if full:
        numbers["charts"] = {
            "sla_trend": sla_trend_chart(sla),
            "stalled": {"labels": [r["carrier"] for r in stalled],
                        "data": [r["parcels"] for r in stalled]},
        }
    return numbers


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


def now_local() -> dt.datetime:
    return timezone.localtime()
