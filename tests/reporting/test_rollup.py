"""The daily rollup equals a fresh aggregate, and a transition sends its days back to live."""

import datetime as dt

import pytest
from django.utils import timezone

from orderhub.services.orders import order_transition
from reporting import selectors
from reporting.models import DailyRollup, RollupDay
from reporting.rollup import rollup_day_build, rollup_refresh, valid_days
from reporting.selectors import DashboardFilters
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


def test_only_closed_days_are_rolled_up(db):
    with pytest.raises(ValueError):
        rollup_day_build(day=TODAY)
    assert RollupDay.objects.count() == 0
