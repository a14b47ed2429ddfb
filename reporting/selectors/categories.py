"""The per-category table (``by_category``) and the per-category grouping the rollup
builds its rows from (``category_groups``, ``order_categories``). Membership rules: the
docstring of ``reporting.selectors.scope``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from django.db import connection, connections, router
from django.db.models import (
    Case,
    DateField,
    Q,
    Sum,
    When,
)
from django.db.models.functions import TruncDate
from django.urls import reverse

from orderhub.models import OrderLine, OrderStatus
from reporting.models import DailyRollup
from reporting.selectors.rolled import (
    ORDER_KINDS,
    _scoped_rollup,
    _split_days,
)
from reporting.selectors.sales import (
    _SHIP_TIME,
    SHIP_TIME_BUCKETS,
    _microseconds,
    _money,
)
from reporting.selectors.scope import (
    DashboardFilters,
    local_tz,
    scoped_orders,
    sku_categories,
)
from warehouse.models import SKU

S = OrderStatus


def by_category(filters: DashboardFilters, *, use_rollup: bool = True) -> list[dict]:
    """Placed / paid / shipped / cancelled and sales per currency in the range, per SKU
    category (only the filter's category when one is set); each row is what the whole
    dashboard shows with that category as its filter (membership rules:
    ``reporting.selectors.scope``).

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
    # Raw SQL: the read goes where the ORM's would (the replica under replica_reads).
    with connections[router.db_for_read(OrderLine)].cursor() as cursor:
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
    the membership rules of ``reporting.selectors.scope``; orders in no category are left out.
    Two queries; the Python form of ``category_q`` (tests prove both agree)."""
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
    ``ship_groups`` rows for the orders in that category (membership:
    ``reporting.selectors.scope``).

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
