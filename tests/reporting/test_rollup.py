"""The daily rollup equals a fresh aggregate, a transition or an edit sends its days back to
live, and the live rows (today, changed days) equal a fresh aggregate once rebuilt."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from freezegun import freeze_time

from orderhub.models import Order
from orderhub.models import OrderStatus as S
from orderhub.services.bulk import orders_edit_and_transition
from orderhub.services.orders import order_transition, order_update
from reporting import selectors
from reporting.models import DailyRollup, RollupDay
from reporting.rollup import rollup_day_build, rollup_refresh, rollup_refresh_live, valid_days
from reporting.selectors import DashboardFilters, local_tz
from tests.reporting.conftest import local
from tests.reporting.test_selectors import D18, D19, D20, D21, world  # noqa: F401

TODAY = dt.date(2026, 11, 25)


@pytest.fixture(autouse=True)
def today_is_the_25th(monkeypatch):
    real = timezone.localdate

    def localdate(value=None, timezone=None):
        return real(value, timezone) if value is not None else TODAY

    monkeypatch.setattr("django.utils.timezone.localdate", localdate)


def everything(filters, use_rollup):
    groups = selectors.range_groups(filters, use_rollup=use_rollup)
    return {
        "by_day": selectors.by_day(filters, groups),
        "by_platform": selectors.by_platform(filters, groups),
        "sales": selectors.sales_summary(filters, groups),
        "per_channel": selectors.orders_per_day_per_channel(filters, groups),
        "ship": selectors.ship_time_stats(filters, use_rollup=use_rollup),
    }


def scopes(world, warehouse):  # noqa: F811
    return [
        DashboardFilters(D18, TODAY),
        DashboardFilters(D20, D21),
        DashboardFilters(D18, TODAY, warehouse=warehouse),
        DashboardFilters(D18, TODAY, platform="shopify"),
        DashboardFilters(D18, TODAY, channel=world["shopify"]),
    ]


def test_rollup_equals_a_fresh_aggregate(world, warehouse):  # noqa: F811
    fresh = [everything(f, use_rollup=False) for f in scopes(world, warehouse)]

    built = rollup_refresh(days_back=8)

    assert built == [TODAY - dt.timedelta(days=i) for i in range(8, 0, -1)]
    assert valid_days(D18, TODAY) == {D18, D19, D20, D21, dt.date(2026, 11, 22),
                                      dt.date(2026, 11, 23), dt.date(2026, 11, 24)}
    assert DailyRollup.objects.filter(day=D20).exists()
    rolled = [everything(f, use_rollup=True) for f in scopes(world, warehouse)]
    assert rolled == fresh
    assert fresh[0]["ship"]["hours"] is not None  # the comparison covers real numbers
    # Nothing left to do until something changes.
    assert rollup_refresh(days_back=8) == []


def test_rolled_up_days_are_read_from_the_rollup(world, django_assert_num_queries):  # noqa: F811
    rollup_refresh(days_back=8)
    # D18..D21 all rolled up: one validity query plus one rollup query, no order query.
    with django_assert_num_queries(2):
        selectors.range_groups(DashboardFilters(D18, D21))


def test_a_transition_sends_its_days_back_to_live_until_rebuilt(
    world, django_capture_on_commit_callbacks  # noqa: F811
):
    rollup_refresh(days_back=8)
    before = everything(DashboardFilters(D18, D21), use_rollup=True)

    # Order 1 was placed and paid on the 20th; cancelling it changes that day's numbers.
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=world[1].pk, name="cancel", actor="system:test", reason="x")

    assert D20 not in valid_days(D18, D21)
    live = everything(DashboardFilters(D18, D21), use_rollup=False)
    assert everything(DashboardFilters(D18, D21), use_rollup=True) == live
    day20 = next(r for r in live["by_day"] if r["day"] == D20)
    assert day20["cancelled"] == 2 and before["by_day"][2]["cancelled"] == 1

    assert rollup_refresh(days_back=8) == [D20]
    assert D20 in valid_days(D18, D21)
    assert everything(DashboardFilters(D18, D21), use_rollup=True) == live


def test_days_to_come_are_not_rolled_up(db):
    with pytest.raises(ValueError):
        rollup_day_build(day=TODAY + dt.timedelta(days=1))
    assert RollupDay.objects.count() == 0


# --- live rows: today and changed days (issue 17) ----------------------------------------------


def all_scopes(world, warehouse):  # noqa: F811
    return [*scopes(world, warehouse), DashboardFilters(TODAY, TODAY),
            DashboardFilters(D20, D20, channel=world["shopify"])]


def fresh_and_rolled(world, warehouse):  # noqa: F811
    return ([everything(f, use_rollup=False) for f in all_scopes(world, warehouse)],
            [everything(f, use_rollup=True) for f in all_scopes(world, warehouse)])


def test_live_rows_equal_a_fresh_aggregate_after_transitions_bulk_moves_and_edits(
    world, warehouse, make_order, pin, settings, django_capture_on_commit_callbacks,  # noqa: F811
    django_assert_num_queries,
):
    # given: orders placed today, every closed day built, today's live rows built
    settings.DASHBOARD_MAX_STALE_SECONDS = 60
    t1 = pin(make_order(S.PAID), placed=local(2026, 11, 25, 9), paid=local(2026, 11, 25, 9, 5))
    t2 = pin(make_order(S.PAID, channel=world["shopify"], warehouse=warehouse),
             placed=local(2026, 11, 25, 10), paid=local(2026, 11, 25, 10, 30))
    rollup_refresh(days_back=8)
    assert rollup_refresh_live(days_back=8) == [TODAY]
    assert TODAY in valid_days(D18, TODAY)
    with django_assert_num_queries(2):  # today too: the validity check and the rollup
        selectors.range_groups(DashboardFilters(D18, TODAY))
    fresh, rolled = fresh_and_rolled(world, warehouse)
    assert rolled == fresh
    assert fresh[5]["by_day"][0]["paid"] == 2  # today's numbers are real

    # when: an edit, a transition and a bulk edit-and-move, on closed days and today
    with django_capture_on_commit_callbacks(execute=True):
        order_update(order=world[1].pk, actor="system:test", changes={"warehouse": warehouse})
    assert D20 not in valid_days(D18, TODAY, max_stale=0)  # the edit alone marks its days
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=world[1].pk, name="cancel", actor="system:test", reason="x")
        order_transition(order=t1.pk, name="cancel", actor="system:test", reason="x")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = list(Order.objects.select_for_update().filter(pk__in=[world[7].pk, t2.pk])
                      .order_by("pk"))
        orders_edit_and_transition(
            orders=locked, actor="system:test", edit_reason="test",
            changes_by_id={world[7].pk: {"warehouse": None}},
            transition_by_id={world[7].pk: ("cancel", "x"), t2.pk: ("cancel", "x")})

    # then: the changed closed days are no longer complete (19th, 20th: placed and paid)
    assert valid_days(D18, TODAY, max_stale=0) >= {D18, D21}
    assert not {D19, D20} & valid_days(D18, TODAY, max_stale=0)
    fresh_after, _ = fresh_and_rolled(world, warehouse)
    assert fresh_after != fresh
    # Read with no stale rows allowed, every figure is exact at once (changed days live) ...
    settings.DASHBOARD_MAX_STALE_SECONDS = 0
    assert fresh_and_rolled(world, warehouse) == (fresh_after, fresh_after)
    # ... and once the live rows are rebuilt they are read again, equal to a fresh aggregate.
    settings.DASHBOARD_MAX_STALE_SECONDS = 60
    assert rollup_refresh_live(days_back=8) == [D19, D20, TODAY]
    assert fresh_and_rolled(world, warehouse) == (fresh_after, fresh_after)
    with django_assert_num_queries(2):
        selectors.range_groups(DashboardFilters(D18, TODAY))


def test_live_rows_are_read_only_while_fresh(world, settings, monkeypatch):  # noqa: F811
    settings.DASHBOARD_MAX_STALE_SECONDS = 60
    with freeze_time(local(2026, 11, 25, 12)) as clock:
        rollup_refresh_live(days_back=8)
        assert valid_days(TODAY, TODAY) == {TODAY}
        clock.tick(61)  # the refresh stopped (no worker): today is read live again
        assert valid_days(TODAY, TODAY) == set()
        rollup_refresh_live(days_back=8)
        # Past midnight, the 25th built at noon is not complete: read live once its rows
        # are too old, rebuilt by the next refresh (which now builds the 26th as today).
        clock.move_to(local(2026, 11, 26, 0, 5))
        monkeypatch.setattr("django.utils.timezone.localdate",
                            lambda value=None, timezone=None: (
                                timezone_localdate(value) if value is not None
                                else dt.date(2026, 11, 26)))
        assert TODAY not in valid_days(TODAY, TODAY)
        assert rollup_refresh_live(days_back=8) == [TODAY, dt.date(2026, 11, 26)]
        assert TODAY in valid_days(TODAY, TODAY, max_stale=0)  # complete now


def timezone_localdate(value):
    return dt.datetime.fromtimestamp(value.timestamp(), tz=local_tz()).date()
