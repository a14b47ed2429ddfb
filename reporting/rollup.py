"""The daily rollup: the dashboard's grouped counts per day, kept in a table.

A day is built by ``rollup_day_build`` from the same grouped queries the dashboard runs
live, so a rolled-up day and a fresh aggregate cannot disagree
(``tests/reporting/test_rollup.py`` proves it, after transitions, bulk transitions and
edits too). Which rows are read (``reporting.selectors.rolled.valid_days``):

- *Complete* days: built after the day ended and not marked changed since the build
  started. Exact. Every order transition marks the days it touches (placed, paid,
  shipped day and the day its buyer got tracking info) as changed, and so does an edit
  (``on_order_edited``); ``rollup_refresh`` (every 10 minutes) rebuilds changed and
  missing closed days, the nightly run every day of the last ``REBUILD_DAYS``.
- *Live rows* (issue 17): today, and closed days changed since their build, are rebuilt
  by ``rollup_refresh_live`` every ``DASHBOARD_LIVE_REFRESH_SECONDS`` (beat, default 20 s)
  and read from the rollup while built less than ``DASHBOARD_MAX_STALE_SECONDS`` ago
  (default 60 s). Each build is an exact aggregate of the orders as they were when it
  started (one transaction replaces the day's rows), so on a live hub the dashboard
  shows exact figures at most that old and never reads a day's orders on a request; if
  the refresh falls behind (no worker), the day is read live from the orders again.
  This replaces keying the dashboard cache on the order-change generation, which made
  every view cold on a hub whose orders change every second; the page's own cache
  (``DASHBOARD_CACHE_SECONDS``, default 10 s) only saves repeated views of one filter.
  Rebuilding rather than applying deltas keeps one definition of every figure (an
  incremental counter would need each order's previous contribution for every kind of
  change, creation and edits included, and would drift on any missed signal).

Each day is rolled up once for all orders (category blank) and once per SKU
category, with the dashboard's own category filter, so the category filter
and the category table read closed days from here too. A day built before a
category existed is read live for that category (``RollupDay.categories``);
changing a SKU's category or gift flag marks every day changed (``on_sku_saved``).

The SLAs and the tracking return rate also read waybills and the buyer-tracking stamps,
which change without an order transition (a scan arriving, a booking cancelled, the
buyer told): saving a waybill's first scan time or status marks the days it moves
numbers on (``on_waybill_saved``), a new stamp its day (``reporting.buyer_tracking``).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Min, OuterRef, Subquery
from django.utils import timezone

from orderhub.models import Order
from reporting.models import DailyRollup, RollupDay
from reporting.selectors import (
    DashboardFilters,
    buyer_samples_live,
    category_groups,
    order_categories,
    range_groups,
    ship_groups,
    sku_categories,
    sla_samples_live,
    tracking_lags,
)

# Which days' rows are in use is the read side's question (``reporting.selectors.rolled``);
# re-exported here, where the rollup's callers and tests have always imported it.
from reporting.selectors.rolled import valid_days

REBUILD_DAYS = 40


def rollup_day_build(*, day: dt.date) -> int:
    """(Re)build one day's rows (today's too: live rows, see above); returns how many.
    Safe to run any time, twice."""
    if day > timezone.localdate():
        raise ValueError("days to come have nothing to roll up")
    started = timezone.now()
    categories = sku_categories()
    rows = _day_rows(day) + _day_category_rows(day)
    rows += _day_tracking_rows(day, rows)
    with transaction.atomic():
        # One build of a day writes at a time (the live refresh every few seconds and the
        # 10-minute refresh may meet): the day's row is the lock, taken before the delete,
        # so a second builder deletes the first one's rows instead of adding to them.
        RollupDay.objects.get_or_create(day=day, defaults={"built_at": started,
                                                           "categories": categories})
        RollupDay.objects.select_for_update().filter(day=day).first()
        DailyRollup.objects.filter(day=day).delete()
        DailyRollup.objects.bulk_create(rows, batch_size=1000)
        RollupDay.objects.filter(day=day).update(built_at=started, categories=categories)
    return len(rows)


def _day_category_rows(day: dt.date) -> list[DailyRollup]:
    """One day's rows per SKU category, all categories in one pass."""
    groups = category_groups(DashboardFilters(date_from=day, date_to=day))
    return [
        DailyRollup(day=d, kind=kind, category=category, channel_id=channel_id,
                    warehouse_id=warehouse_id, currency=currency, **counts)
        for (kind, category, d, channel_id, warehouse_id, currency), counts in groups.items()
    ]


