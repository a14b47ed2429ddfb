"""The order list's tab counts and paging: counters, bounded counts, no total needed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from orderhub import selectors
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from orderhub.services.orders import order_transition

LIST = "/orders/"


@pytest.fixture
def ops_client(client, make_user):
    client.force_login(make_user("ops"))
    return client


@pytest.fixture
def small_bound(monkeypatch):
    """A bound of 3 orders, so a handful of orders reaches it."""
    monkeypatch.setattr(selectors, "COUNT_BOUND", 3)
    return 3


def tabs(response) -> dict[str, str]:
    """Each tab's count as shown: "12", "1,000+"."""
    html = response.content.decode()
    return dict(re.findall(
        r'data-status="([a-z_]+)">\s*[^<]*<span class="count[^"]*"[^>]*>([^<]+)</span>', html))


def pager(response) -> str:
    html = response.content.decode()
    return " ".join(re.search(r'<div class="pager">\s*<span class="sub">(.*?)</span>', html,
                              re.S).group(1).split())


def today() -> str:
    return timezone.localdate().isoformat()


# --- counters ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_counter_filters_count_without_reading_the_orders(ops_client, make_order, channel,
                                                          warehouse):
    # given
    make_order(S.PAID)
    make_order(S.READY_TO_PICK, warehouse=warehouse, kind="b2b")
    make_order(S.READY_TO_PICK, warehouse=warehouse)

    # when
    with CaptureQueriesContext(connection) as ctx:
        response = ops_client.get(LIST, {"channel": "shop", "warehouse": "sh",
                                         "status": "ready_to_pick"})

    # then: the counts are exact, and the one query on the orders is the page itself
    assert tabs(response)["all"] == "2" and tabs(response)["ready_to_pick"] == "2"
    assert tabs(response)["paid"] == "0"
    order_reads = [q["sql"] for q in ctx.captured_queries
                   if re.search(r'FROM "orderhub_order"(?!\w)', q["sql"])]
    assert len(order_reads) == 1 and "LIMIT" in order_reads[0], order_reads
    assert "1–2 of 2" in pager(response)
    assert tabs(ops_client.get(LIST, {"kind": "b2b"})) | {} == {
        **{s: "0" for s in S.values}, "all": "1", "ready_to_pick": "1"}


@pytest.mark.django_db
def test_counts_follow_a_change_at_once(ops_client, make_order):
    order = make_order(S.PAID)
    assert tabs(ops_client.get(LIST))["paid"] == "1"
    # No commit, no cache generation: the counters move with the change itself.
    order_transition(order=order.pk, name="mark_ready", actor="system:test")
    shown = tabs(ops_client.get(LIST))
    assert shown["paid"] == "0" and shown["ready_to_pick"] == "1" and shown["all"] == "1"
    Order.objects.filter(pk=order.pk).delete()
    assert tabs(ops_client.get(LIST))["all"] == "0"


# --- bounded counts ---------------------------------------------------------------------


@pytest.mark.django_db
def test_date_filter_counts_are_exact_below_the_bound(ops_client, make_order, small_bound):
    make_order(S.PAID)
    make_order(S.PAID)
    make_order(S.SHIPPED)
    shown = tabs(ops_client.get(LIST, {"from": today()}))
    assert shown["all"] == "3" and shown["paid"] == "2" and shown["shipped"] == "1"
    truth = dict(Order.objects.values_list("status").annotate(n=Count("id")))
    assert {s: int(n) for s, n in shown.items() if s != "all" and n != "0"} == truth


@pytest.mark.django_db
def test_date_filter_counts_stop_at_the_bound(ops_client, make_order, small_bound):
    for _ in range(4):
        make_order(S.PAID)
    make_order(S.SHIPPED)
    response = ops_client.get(LIST, {"from": today()})
    shown = tabs(response)
    assert shown["paid"] == "3+" and shown["all"] == "3+" and shown["shipped"] == "1"
    assert "At least this many: narrow the filters" in response.content.decode()
    # An old date range holds nothing: exact zeros.
    old = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    assert tabs(ops_client.get(LIST, {"to": old}))["all"] == "0"


@pytest.mark.django_db
def test_bounded_counts_read_at_most_the_bound_per_status(make_order, small_bound):
    for _ in range(5):
        make_order(S.PAID)
    with CaptureQueriesContext(connection) as ctx:
        counts = selectors.order_status_counts({"date_from": timezone.localdate(),
                                                "sort": "-placed"})
    assert counts["paid"] == selectors.TabCount(3, more=True)
    assert counts["shipped"] == selectors.TabCount(0)
    assert len(ctx.captured_queries) == 1
    assert ctx.captured_queries[0]["sql"].count("LIMIT 4") == len(S.values)


