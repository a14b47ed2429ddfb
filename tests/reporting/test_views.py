"""The dashboard and wall pages: login, permissions, filters, bad dates, HTMX partials."""

import html as html_lib
import re
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orderhub.models import OrderStatus as S
from reporting.models import SpikeAlert, SpikeRule
from reporting.selectors import cards
from tests.reporting.conftest import local
from warehouse.models import SKU

DASH = "/dashboard/"


@pytest.fixture
def manager_client(client, make_user):
    client.force_login(make_user("manager"))
    return client


def test_dashboard_url_is_the_stable_one():
    assert reverse("dashboard") == DASH
    assert reverse("dashboard-wall") == "/dashboard/wall/"


@pytest.mark.parametrize("url", [DASH, "/dashboard/wall/", "/reports/reconciliation/",
                                 "/reports/export/orders.csv", "/reports/export/daily.csv"])
def test_login_required_everywhere(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(("role", "status"), [("manager", 200), ("finance", 200),
                                              ("admin", 200), ("ops", 403), ("picker", 403)])
def test_dashboard_permission_by_role(client, make_user, role, status):
    client.force_login(make_user(role))
    assert client.get(DASH).status_code == status


def test_dashboard_renders_cards_tables_and_links(manager_client, make_order, pin):
    order = pin(make_order(S.SHIPPED), placed=local(2026, 11, 20, 9), paid=local(2026, 11, 20, 10),
                shipped=local(2026, 11, 20, 12))
    response = manager_client.get(DASH, {"from": "2026-11-19", "to": "2026-11-21"})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="kpi-awaiting_shipment"' in html
    assert 'id="kpi-paid_to_shipped_hours"' in html and 'data-value="2.0"' in html
    assert 'data-day="2026-11-19"' in html and 'data-day="2026-11-21"' in html
    assert "/orders/?shipped_from=2026-11-20&amp;shipped_to=2026-11-20" in html
    assert 'data-platform="manual"' in html
    assert order.currency in html
    assert "chart.umd.min.js" in html


def test_dashboard_defaults_to_today(manager_client):
    response = manager_client.get(DASH)
    today = timezone.localdate()
    assert response.context["filters"].date_from == today
    assert response.context["filters"].date_to == today


@pytest.mark.parametrize(("params", "message"), [
    ({"from": "2026-13-45"}, "“From” is not a date"),
    ({"to": "yesterday"}, "“To” is not a date"),
    ({"from": "2026-11-21", "to": "2026-11-01"}, "The end date is before the start date."),
    ({"from": "2020-01-01", "to": "2026-11-01"}, "Pick at most"),
    ({"channel": "no-such-channel"}, "Select a valid choice"),
])
def test_invalid_filters_give_a_clear_400(manager_client, params, message):
    response = manager_client.get(DASH, params)
    assert response.status_code == 400
    assert message in response.content.decode()
    # The form stays on the page so the user can fix it.
    assert 'name="from"' in response.content.decode()


def test_invalid_filters_on_the_wall_and_htmx(manager_client):
    assert manager_client.get("/dashboard/wall/", {"from": "x"}).status_code == 400
    response = manager_client.get(DASH, {"from": "x", "part": "cards"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "is not a date" in response.content.decode()


def test_htmx_cards_partial_is_only_the_cards(manager_client, make_order):
    make_order(S.REVIEW)
    response = manager_client.get(DASH, {"part": "cards"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="kpi-in_review"' in html
    assert "<html" not in html and "by-day" not in html


def _poller(html: str) -> dict:
    """The attributes of the dashboard's live cards container (``<div id="cards" ...>``)."""
    tag = re.search(r'<div id="cards"([^>]*)>', html).group(1)
    return {k: html_lib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def test_dashboard_cards_poll_with_the_current_filters(manager_client, make_channel):
    make_channel("sp", "shopify", "Shopify store")
    params = {"from": "2026-11-20", "to": "2026-11-21", "platform": "shopify"}
    for response in (manager_client.get(DASH, params),
                     # After a filter change the body (and so the poller) is swapped in.
                     manager_client.get(DASH, params, HTTP_HX_REQUEST="true")):
        attrs = _poller(response.content.decode())
        url = attrs["hx-get"]
        assert url.startswith(f"{DASH}?") and "part=cards" in url
        assert "from=2026-11-20" in url and "to=2026-11-21" in url
        assert "platform=shopify" in url
        # Every 60 s while visible and once on return (app.js data-poll: no eval under the CSP).
        assert attrs["hx-trigger"] == "poll" and attrs["data-poll-every"] == "60"
        assert "data-poll-on-visible" in re.search(r'<div id="cards"([^>]*)>',
                                                   response.content.decode()).group(1)
        assert attrs["hx-target"] == "this" and attrs["hx-swap"] == "innerHTML"


def test_polled_cards_answer_with_their_filters(manager_client, make_order, make_channel,
                                               django_capture_on_commit_callbacks, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0  # each poll computes (the cache: test below)
    shopify = make_channel("sp", "shopify", "Shopify store")
    make_order(S.REVIEW)
    make_order(S.REVIEW, channel=shopify)
    make_order(S.REVIEW, channel=shopify)
    page = manager_client.get(DASH, {"platform": "shopify"}).content.decode()
    url = _poller(page)["hx-get"]

    response = manager_client.get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "by-day" not in html and 'id="cards"' not in html
    assert 'data-value="2"' in html.split('id="kpi-in_review"', 1)[1][:200]
    # A new order in scope shows on the next poll; one out of scope does not.
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.REVIEW, channel=shopify)
        make_order(S.REVIEW)
    html = manager_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-value="3"' in html.split('id="kpi-in_review"', 1)[1][:200]


def test_htmx_filter_change_swaps_the_body(manager_client):
    response = manager_client.get(DASH, {"from": "2026-11-01"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="by-day"' in html and "<html" not in html


def test_wall_page_polls_only_while_visible(manager_client, make_order):
    make_order(S.OUT_OF_STOCK)
    response = manager_client.get("/dashboard/wall/", {"platform": "manual"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="poll" data-poll-every="30" data-poll-on-visible' in html
    assert 'hx-get="/dashboard/wall/?' in html and "platform=manual" in html
    assert 'id="kpi-out_of_stock"' in html
    assert "topbar" not in html  # standalone, full screen

    partial = manager_client.get("/dashboard/wall/", HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode()
    assert 'id="wall-updated"' in partial.content.decode()


def test_spike_alerts_show_and_can_be_acknowledged(manager_client):
    alert = SpikeAlert.objects.create(rule=SpikeRule.objects.get(), day="2026-11-21",
                                      sku_code="SKU-HOT", province="浙江省",
                                      payment_success_percent="97.50")
    assert "SKU-HOT" in manager_client.get(DASH).content.decode()
    response = manager_client.post(f"/dashboard/alerts/{alert.pk}/ack/")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged
    assert "SKU-HOT" not in manager_client.get(DASH).content.decode()


def test_dashboard_numbers_are_cached_for_a_few_seconds_not_per_order_change(
    manager_client, make_order, django_capture_on_commit_callbacks, settings
):
    settings.DASHBOARD_CACHE_SECONDS = 10
    make_order(S.REVIEW)
    with mock.patch.object(cards.cache, "set", wraps=cards.cache.set) as stored:
        first = manager_client.get(DASH)
    assert first.context["cards"][5].value == 1  # in review
    # Kept for DASHBOARD_CACHE_SECONDS (the cache's own expiry; Redis or locmem).
    assert [c.args[2] for c in stored.call_args_list
            if c.args[0].startswith("reporting:dashboard:full:")] == [10]
    # An order change no longer empties the cache (on a live hub every view was cold).
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.REVIEW)
    with CaptureQueriesContext(connection) as queries:
        again = manager_client.get(DASH)
    assert again.context["cards"][5].value == 1
    # Only the fulfillment numbers (tracking, complaints on the placed orders, the buyer
    # SLA: cached on their own) are read.
    assert not [q for q in queries if "orderhub_order" in q["sql"]
                and "shipping_waybill" not in q["sql"] and "tickets_ticket" not in q["sql"]
                and "reporting_buyertrackinginfo" not in q["sql"]]
    # Once the entry has expired the answer is computed again: exact.
    cache.clear()
    assert manager_client.get(DASH).context["cards"][5].value == 2


def test_dashboard_speaks_chinese(manager_client):
    html = manager_client.get(DASH, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "待发货订单" in html and "运营看板" in html


def test_dashboard_date_range_is_labelled_as_dates_in_chinese(manager_client):
    # "To" means a message's recipient elsewhere (收件人); the range end is a date
    response = manager_client.get(DASH, HTTP_ACCEPT_LANGUAGE="zh-hans")
    form = response.context["form"]
    assert (str(form["date_from"].label), str(form["date_to"].label)) == ("开始日期", "结束日期")
    assert "收件人" not in response.content.decode()


def test_category_filter_on_the_page(manager_client, make_order, pin):
    SKU.objects.create(code="SKU-1", name="保温杯", category="drinkware")
    SKU.objects.create(code="TEA-1", name="乌龙", category="tea")
    pin(make_order(S.REVIEW), placed=local(2026, 11, 20, 9))  # sells SKU-1
    params = {"from": "2026-11-19", "to": "2026-11-21"}

    page = manager_client.get(DASH, params).content.decode()
    assert '<option value="tea">tea</option>' in page
    assert 'href="/orders/?' in page  # drill-down links without a category filter
    assert 'data-category="drinkware"' in page and 'id="by-category"' in page
    assert "/dashboard/?from=2026-11-19&amp;to=2026-11-21&amp;category=drinkware" in page

    tea = manager_client.get(DASH, {**params, "category": "tea"})
    html = tea.content.decode()
    assert tea.status_code == 200
    assert tea.context["cards"][5].value == 0  # in review: the order sells no tea
    assert 'id="category-note"' in html
    assert 'href="/orders/?' not in html  # the order list cannot filter by category
    # The wall screen keeps the category in its polling URL.
    wall = manager_client.get("/dashboard/wall/", {**params, "category": "tea"})
    assert "category=tea" in wall.content.decode()

    drinkware = manager_client.get(DASH, {**params, "category": "drinkware"})
    assert drinkware.context["cards"][5].value == 1


def test_unknown_category_is_a_clear_400(manager_client):
    response = manager_client.get(DASH, {"category": "no-such-category"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
