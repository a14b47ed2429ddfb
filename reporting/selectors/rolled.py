"""Which days of a range are read from the daily rollup, and how a rollup query is scoped.

The lowest layer of the read models: the rollup's writer (``reporting.rollup``)
builds its rows from the selectors, and the selectors read rolled-up days through
``valid_days`` here, so neither imports the other the wrong way round.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from reporting.models import RollupDay
from reporting.selectors.scope import DashboardFilters, local_midnight


def valid_days(first: dt.date, last: dt.date, categories=(), *,
               max_stale: float | None = None) -> set[dt.date]:
    """The days in ``first..last`` whose rollup rows may be used now, for all orders and
    for each of ``categories`` (SKU categories; empty: only the all-orders rows).

    A day's rows are used when they are *complete*: built after the day ended and not
    marked changed since the build started; or when they are *fresh*: built less than
    ``max_stale`` seconds ago (default ``settings.DASHBOARD_MAX_STALE_SECONDS``; 0: only
    complete days), which is how today and changed days are read on a live hub
    (``reporting.rollup``, "live rows")."""
    today = timezone.localdate()
    last = min(last, today)
    if last < first:
        return set()
    if max_stale is None:
        max_stale = settings.DASHBOARD_MAX_STALE_SECONDS
    fresh_after = timezone.now() - dt.timedelta(seconds=max_stale) if max_stale > 0 else None
    wanted = set(categories)
    rows = RollupDay.objects.filter(day__gte=first, day__lte=last).values_list(
        "day", "built_at", "dirty_at", "categories")
    out = set()
    for day, built_at, dirty_at, built in rows:
        if not wanted <= set(built or ()):
            continue
        complete = (day < today and built_at >= local_midnight(day + dt.timedelta(days=1))
                    and (dirty_at is None or dirty_at < built_at))
        if complete or (fresh_after is not None and built_at >= fresh_after):
            out.add(day)
    return out


def _split_days(filters: DashboardFilters, use_rollup: bool,
                categories=None) -> tuple[set, list[tuple]]:
    """The range's days with a valid rollup (for ``categories``, default: the filter's),
    and the other days as contiguous (from, to) runs."""
    rolled: set = set()
    if use_rollup:
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
    qs = qs.filter(filters.scope_q(category=False))
    if by_category:
        return qs
    # Rows with a blank category are the whole scope; the others only that category's orders.
    return qs.filter(category=filters.category)


# The rollup kinds that count orders by one of their timestamps (the others, "sla" and
# "buyer", hold the two SLAs' samples of a day's first tracking info, scanned or sent).
ORDER_KINDS = ("placed", "paid", "shipped")

