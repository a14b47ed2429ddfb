"""Reporting fixtures: orders pinned to exact local times, users per role, drill-down checks."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict

from channels.models import Channel
from orderhub.forms import OrderFilterForm
from orderhub.models import Order
from orderhub.selectors import order_list_queryset

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year, month, day, hour=12, minute=0) -> dt.datetime:
    """An aware datetime at the given Asia/Shanghai wall-clock time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def pin():
    """Set an order's timestamps (not its status): ``pin(order, placed=..., paid=...)``."""

    def pin(order, **times):
        fields = {f"{name}_at": value for name, value in times.items()}
        Order.objects.filter(pk=order.pk).update(**fields)
        order.refresh_from_db()
        return order

    return pin


@pytest.fixture
def make_channel(db):
    def make(code, platform, name=None):
        return Channel.objects.create(code=code, platform=platform, name=name or code)

    return make


def drilldown_ids(link: str) -> set[int]:
    """The ids the order list shows for ``link`` (its query string, parsed by the list's form)."""
    query = QueryDict(link.split("?", 1)[1])
    form = OrderFilterForm(query)
    assert form.is_valid(), form.errors
    # Every parameter we send must be understood, or the list would silently show more.
    unknown = set(query) - set(form.fields) - {"from", "to"}
    assert not unknown, f"order list ignores {unknown}"
    return set(order_list_queryset(form.filters()).values_list("pk", flat=True))


@pytest.fixture(autouse=True)
def complete_days_only(settings):
    """Reporting tests read the rollup's complete days only (a day changed or not yet over
    is read from the orders), so each figure is exact at once; the live rows, used while
    younger than DASHBOARD_MAX_STALE_SECONDS, are tested with it set
    (tests/reporting/test_rollup.py), the page cache in tests/reporting/test_views.py."""
    settings.DASHBOARD_MAX_STALE_SECONDS = 0
    # ... and each request computes its figures (the page cache has its own test).
    settings.DASHBOARD_CACHE_SECONDS = 0
