"""The KPI cards and the cached order aggregates behind the dashboard (``dashboard_numbers``).

Two kinds of card:
- "now" cards (awaiting shipment, out of stock, in review, urgent not picked)
  count the orders in a state at this moment; the date range does not apply,
  the channel/platform/warehouse/category filters do.
- "range" cards (paid → shipped time) look at what happened in the date range.

Speed: the views read ``dashboard_numbers`` (cached a few seconds per filter), and the
range tables read every day from the daily rollup (``reporting.rollup``, also per
category): closed days complete, today and changed days as live rows rebuilt every few
seconds; a day is read from the orders only while its live rows are missing or too old.
Read live, the million-order benchmark spent ~50 ms on today's grouped queries and
~80 ms on today's category table; the backlog cards (index-only, ~40 ms) are "now"
figures and always read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Count,
    Q,
)
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from channels.models import Channel
from orderhub.models import Order, OrderStatus
from reporting.models import Kpi
from reporting.selectors.categories import (
    by_category,
)
from reporting.selectors.fulfillment import (
    fulfillment_numbers,
)
from reporting.selectors.rolled import (
    _split_days,
)
from reporting.selectors.sales import (
    by_day,
    by_platform,
    orders_per_day_per_channel,
    placed_count,
    range_groups,
    sales_summary,
    ship_time_stats,
    ship_time_stats_from_groups,
)
from reporting.selectors.scope import (
    DashboardFilters,
    _cache_key,
    _channels,
    _status_params,
    orders_url,
    scoped_orders,
    thresholds,
)

S = OrderStatus


# Paid and not yet shipped (or cancelled): the shipping backlog. The index for the
# category filter's backlog (reporting migration 0008) has the same condition.
AWAITING_SHIPMENT = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING, S.PICKED,
                     S.ON_HOLD]
# Urgent work nobody has finished picking. Held orders are left out on purpose:
# someone stopped them, so they are not late work for the pickers.
NOT_YET_PICKED = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING]
URGENT_MIN_PRIORITY = Order.Priority.H4

# Seconds a dashboard answer is kept per filter (settings.DASHBOARD_CACHE_SECONDS): the
# default, for callers that read it from here.
DASHBOARD_CACHE_SECONDS = 10


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


def channels_with_sync_problems(filters: DashboardFilters) -> int:
    qs = Channel.objects.filter(enabled=True).filter(
        Q(paused=True) | Q(consecutive_failures__gt=0)
    )
    if filters.channel is not None:
        qs = qs.filter(pk=filters.channel.pk)
    if filters.platform:
        qs = qs.filter(platform=filters.platform)
    return qs.count()


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
    buyer = fulfillment["buyer_sla"]["all"]
    buyer_window = fulfillment["buyer_sla"]["window_hours"]
    buyer_link = "#buyer-sla" if buyer["orders"] else ""
    # The share cards list the orders over the window (a reporting page: it takes the
    # category filter too, so it may link while one is set).
    late_base = f"{reverse('reporting-sla-late')}?{filters.query_string()}"
    sla_late_link = f"{late_base}&kind=paid" if sla["orders"] else ""
    buyer_late_link = f"{late_base}&kind=buyer" if buyer["orders"] else ""
    buyer_hint = _("%(n)s orders whose buyer got valid tracking info in the range") % {
        "n": buyer["orders"]}
    try:
        # The waybill list's "stalled" tab and the ticket queue take the same scope (and,
        # for complaints, the order's placed dates and "linked to an order") as the
        # counts, so each link lists exactly what its card counted. Neither filters by SKU category.
        stalled_link = (f"{reverse('shipping:waybills')}?"
                        f"{urlencode([('status', 'stalled'), *scope_pairs])}")
        complaints_link = (f"{reverse('tickets:queue')}?" + urlencode(
            [("kind", "complaint"), ("status", "all"), ("linked", "1"),
             *filters.range_params("placed"), *scope_pairs]))
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
        card(Kpi.SLA_WITHIN, sla["within_pct"], sla_late_link, scope_kind="range", unit="%",
             hint=_("%(within)s of %(n)s within %(hours)s h of payment") % {
                 "within": sla["within"], "n": sla["orders"],
                 "hours": _hours_text(sla_window)},
             orders=sla["orders"]),
        card(Kpi.BUYER_SLA_MEDIAN, buyer["median_hours"], buyer_link, scope_kind="range",
             unit="h", hint=buyer_hint, orders=buyer["orders"]),
        card(Kpi.BUYER_SLA_P90, buyer["p90_hours"], buyer_link, scope_kind="range", unit="h",
             hint=buyer_hint, orders=buyer["orders"]),
        card(Kpi.BUYER_SLA_WITHIN, buyer["within_pct"], buyer_late_link, scope_kind="range",
             unit="%", hint=_("%(within)s of %(n)s within %(hours)s h of placing") % {
                 "within": buyer["within"], "n": buyer["orders"],
                 "hours": _hours_text(buyer_window)},
             orders=buyer["orders"]),
    ]


def _hours_text(hours: Decimal) -> str:
    """24.0 → "24", 1.5 → "1.5"."""
    return f"{hours.normalize():f}" if isinstance(hours, Decimal) else str(hours)


def dashboard_numbers(filters: DashboardFilters, *, full: bool = True) -> dict:
    """Every order aggregate the dashboard shows, cached ``DASHBOARD_CACHE_SECONDS`` per
    filter (0: computed on every call). ``full=False``: only what the cards need.

    The range figures read the rollup, whose today and changed days are live rows at
    most ``DASHBOARD_MAX_STALE_SECONDS`` old (``reporting.rollup``), so a cold answer
    costs the backlog counts and a few rollup reads, not a scan of today's orders.
    """
    ttl = settings.DASHBOARD_CACHE_SECONDS
    key = _cache_key(filters, "full" if full else "cards")
    numbers = cache.get(key) if ttl > 0 else None
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
        if ttl > 0:
            cache.set(key, numbers, ttl)
    return numbers


# --- breakdowns ------------------------------------------------------------------------------
