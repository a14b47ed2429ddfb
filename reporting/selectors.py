"""Read side of reporting: KPI cards, breakdowns, chart series and summaries.

Every number is one SQL aggregate over the orders (never a Python loop over
rows), and every count carries the order-list query string that selects
exactly the orders it counted (``orders_url``), so a click on a card shows
those orders and no others.

Two kinds of card:
- "now" cards (awaiting shipment, out of stock, in review, urgent not picked)
  count the orders in a state at this moment; the date range does not apply,
  the channel/platform/warehouse filters do.
- "range" cards (paid → shipped time) look at what happened in the date range.

Metrics that need the Fulfillment issue (tracking events, tickets) are the
``*_not_available`` functions at the end: each returns None today, and the
card then shows "—" with a hint. Fill them in there, in one place.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from orderhub.models import Order, OrderStatus

S = OrderStatus

# Paid and not yet shipped (or cancelled): the shipping backlog.
AWAITING_SHIPMENT = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING, S.PICKED,
                     S.ON_HOLD]
# Urgent work nobody has finished picking. Held orders are left out on purpose:
# someone stopped them, so they are not late work for the pickers.
NOT_YET_PICKED = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING]
URGENT_MIN_PRIORITY = Order.Priority.H4

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


@dataclass(frozen=True)
class DashboardFilters:
    date_from: dt.date
    date_to: dt.date
    channel: object | None = None  # channels.Channel
    platform: str = ""
    warehouse: object | None = None  # warehouse.Warehouse

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

    def scope_q(self) -> Q:
        """Channel, platform and warehouse: the filters every card obeys."""
        q = Q()
        if self.channel is not None:
            q &= Q(channel=self.channel)
        if self.platform:
            q &= Q(channel__platform=self.platform)
        if self.warehouse is not None:
            q &= Q(warehouse=self.warehouse)
        return q

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
                 *self.scope_params()]
        return urlencode([(k, v) for k, v in pairs if v])


def scoped_orders(filters: DashboardFilters) -> QuerySet[Order]:
    return Order.objects.filter(filters.scope_q()).order_by()


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


def _hours(delta: dt.timedelta | None) -> Decimal | None:
    if delta is None:
        return None
    hours = Decimal(delta.total_seconds()) / Decimal(3600)
    return hours.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def snapshot_counts(filters: DashboardFilters) -> dict[str, int]:
    """The "now" counts in one query over the backlog statuses (an indexed column)."""
    urgent = Q(priority__gte=URGENT_MIN_PRIORITY, status__in=NOT_YET_PICKED)
    return scoped_orders(filters).filter(status__in=AWAITING_SHIPMENT).aggregate(
        awaiting_shipment=Count("id"),
        out_of_stock=Count("id", filter=Q(status=S.OUT_OF_STOCK)),
        in_review=Count("id", filter=Q(status=S.REVIEW)),
        urgent_not_picked=Count("id", filter=urgent),
    )


def shipped_in_range(filters: DashboardFilters) -> QuerySet[Order]:
    return scoped_orders(filters).filter(filters.in_range("shipped_at"), paid_at__isnull=False)


_SHIP_TIME = ExpressionWrapper(F("shipped_at") - F("paid_at"), output_field=DurationField())


def paid_to_shipped(filters: DashboardFilters) -> dict:
    """Average paid → shipped time of the orders shipped in the range, and how many."""
    row = shipped_in_range(filters).aggregate(avg=Avg(_SHIP_TIME), n=Count("id"))
    return {"hours": _hours(row["avg"]), "orders": row["n"]}


def ship_time_histogram(filters: DashboardFilters) -> list[dict]:
    """How many orders shipped in the range took ≤ 4 h, ≤ 8 h, ... (one query)."""
    aggregates, labels, lower = {}, [], None
    for i, upper in enumerate([*SHIP_TIME_BUCKETS, None]):
        q = Q()
        if lower is not None:
            q &= Q(ship_time__gt=dt.timedelta(hours=lower))
        if upper is not None:
            q &= Q(ship_time__lte=dt.timedelta(hours=upper))
        aggregates[f"b{i}"] = Count("id", filter=q)
        labels.append(f"≤ {upper} h" if upper is not None else f"> {lower} h")
        lower = upper
    row = shipped_in_range(filters).annotate(ship_time=_SHIP_TIME).aggregate(**aggregates)
    return [{"label": label, "orders": row[f"b{i}"]} for i, label in enumerate(labels)]


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


def kpi_cards(filters: DashboardFilters) -> list[Card]:
    """Every card, in display order, with its value, state and drill-down link."""
    from reporting.models import Kpi

    limits = thresholds()
    counts = snapshot_counts(filters)
    scope = filters.scope_params()
    ship = paid_to_shipped(filters)
    not_available = _("Available once tracking events and tickets exist (Fulfillment).")

    def card(key, value, link="", scope_kind="now", unit="", hint="", **extra):
        return Card(key=key, label=Kpi(key).label, value=value,
                    state=_state(limits, key, value), link=link, scope=scope_kind, unit=unit,
                    hint=hint, extra=extra)

    try:
        channels_link = reverse("channels:health")
    except Exception:  # noqa: BLE001 - the channels page is optional for the dashboard
        channels_link = ""

    tracking = tracking_return_rate_not_available(filters)
    complaints = complaint_ratio_not_available(filters)
    stalled = stalled_parcels_not_available(filters)
    return [
        card(Kpi.AWAITING_SHIPMENT, counts["awaiting_shipment"],
             orders_url([*_status_params(AWAITING_SHIPMENT), *scope])),
        card(Kpi.PAID_TO_SHIPPED, ship["hours"],
             orders_url([*filters.range_params("shipped"), *scope]) if ship["orders"] else "",
             scope_kind="range", unit="h",
             hint=_("%(n)s orders shipped in the range") % {"n": ship["orders"]},
             orders=ship["orders"]),
        card(Kpi.TRACKING_RETURN_RATE, tracking, scope_kind="range", unit="%",
             hint=not_available if tracking is None else ""),
        card(Kpi.COMPLAINT_RATIO, complaints, scope_kind="range", unit="%",
             hint=not_available if complaints is None else ""),
        card(Kpi.OUT_OF_STOCK, counts["out_of_stock"],
             orders_url([*_status_params([S.OUT_OF_STOCK]), *scope])),
        card(Kpi.IN_REVIEW, counts["in_review"],
             orders_url([*_status_params([S.REVIEW]), *scope])),
        card(Kpi.STALLED_PARCELS, stalled,
             hint=not_available if stalled is None else ""),
        card(Kpi.CHANNEL_SYNC_PROBLEMS, channels_with_sync_problems(filters), channels_link,
             hint=_("Paused or failing channels (warehouse filter does not apply).")),
        card(Kpi.URGENT_NOT_PICKED, counts["urgent_not_picked"],
             orders_url([*_status_params(NOT_YET_PICKED),
                         ("priority_min", str(int(URGENT_MIN_PRIORITY))), *scope])),
    ]


# --- breakdowns ------------------------------------------------------------------------------


def _money(amount) -> Decimal:
    return (amount or Decimal("0")).quantize(Decimal("0.01"))


def _sales_q(filters: DashboardFilters) -> Q:
    # Sales are what was paid in the range and not cancelled since.
    return filters.in_range("paid_at") & ~Q(status=S.CANCELLED)


def by_day(filters: DashboardFilters) -> list[dict]:
    """One row per local day of the range (empty days included): placed, paid, shipped,
    cancelled, and sales per currency, each count with its drill-down link."""
    tz = local_tz()
    base = scoped_orders(filters)
    rows = {day: {"day": day, "placed": 0, "paid": 0, "shipped": 0, "cancelled": 0,
                  "sales": {}} for day in filters.days}

    placed = (base.filter(filters.in_range("placed_at"))
              .annotate(d=TruncDate("placed_at", tzinfo=tz)).values("d")
              .annotate(n=Count("id"), c=Count("id", filter=Q(status=S.CANCELLED))))
    for row in placed:
        rows[row["d"]]["placed"] = row["n"]
        rows[row["d"]]["cancelled"] = row["c"]
    paid = (base.filter(filters.in_range("paid_at"))
            .annotate(d=TruncDate("paid_at", tzinfo=tz)).values("d", "currency")
            .annotate(n=Count("id"), total=Sum("total", filter=~Q(status=S.CANCELLED))))
    for row in paid:
        rows[row["d"]]["paid"] += row["n"]
        if row["total"] is not None:
            rows[row["d"]]["sales"][row["currency"]] = _money(row["total"])
    shipped = (base.filter(filters.in_range("shipped_at"))
               .annotate(d=TruncDate("shipped_at", tzinfo=tz)).values("d")
               .annotate(n=Count("id")))
    for row in shipped:
        rows[row["d"]]["shipped"] = row["n"]

    scope = filters.scope_params()
    out = []
    for day in filters.days:
        row = rows[day]
        iso = day.isoformat()
        row["links"] = {
            "placed": orders_url([("from", iso), ("to", iso), *scope]),
            "paid": orders_url([("paid_from", iso), ("paid_to", iso), *scope]),
            "shipped": orders_url([("shipped_from", iso), ("shipped_to", iso), *scope]),
            "cancelled": orders_url([("status", S.CANCELLED), ("from", iso), ("to", iso),
                                     *scope]),
        }
        row["sales"] = dict(sorted(row["sales"].items()))
        out.append(row)
    return out


def by_platform(filters: DashboardFilters) -> list[dict]:
    """Placed / paid / shipped / cancelled in the range per platform, with sales per currency."""
    from channels.models import Channel

    base = scoped_orders(filters)
    placed_q, paid_q, shipped_q = (filters.in_range("placed_at"), filters.in_range("paid_at"),
                                   filters.in_range("shipped_at"))
    rows = (base.filter(placed_q | paid_q | shipped_q)
            .values("channel__platform", "currency")
            .annotate(placed=Count("id", filter=placed_q), paid=Count("id", filter=paid_q),
                      shipped=Count("id", filter=shipped_q),
                      cancelled=Count("id", filter=placed_q & Q(status=S.CANCELLED)),
                      total=Sum("total", filter=_sales_q(filters))))
    labels = dict(Channel.Platform.choices)
    merged: dict[str, dict] = {}
    for row in rows:
        platform = row["channel__platform"]
        item = merged.setdefault(platform, {
            "platform": platform, "label": labels.get(platform, platform), "placed": 0,
            "paid": 0, "shipped": 0, "cancelled": 0, "sales": {},
        })
        for key in ("placed", "paid", "shipped", "cancelled"):
            item[key] += row[key]
        if row["total"] is not None:
            item["sales"][row["currency"]] = _money(row["total"])
    scope = [p for p in filters.scope_params() if p[0] != "platform"]
    out = []
    for platform in sorted(merged):
        item = merged[platform]
        here = [("platform", platform), *scope]
        item["links"] = {
            "placed": orders_url([*filters.range_params(), *here]),
            "paid": orders_url([*filters.range_params("paid"), *here]),
            "shipped": orders_url([*filters.range_params("shipped"), *here]),
            "cancelled": orders_url([("status", S.CANCELLED), *filters.range_params(), *here]),
        }
        item["sales"] = dict(sorted(item["sales"].items()))
        out.append(item)
    return out


def sales_summary(filters: DashboardFilters) -> list[dict]:
    """Daily sales per platform, day and currency: orders paid that day, not cancelled."""
    tz = local_tz()
    rows = (scoped_orders(filters).filter(_sales_q(filters))
            .annotate(d=TruncDate("paid_at", tzinfo=tz))
            .values("d", "channel__platform", "currency")
            .annotate(orders=Count("id"), total=Sum("total"))
            .order_by("d", "channel__platform", "currency"))
    return [{"day": r["d"], "platform": r["channel__platform"], "currency": r["currency"],
             "orders": r["orders"], "total": _money(r["total"])} for r in rows]


def orders_per_day_per_channel(filters: DashboardFilters) -> dict:
    """Chart series: placed orders per local day, one series per channel."""
    tz = local_tz()
    rows = (scoped_orders(filters).filter(filters.in_range("placed_at"))
            .annotate(d=TruncDate("placed_at", tzinfo=tz))
            .values("d", "channel__name").annotate(n=Count("id")))
    series: dict[str, dict] = defaultdict(dict)
    for row in rows:
        series[row["channel__name"]][row["d"]] = row["n"]
    return {
        "labels": [d.isoformat() for d in filters.days],
        "series": [{"label": name, "data": [per_day.get(d, 0) for d in filters.days]}
                   for name, per_day in sorted(series.items())],
    }


# --- Fulfillment metrics (not available yet) ---------------------------------------------------
# Each returns None until the Fulfillment issue brings tracking events and
# tickets; the dashboard then shows "—" with a hint. Fill them in here.


def tracking_return_rate_not_available(filters: DashboardFilters) -> Decimal | None:
    """Share (%) of orders shipped in the range whose first tracking event arrived in time."""
    return None


def complaint_ratio_not_available(filters: DashboardFilters) -> Decimal | None:
    """Complaint tickets opened in the range / orders placed in the range, in %."""
    return None


def stalled_parcels_not_available(filters: DashboardFilters) -> int | None:
    """Shipped orders whose tracking has not moved for the configured time."""
    return None


def sla_paid_to_first_tracking_not_available(filters: DashboardFilters) -> dict | None:
    """Median, p90 and share within 24 h of paid → first valid tracking info, per channel
    and warehouse; compute with ``percentile`` over the durations."""
    return None


def stalled_parcels_per_carrier_not_available(filters: DashboardFilters) -> dict | None:
    return None


def percentile(values: list, p: float):
    """The ``p``-th percentile (0–100) with linear interpolation, as PostgreSQL's
    ``percentile_cont``; None for an empty list. Works on numbers and timedeltas."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def now_local() -> dt.datetime:
    return timezone.localtime()
