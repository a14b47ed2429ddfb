"""The dashboard's filters and the orders they select: ``DashboardFilters``, ``scoped_orders``,
the SKU category membership (``category_q``), drill-down links and the cache key.

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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
)
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language

from channels.models import Channel
from orderhub.models import Order, OrderLine
from reporting.models import KpiThreshold
from warehouse.models import SKU


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

    def scope_q(self, *, per_row: bool = True, through: str = "",
                category: bool = True) -> Q:
        """Channel, platform, warehouse and SKU category: the filters every card obeys
        (``per_row``: see ``category_q``). ``through``: the path from the rows filtered
        to their channel and warehouse (``"order__"`` for waybills); ``category=False``
        leaves the category to the caller."""
        q = Q()
        if self.channel is not None:
            q &= Q(**{f"{through}channel": self.channel})
        if self.platform:
            q &= Q(**{f"{through}channel__platform": self.platform})
        if self.warehouse is not None:
            q &= Q(**{f"{through}warehouse": self.warehouse})
        if self.category and category:
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


def thresholds() -> dict:
    return {t.kpi: t for t in KpiThreshold.objects.all()}


def _cache_key(filters: DashboardFilters, part: str) -> str:
    parts = [filters.date_from.isoformat(), filters.date_to.isoformat(),
             str(getattr(filters.channel, "pk", "")), filters.platform,
             str(getattr(filters.warehouse, "pk", "")), filters.category, settings.TIME_ZONE,
             get_language() or ""]
    # Not keyed on the order-change generation: on a live hub that made every view cold.
    # Entries live a few seconds (DASHBOARD_CACHE_SECONDS; reporting.rollup, "live rows").
    return f"reporting:dashboard:{part}:{'|'.join(parts)}"


def _channels() -> dict[int, tuple[str, str]]:
    return {pk: (platform, name)
            for pk, platform, name in Channel.objects.values_list("pk", "platform", "name")}


def now_local() -> dt.datetime:
    return timezone.localtime()