def _day_tracking_rows(day: dt.date, rows: list[DailyRollup]) -> list[DailyRollup]:
    """Fill the shipped rows' samples (shipped → first tracking info, for the tracking
    return rate) and return the day's SLA rows (kind ``sla``: the orders whose first valid
    tracking info came that day; kind ``buyer``: the orders whose first valid tracking info
    reached the buyer that day), for all orders and per category, from the same live
    queries the dashboard runs for days that are not rolled up."""
    filters = DashboardFilters(date_from=day, date_to=day)
    sla = sla_samples_live(filters)
    buyer = buyer_samples_live(filters)
    lags = tracking_lags(filters)
    categories = order_categories(sorted({r[0] for r in sla} | {r[0] for r in lags}
                                         | {r[0] for r in buyer}))
    shipped = {(r.category, r.channel_id, r.warehouse_id, r.currency): r
               for r in rows if r.kind == "shipped"}
    for pk, channel_id, warehouse_id, currency, seconds in lags:
        for category in ("", *categories.get(pk, ())):
            shipped[(category, channel_id, warehouse_id, currency)].samples.append(seconds)
    out: dict[tuple, DailyRollup] = {}
    for kind, samples in (("sla", sla), ("buyer", buyer)):
        for pk, channel_id, warehouse_id, _day, seconds in samples:
            for category in ("", *categories.get(pk, ())):
                key = (kind, category, channel_id, warehouse_id)
                row = out.get(key)
                if row is None:
                    row = out[key] = DailyRollup(day=day, kind=kind, category=category,
                                                 channel_id=channel_id,
                                                 warehouse_id=warehouse_id, currency="")
                row.n += 1
                row.samples.append(seconds)
    for row in [*shipped.values(), *out.values()]:
        row.samples.sort()
    return list(out.values())


def _day_rows(day: dt.date, category: str = "") -> list[DailyRollup]:
    """One day's rows for all orders, from the grouped queries the dashboard runs live."""
    filters = DashboardFilters(date_from=day, date_to=day, category=category)
    groups = range_groups(filters, by_warehouse=True, use_rollup=False)
    rows = []
    for kind in ("placed", "paid"):
        for g in groups[kind]:
            rows.append(DailyRollup(
                day=day, kind=kind, category=category, channel_id=g["channel_id"],
                warehouse_id=g["warehouse_id"], currency=g["currency"], n=g["n"],
                cancelled=g.get("cancelled", 0), kept=g.get("kept", 0), total=g.get("total"),
            ))
    for g in ship_groups(filters):
        rows.append(DailyRollup(
            day=day, kind="shipped", category=category, channel_id=g["channel_id"],
            warehouse_id=g["warehouse_id"], currency=g["currency"], n=g["n"],
            ship_n=g["ship_n"], ship_microseconds=g["ship_microseconds"],
            **{f"b{i}": g[f"b{i}"] for i in range(6)},
        ))
    return rows


def rollup_days_mark_changed(*, days) -> int:
    """Stop using these days' rows until rebuilt (an order on them changed)."""
    return RollupDay.objects.filter(day__in=list(days)).update(dirty_at=timezone.now())


def rollup_refresh(*, days_back: int = REBUILD_DAYS, rebuild_all: bool = False) -> list:
    """Build the closed days of the last ``days_back`` days that are missing or changed
    (or all of them with ``rebuild_all``). Cost: ~50 ms per day at 3,000 orders a day."""
    today = timezone.localdate()
    first = today - dt.timedelta(days=days_back)
    wanted = {first + dt.timedelta(days=i) for i in range(days_back)}
    todo = wanted if rebuild_all else wanted - valid_days(first, today, max_stale=0)
    for day in sorted(todo):
        rollup_day_build(day=day)
    return sorted(todo)


def rollup_refresh_live(*, days_back: int = REBUILD_DAYS) -> list:
    """Rebuild the live rows: today, and the closed days of the last ``days_back`` days
    that changed since they were built (or were built before they ended). Run every
    ``DASHBOARD_LIVE_REFRESH_SECONDS``; costs one day's build (~50–100 ms at 3,000 orders
    a day) per day touched since the last run."""
    today = timezone.localdate()
    first = today - dt.timedelta(days=days_back)
    built = RollupDay.objects.filter(day__gte=first, day__lt=today).values_list("day",
                                                                                flat=True)
    # Only days built before: missing days are the 10-minute refresh's (a first build
    # of 40 days is no job for a task that runs every few seconds).
    stale = set(built) - valid_days(first, today - dt.timedelta(days=1), max_stale=0)
    todo = [*sorted(stale), today]
    for day in todo:
        rollup_day_build(day=day)
    return todo