@pytest.mark.django_db
def test_search_counts_are_exact(ops_client, make_order, small_bound):
    order = make_order(S.PAID)
    make_order(S.SHIPPED)
    shown = tabs(ops_client.get(LIST, {"q": order.number}))
    assert shown["all"] == "1" and shown["paid"] == "1" and shown["shipped"] == "0"


@pytest.mark.django_db
def test_bounded_count_in_chinese(client, make_user, make_order, small_bound, settings):
    settings.ORDERS_PER_PAGE = 2
    client.force_login(make_user("ops"))
    for _ in range(4):
        make_order(S.PAID)
    with translation.override("zh-hans"):
        response = client.get(LIST, {"from": today()}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert tabs(response)["paid"] == "3+"
    assert "至少这么多" in html and "At least" not in html
    assert pager(response) == "第 1–2 条，共超过 3 条"


# --- paging without a total -------------------------------------------------------------


@pytest.mark.django_db
def test_pages_past_the_bound_need_no_total(ops_client, make_order, small_bound, settings):
    settings.ORDERS_PER_PAGE = 2
    for _ in range(5):
        make_order(S.PAID)
    numbers = list(Order.objects.order_by("-placed_at", "-id").values_list("number", flat=True))

    first = ops_client.get(LIST, {"from": today()})
    assert pager(first) == "1–2 of more than 3"
    html = first.content.decode()
    assert 'rel="next"' in html and 'rel="prev"' not in html
    assert numbers[0] in html and numbers[1] in html and numbers[2] not in html

    second = ops_client.get(LIST, {"from": today(), "page": 2})
    assert pager(second) == "3–4 of more than 4"
    assert 'rel="next"' in second.content.decode()

    # The last page knows the total: it ends there.
    last = ops_client.get(LIST, {"from": today(), "page": 3})
    assert pager(last) == "5–5 of 5"
    html = last.content.decode()
    assert numbers[4] in html and 'rel="next"' not in html

    # Past the end: counted that far only, and the last page shown with a notice.
    beyond = ops_client.get(LIST, {"from": today(), "page": 9})
    assert "Page 9 does not exist; this is the last page, 3." in beyond.content.decode()
    assert pager(beyond) == "5–5 of 5"


def test_open_ended_page_range():
    class Rows(list):
        pass

    paginator = selectors.OpenEndedPaginator(Rows(), 25, more_than=1000)
    page = selectors.OpenEndedPage(list(range(25)), 1, paginator, has_next=True)
    assert page.page_range() == [1, 2, 3, paginator.ELLIPSIS]
    page = selectors.OpenEndedPage(list(range(25)), 10, paginator, has_next=True)
    assert page.page_range() == [1, paginator.ELLIPSIS, 8, 9, 10, 11, 12, paginator.ELLIPSIS]
    page = selectors.OpenEndedPage(list(range(3)), 10, paginator, has_next=False)
    assert page.total == 228 and page.num_pages == 10
    assert page.page_range() == [1, paginator.ELLIPSIS, 8, 9, 10]


@pytest.mark.django_db
def test_other_filters_count_a_sample_of_the_bound(ops_client, make_order, small_bound):
    # A placed date with a counter filter, paid dates, a tag: the first 4 orders found.
    for _ in range(3):
        make_order(S.PAID)
    make_order(S.SHIPPED)
    few = tabs(ops_client.get(LIST, {"from": today(), "channel": "shop"}))
    assert few["all"] == "3+"
    # each tab: at least what the sample of 3 held; a status it missed is unknown
    shown = {s: n for s, n in few.items() if s != "all"}
    assert all(n.endswith("+") or n == "?" for n in shown.values())
    assert sum(int(n[:-1]) for n in shown.values() if n != "?") == 3
    assert set(shown) - {"paid", "shipped"} <= {s for s, n in shown.items() if n == "?"}

    make_order(S.CANCELLED)  # never paid: outside any paid range
    paid = tabs(ops_client.get(LIST, {"paid_from": today()}))
    assert paid["all"] == "3+" and paid["cancelled"] == "?"

    # Under the bound every count is exact.
    one = tabs(ops_client.get(LIST, {"shipped_from": today()}))
    assert one["all"] == "1" and one["shipped"] == "1" and one["paid"] == "0"
