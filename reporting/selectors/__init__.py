"""Read side of reporting: KPI cards, breakdowns, chart series and summaries.

Every number is an SQL aggregate over the orders (the one exception is the
rollup's per-category grouping of a day, ``category_groups``, which groups a
day's few thousand rows in Python so its cost does not grow with the number of
categories; the category table's live days are one grouped query on PostgreSQL,
``_category_totals_live``), and every count carries the order-list query string that selects
exactly the orders it counted (``orders_url``), so a click on a card shows
those orders and no others.

Speed: see ``reporting.selectors.cards`` (cached aggregates) and ``reporting.rollup``.

The read models live in modules by responsibility (each imports only the ones above it):

- ``scope``: the filters, the orders they select, SKU category membership, links, cache key;
- ``rolled``: which days come from the daily rollup (``valid_days``) and how it is scoped;
- ``sales``: placed / paid / shipped counts, sales, paid → shipped time, per day and platform;
- ``categories``: the per-category table and the rollup's per-category grouping;
- ``sla``: paid → first valid tracking info, placed → first valid tracking info sent to the
  buyer, and the orders over either's window;
- ``fulfillment``: tracking return rate, complaints, stalled parcels, ``fulfillment_numbers``;
- ``cards``: the KPI cards and the cached ``dashboard_numbers``.

This package re-exports the names the views, forms, exports, the rollup and the tests
import (``from reporting import selectors; selectors.X`` keeps working);
new code may import from the module that owns a name.
"""

from reporting.selectors.cards import (
    AWAITING_SHIPMENT,
    DASHBOARD_CACHE_SECONDS,
    NOT_YET_PICKED,
    URGENT_MIN_PRIORITY,
    Card,
    channels_with_sync_problems,
    dashboard_numbers,
    kpi_cards,
    snapshot_counts,
)
from reporting.selectors.categories import (
    _category_totals_live,
    by_category,
    category_groups,
    order_categories,
)
from reporting.selectors.fulfillment import (
    complaint_ratio,
    fulfillment_numbers,
    stalled_parcels_per_carrier,
    tracking_lags,
    tracking_return_rate,
)
from reporting.selectors.rolled import (
    ORDER_KINDS,
    valid_days,
)
from reporting.selectors.sales import (
    SHIP_TIME_BUCKETS,
    by_day,
    by_platform,
    orders_per_day_per_channel,
    paid_to_shipped,
    placed_count,
    range_groups,
    sales_summary,
    ship_groups,
    ship_time_histogram,
    ship_time_stats,
    ship_time_stats_from_groups,
    shipped_in_range,
)
from reporting.selectors.scope import (
    DashboardFilters,
    category_q,
    local_midnight,
    local_tz,
    now_local,
    orders_url,
    scoped_orders,
    sku_categories,
    thresholds,
)
from reporting.selectors.sla import (
    DEFAULT_WINDOW_HOURS,
    SLA_KINDS,
    SLA_LOOKBACK_DAYS,
    buyer_samples_live,
    percentile,
    sla_late_orders,
    sla_paid_to_first_tracking,
    sla_placed_to_buyer_tracking,
    sla_samples_live,
    sla_trend_chart,
)

__all__ = [
    "DashboardFilters",
    "category_q",
    "local_midnight",
    "local_tz",
    "now_local",
    "orders_url",
    "scoped_orders",
    "sku_categories",
    "thresholds",
    "ORDER_KINDS",
    "valid_days",
    "SHIP_TIME_BUCKETS",
    "by_day",
    "by_platform",
    "orders_per_day_per_channel",
    "paid_to_shipped",
    "placed_count",
    "range_groups",
    "sales_summary",
    "ship_groups",
    "ship_time_histogram",
    "ship_time_stats",
    "ship_time_stats_from_groups",
    "shipped_in_range",
    "_category_totals_live",
    "by_category",
    "category_groups",
    "order_categories",
    "DEFAULT_WINDOW_HOURS",
    "SLA_KINDS",
    "SLA_LOOKBACK_DAYS",
    "buyer_samples_live",
    "percentile",
    "sla_late_orders",
    "sla_paid_to_first_tracking",
    "sla_placed_to_buyer_tracking",
    "sla_samples_live",
    "sla_trend_chart",
    "complaint_ratio",
    "fulfillment_numbers",
    "stalled_parcels_per_carrier",
    "tracking_lags",
    "tracking_return_rate",
    "AWAITING_SHIPMENT",
    "Card",
    "DASHBOARD_CACHE_SECONDS",
    "NOT_YET_PICKED",
    "URGENT_MIN_PRIORITY",
    "channels_with_sync_problems",
    "dashboard_numbers",
    "kpi_cards",
    "snapshot_counts",
]