def on_orders_status_changed(sender, changes, **kwargs):
    """Receiver (one per committed batch): the changed orders' placed, paid, shipped and
    buyer-tracking days are no longer complete. One query however many orders changed."""
    _orders_days_mark_changed([c.order_id for c in changes])


def on_order_edited(sender, order_id, **kwargs):
    """Receiver (after commit): an edit (total, warehouse, lines...) may move any of the
    order's numbers on its days: mark them changed, as for a transition."""
    _orders_days_mark_changed([order_id])


def _orders_days_mark_changed(order_ids) -> None:
    rows = Order.objects.filter(pk__in=order_ids).values_list(
        "placed_at", "paid_at", "shipped_at", "buyer_tracking__at")
    # Today's rows are live rows (rebuilt every few seconds whatever changed), and most
    # changes (every freshly ingested order) touch only today: skip the write then.
    today = timezone.localdate()
    days = {day for times in rows for t in times
            if t and (day := timezone.localdate(t)) < today}
    if days:
        rollup_days_mark_changed(days=days)


# What makes a waybill an order's first valid tracking info (reporting.selectors.sla).
WAYBILL_FIELDS = {"order", "status", "first_event_at"}


def on_waybill_pre_save(sender, instance, update_fields=None, **kwargs):
    """Receiver: remember what the SLA and the tracking return rate read of this waybill."""
    if update_fields is not None and not WAYBILL_FIELDS & set(update_fields):
        return
    before = None
    if instance.pk:
        before = (sender.objects.filter(pk=instance.pk)
                  .values_list("order_id", "status", "first_event_at").first())
    instance._reporting_before = before


def on_waybill_saved(sender, instance, created, **kwargs):
    """Receiver: a waybill's first scan or validity changed, so its order's first tracking
    info may have moved: the days that counted it before and after (SLA: the day of the
    first tracking info; tracking return rate: the shipping day) go back to live until
    rebuilt. One query, plus the marking after commit (as for transitions)."""
    if not hasattr(instance, "_reporting_before"):
        return
    before = instance.__dict__.pop("_reporting_before")
    after = (instance.order_id, instance.status, instance.first_event_at)
    if before == after or (before is None and after[2] is None):
        return  # a new waybill without a scan yet changes no number
    others = (sender.objects.valid().filter(order=OuterRef("pk"), first_event_at__isnull=False)
              .exclude(pk=instance.pk)
              .order_by().values("order").annotate(first=Min("first_event_at"))
              .values("first"))
    order_ids = {after[0], *([before[0]] if before else [])}
    times = [after[2], before[2] if before else None]
    for shipped_at, first in (Order.objects.filter(pk__in=order_ids)
                              .annotate(first=Subquery(others))
                              .values_list("shipped_at", "first")):
        times += [shipped_at, first]
    today = timezone.localdate()
    days = {day for t in times if t and (day := timezone.localdate(t)) < today}
    if days:
        transaction.on_commit(lambda: rollup_days_mark_changed(days=days))


# What puts an order's lines in a category (reporting.selectors.scope.category_q).
SKU_CATEGORY_FIELDS = ("code", "category", "is_gift")


def on_sku_pre_save(sender, instance, **kwargs):
    """Receiver: remember whether this save changes what puts orders in a category."""
    old = None
    if instance.pk:
        old = sender.objects.filter(pk=instance.pk).values_list(*SKU_CATEGORY_FIELDS).first()
    new = tuple(getattr(instance, name) for name in SKU_CATEGORY_FIELDS)
    # A new SKU without a category changes no day's numbers.
    instance._reporting_category_changed = (old != new) if old else bool(instance.category)


def on_sku_saved(sender, instance, **kwargs):
    """Receiver: a SKU moved between categories (or became a gift): every rolled-up day's
    category rows may be wrong, so all days are read live until the refresh rebuilds them."""
    if getattr(instance, "_reporting_category_changed", False):
        transaction.on_commit(lambda: RollupDay.objects.update(dirty_at=timezone.now()))


def on_sku_deleted(sender, instance, **kwargs):
    """Receiver: orders of a deleted categorised SKU leave its category."""
    if instance.category:
        transaction.on_commit(lambda: RollupDay.objects.update(dirty_at=timezone.now()))
