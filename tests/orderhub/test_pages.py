"""The staff order pages: list filters, search, sorting, paging, tabs, detail and actions."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from orderhub.services.orders import order_update

S = OrderStatus
LIST = "/orders/"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    # Tab counts are cached per counts generation, which only moves on commit;
    # test transactions never commit, so each test starts from an empty cache.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "orderhub-pages-tests"}
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ops_client(client, make_user):
    client.force_login(make_user("ops"))
    return client


def numbers(response) -> list[str]:
    """Order numbers in the list table, in display order."""
    return re.findall(r'class="order-no"><a href="/orders/\d+/">(OH\d+)</a>',
                      response.content.decode())


def tab_counts(response) -> dict[str, int]:
    html = response.content.decode()
    found = re.findall(
        r'data-status="([a-z_]+)">\s*[^<]*<span class="count">([\d,]+)</span>', html
    )
    return {status: int(n.replace(",", "")) for status, n in found}


# --- access -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST, "/orders/1/"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_user_without_view_permission_gets_403(client, make_user, make_order):
    order = make_order()
    client.force_login(make_user(None))
    assert client.get(LIST).status_code == 403
    assert client.get(f"/orders/{order.pk}/").status_code == 403


def test_login_page_logs_in_and_redirects_to_orders(client, make_user):
    user = make_user("ops")
    page = client.get("/login/")
    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()
    response = client.post("/login/", {"username": user.username, "password": "pw-Secret-123"})
    assert response.status_code == 302
    assert response["Location"] == LIST


def test_logout_is_a_post_and_ends_the_session(ops_client):
    assert ops_client.post("/logout/").status_code == 302
    assert ops_client.get(LIST).status_code == 302


# --- list: filters ------------------------------------------------------------------------


def test_list_shows_row_fields(ops_client, make_order, warehouse):
    order = make_order(S.PAID, buyer_name="李四", buyer_phone="13800138000",
                       tracking_number="SF1234567890", priority=Order.Priority.H4)
    order_update(order=order, actor="system:test", changes={"warehouse": warehouse})
    html = ops_client.get(LIST).content.decode()
    assert order.number in html
    assert order.external_id in html
    assert "李四" in html
    assert "138****8000" in html
    assert "13800138000" not in html  # the full phone is not shown in the list
    assert "SF1234567890" in html
    assert "Shanghai DC" in html
    assert "118.00" in html and "CNY" in html
    assert 'badge badge-urgent">4 h<' in html


def test_filters_each_return_exactly_the_matching_orders(
    ops_client, make_order, channel, warehouse
):
    from channels.models import Channel
    from warehouse.models import Warehouse

    other_channel = Channel.objects.create(code="jd1", name="JD store", platform="jd")
    other_wh = Warehouse.objects.create(code="gz", name="Guangzhou DC")
    a = make_order(S.PAID, priority=Order.Priority.H4, kind=Order.Kind.B2B, tags=["vip"])
    b = make_order(S.PAID, channel=other_channel, tags=["gift"])
    c = make_order(S.SHIPPED, priority=Order.Priority.ASN)
    for order, wh in ((a, warehouse), (b, other_wh)):
        Order.objects.filter(pk=order.pk).update(warehouse=wh)

    cases = {
        "status=paid": {a, b},
        "status=shipped": {c},
        "channel=jd1": {b},
        "channel=shop": {a, c},
        "warehouse=sh": {a},
        "warehouse=gz": {b},
        "priority=2": {a},
        "priority=3": {c},
        "kind=b2b": {a},
        "kind=b2c": {b, c},
        "tag=vip": {a},
        "tag=gift": {b},
        "status=paid&channel=shop": {a},
        "channel=shop&priority=0": set(),
    }
    for query, expected in cases.items():
        response = ops_client.get(f"{LIST}?{query}")
        assert response.status_code == 200, query
        assert set(numbers(response)) == {o.number for o in expected}, query


def test_date_range_uses_local_days(ops_client, make_order):
    tz = timezone.get_current_timezone()
    # 2026-03-01 23:30 in Shanghai is still 2026-03-01 15:30 UTC; 00:30 local is the next day.
    late = make_order(placed_at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=tz))
    next_day = make_order(placed_at=dt.datetime(2026, 3, 2, 0, 30, tzinfo=tz))
    before = make_order(placed_at=dt.datetime(2026, 2, 28, 23, 59, tzinfo=tz))

    def shown(query):
        return set(numbers(ops_client.get(f"{LIST}?{query}")))

    assert shown("from=2026-03-01&to=2026-03-01") == {late.number}
    assert shown("from=2026-03-02") == {next_day.number}
    assert shown("to=2026-03-01") == {late.number, before.number}
    assert shown("from=2026-02-28&to=2026-03-02") == {late.number, next_day.number, before.number}


@pytest.mark.parametrize("query", [
    "from=2026-13-45", "status=nonsense", "page=abc", "priority=9", "channel=nosuch",
    "sort=buyer_phone", "from=2026-03-02&to=2026-03-01",
])
def test_malformed_filter_is_a_400_with_the_page_and_a_message(ops_client, make_order, query):
    order = make_order(S.PAID)
    response = ops_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" in html
    assert "Some filters were not understood" in html
    # The valid part of the request still works: the list is there.
    assert order.number in numbers(response)


def test_malformed_filter_over_htmx_is_a_swappable_400_fragment(ops_client, make_order):
    make_order()
    response = ops_client.get(f"{LIST}?from=yesterday", HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "<html" not in response.content.decode()
    assert response["HX-Reswap"] == "innerHTML"


# --- list: search -------------------------------------------------------------------------


def test_search_by_each_key_is_an_exact_match(ops_client, make_order):
    target = make_order(S.PAID, external_id="TB-778899", legacy_id="OLD-42",
                        tracking_number="YT9988776655", buyer_phone="13912345678")
    other = make_order(S.PAID, external_id="TB-7788990", buyer_phone="13800138000")

    for q in [target.number, target.number.lower(), "TB-778899", "OLD-42", "YT9988776655",
              " YT9988776655 "]:
        assert numbers(ops_client.get(LIST, {"q": q})) == [target.number], q
    # A prefix is not a match: exact keys only.
    assert numbers(ops_client.get(LIST, {"q": "TB-7788"})) == []
    assert numbers(ops_client.get(LIST, {"q": "TB-7788990"})) == [other.number]


@pytest.mark.parametrize("typed", [
    "13912345678", "139 1234 5678", "139-1234-5678", "+86 139 1234 5678", "+8613912345678",
    "0086 13912345678",
])
def test_search_by_phone_in_any_common_format(ops_client, make_order, typed):
    target = make_order(buyer_phone="13912345678")
    make_order(buyer_phone="13800138000")
    assert Order.objects.get(pk=target.pk).buyer_phone == "+8613912345678"
    assert numbers(ops_client.get(LIST, {"q": typed})) == [target.number]


def test_search_keeps_status_tab_and_counts_honour_it(ops_client, make_order):
    paid = make_order(S.PAID, buyer_phone="13912345678")
    make_order(S.SHIPPED, buyer_phone="13912345678")
    make_order(S.PAID, buyer_phone="13800138000")
    response = ops_client.get(LIST, {"q": "13912345678", "status": "paid"})
    assert numbers(response) == [paid.number]
    counts = tab_counts(response)
    assert counts["all"] == 2 and counts["paid"] == 1 and counts["shipped"] == 1


# --- list: sorting, paging, tabs -----------------------------------------------------------


def test_sorting_by_each_whitelisted_key(ops_client, make_order):
    now = timezone.now()
    a = make_order(S.PAID, placed_at=now - dt.timedelta(hours=3), total=Decimal("50.00"),
                   priority=Order.Priority.H24)
    b = make_order(S.PAID, placed_at=now - dt.timedelta(hours=2), total=Decimal("300.00"),
                   priority=Order.Priority.ASN)
    c = make_order(S.PENDING_PAYMENT, placed_at=now - dt.timedelta(hours=1),
                   total=Decimal("120.00"))
    Order.objects.filter(pk=a.pk).update(paid_at=now - dt.timedelta(minutes=10))
    Order.objects.filter(pk=b.pk).update(paid_at=now - dt.timedelta(minutes=50))

    expected = {
        "": [c, b, a],
        "-placed": [c, b, a],
        "placed": [a, b, c],
        "-total": [b, c, a],
        "total": [a, c, b],
        "-priority": [b, a, c],
        "priority": [c, a, b],
        "-paid": [a, b, c],  # unpaid last either way
        "paid": [b, a, c],
    }
    for sort, orders in expected.items():
        response = ops_client.get(LIST, {"sort": sort} if sort else {})
        assert response.status_code == 200
        assert numbers(response) == [o.number for o in orders], sort


def test_pagination_second_page_and_out_of_range(ops_client, make_order, settings):
    settings.ORDERS_PER_PAGE = 2
    now = timezone.now()
    orders = [make_order(placed_at=now - dt.timedelta(minutes=i)) for i in range(5)]
    newest_first = [o.number for o in orders]

    assert numbers(ops_client.get(LIST)) == newest_first[:2]
    page2 = ops_client.get(LIST, {"page": 2})
    assert numbers(page2) == newest_first[2:4]
    assert "3–4 of 5" in page2.content.decode()
    assert numbers(ops_client.get(LIST, {"page": 3})) == newest_first[4:]

    # Our choice for a page past the end: the last page, status 200, with a notice.
    beyond = ops_client.get(LIST, {"page": 99})
    assert beyond.status_code == 200
    assert numbers(beyond) == newest_first[4:]
    assert "Page 99 does not exist" in beyond.content.decode()
    # A page that is not a number at all is malformed: 400 with page 1.
    bad = ops_client.get(LIST, {"page": "two"})
    assert bad.status_code == 400
    assert numbers(bad) == newest_first[:2]


def test_page_links_keep_filters_and_sort(ops_client, make_order, settings):
    settings.ORDERS_PER_PAGE = 1
    make_order(S.PAID)
    make_order(S.PAID)
    html = ops_client.get(LIST, {"status": "paid", "sort": "-total"}).content.decode()
    assert 'href="?page=2&amp;sort=-total&amp;status=paid"' in html


def test_status_tab_counts_honour_the_other_filters(ops_client, make_order, channel):
    from channels.models import Channel

    other = Channel.objects.create(code="jd1", name="JD store", platform="jd")
    make_order(S.PAID)
    make_order(S.PAID)
    make_order(S.SHIPPED)
    make_order(S.PAID, channel=other)
    make_order(S.CANCELLED, channel=other)

    everything = tab_counts(ops_client.get(LIST))
    assert everything["all"] == 5
    assert everything["paid"] == 3 and everything["shipped"] == 1 and everything["cancelled"] == 1
    assert everything["picking"] == 0

    shop = tab_counts(ops_client.get(LIST, {"channel": "shop", "status": "shipped"}))
    assert shop["all"] == 3 and shop["paid"] == 2 and shop["shipped"] == 1
    assert shop["cancelled"] == 0


def test_list_uses_the_tab_counts_for_paging_not_a_second_count(
    ops_client, make_order, django_assert_max_num_queries
):
    for _ in range(3):
        make_order(S.PAID)
    ops_client.get(LIST)  # warm the counts cache
    with django_assert_max_num_queries(12) as ctx:
        response = ops_client.get(LIST, {"status": "paid"})
    assert len(numbers(response)) == 3
    sqls = [q["sql"].upper() for q in ctx.captured_queries]
    assert not any("COUNT(" in sql for sql in sqls), sqls
    order_selects = [s for s in sqls if 'FROM "ORDERHUB_ORDER"' in s]
    assert len(order_selects) == 1  # the page itself, channel and warehouse joined
    assert "JOIN" in order_selects[0]


def test_cached_counts_follow_a_new_generation(
    ops_client, make_order, django_capture_on_commit_callbacks
):
    make_order(S.PAID)
    assert tab_counts(ops_client.get(LIST))["paid"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.PAID)
    assert tab_counts(ops_client.get(LIST))["paid"] == 2


def test_htmx_request_gets_the_partial_and_normal_the_full_page(ops_client, make_order):
    order = make_order()
    full = ops_client.get(LIST)
    assert "<html" in full.content.decode() and order.number in full.content.decode()
    partial = ops_client.get(LIST, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in html and "<body" not in html
    assert order.number in html and 'class="tabs"' in html
    assert "HX-Request" in partial["Vary"]


def test_list_links_work_without_javascript(ops_client, make_order):
    make_order(S.PAID)
    html = ops_client.get(LIST).content.decode()
    tab = re.search(r'<a href="([^"]+)" hx-get="([^"]+)"[^>]*class="tab', html)
    assert tab and tab.group(1) == tab.group(2)
    assert 'hx-push-url="true"' in html


# --- detail ----------------------------------------------------------------------------------


def buttons(response) -> set[str]:
    return set(re.findall(r'data-transition="([a-z_]+)"', response.content.decode()))


def test_detail_shows_the_order(ops_client, make_order):
    order = make_order(S.ON_HOLD, buyer_message="请周末送货", tags=["vip"])
    html = ops_client.get(f"/orders/{order.pk}/").content.decode()
    for text in [order.number, order.external_id, "Test shop", "保温杯", "杯套", "Gift",
                 "请周末送货", "vip", "上海市 上海市 浦东新区 世纪大道100号", "118.00",
                 "On hold", "Hold reason"]:
        assert text in html, text
    # The timeline merges events and transitions, in order.
    positions = [html.index(t) for t in ("Order created", ">Mark paid<", ">Hold<")]
    assert positions == sorted(positions)


@pytest.mark.parametrize("role,status,expected", [
    ("ops", S.PAID, {"hold_review", "hold", "cancel"}),
    ("ops", S.READY_TO_PICK, {"hold", "cancel"}),
    ("finance", S.PAID, set()),
    ("finance", S.READY_TO_PICK, set()),
    # finish (and claim) only through the scan task: never a button here
    ("manager", S.PICKING, {"hold", "intercept"}),
    ("manager", S.READY_TO_PICK, {"hold", "cancel"}),
])
def test_detail_shows_only_the_allowed_buttons(client, make_user, make_order, role, status,
                                               expected):
    order = make_order(status)
    client.force_login(make_user(role))
    response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    assert buttons(response) == expected


def test_unknown_order_is_404(ops_client):
    assert ops_client.get("/orders/999999/").status_code == 404
    response = ops_client.post("/orders/999999/transition/",
                               {"name": "hold", "expected_status": "paid", "reason": "x"})
    assert response.status_code == 404


def test_unknown_order_renders_the_404_page(ops_client, settings):
    settings.DEBUG = False
    response = ops_client.get("/orders/999999/")
    assert response.status_code == 404
    assert "This page does not exist." in response.content.decode()


def test_transition_post_moves_the_order_and_redirects(ops_client, make_order):
    order = make_order(S.PAID)
    response = ops_client.post(f"/orders/{order.pk}/transition/",
                               {"name": "hold", "expected_status": "paid", "reason": "地址待确认"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.hold_reason == "地址待确认"
    log = OrderTransitionLog.objects.filter(order=order).last()
    assert log.transition == "hold" and log.actor.startswith("ops")
    page = ops_client.get(response["Location"]).content.decode()
    assert "Hold: done." in page


def test_transition_over_htmx_returns_the_refreshed_fragment(ops_client, make_order):
    order = make_order(S.PAID)
    response = ops_client.post(f"/orders/{order.pk}/transition/",
                               {"name": "hold", "expected_status": "paid", "reason": "check"},
                               HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'data-status="on_hold"' in html
    assert 'hx-swap-oob="beforeend"' in html and "Hold: done." in html


def test_picker_never_opens_the_order_page(client, make_user, make_order):
    """Buyer data and the transition endpoint are not the picker's: /scan/ is."""
    order = make_order(S.READY_TO_PICK)
    client.force_login(make_user("picker"))
    assert client.get(f"/orders/{order.pk}/").status_code == 403
    response = client.post(f"/orders/{order.pk}/transition/",
                           {"name": "claim", "expected_status": "ready_to_pick"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK


def test_forbidden_transition_is_403_and_changes_nothing(client, make_user, make_order):
    order = make_order(S.PAID)
    client.force_login(make_user("finance"))
    before = OrderTransitionLog.objects.count()
    response = client.post(f"/orders/{order.pk}/transition/",
                           {"name": "cancel", "expected_status": "paid", "reason": "nope"})
    assert response.status_code == 403
    assert "not allowed" in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.PAID and order.cancel_reason == ""
    assert OrderTransitionLog.objects.count() == before

    htmx = client.post(f"/orders/{order.pk}/transition/",
                       {"name": "cancel", "expected_status": "paid", "reason": "nope"},
                       HTTP_HX_REQUEST="true")
    assert htmx.status_code == 403
    assert htmx["HX-Retarget"] == "#action-alert"
    assert "<html" not in htmx.content.decode()


def test_finance_cannot_act_at_all(client, make_user, make_order):
    order = make_order(S.PAID)
    client.force_login(make_user("finance"))
    response = client.post(f"/orders/{order.pk}/transition/",
                           {"name": "hold", "expected_status": "paid", "reason": "x"})
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == S.PAID


def test_stale_expected_status_is_409_and_changes_nothing(ops_client, make_order):
    order = make_order(S.ON_HOLD)
    response = ops_client.post(f"/orders/{order.pk}/transition/",
                               {"name": "cancel", "expected_status": "paid", "reason": "dup"})
    assert response.status_code == 409
    assert "Someone else changed this order" in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.cancel_reason == ""


def test_missing_reason_is_400_and_changes_nothing(ops_client, make_order):
    order = make_order(S.PAID)
    response = ops_client.post(f"/orders/{order.pk}/transition/",
                               {"name": "cancel", "expected_status": "paid", "reason": "  "},
                               HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "Please give a reason." in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == S.PAID


def test_garbled_transition_post_is_400_not_500(ops_client, make_order):
    order = make_order(S.PAID)
    response = ops_client.post(f"/orders/{order.pk}/transition/", {"name": "hold"})
    assert response.status_code == 400
    response = ops_client.post(f"/orders/{order.pk}/transition/",
                               {"name": "explode", "expected_status": "paid"})
    assert response.status_code == 409
    assert Order.objects.get(pk=order.pk).status == S.PAID


def test_transition_needs_post(ops_client, make_order):
    order = make_order(S.PAID)
    assert ops_client.get(f"/orders/{order.pk}/transition/").status_code == 405


def test_note_form_adds_an_event(ops_client, make_order):
    order = make_order(S.PAID)
    response = ops_client.post(f"/orders/{order.pk}/note/", {"text": "客户来电改地址"})
    assert response.status_code == 302
    note = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.NOTE)
    assert note.message == "客户来电改地址"
    assert "客户来电改地址" in ops_client.get(f"/orders/{order.pk}/").content.decode()


def test_note_needs_permission_and_text(client, make_user, make_order):
    order = make_order(S.PAID)
    client.force_login(make_user("picker"))
    assert client.post(f"/orders/{order.pk}/note/", {"text": "hi"}).status_code == 403
    client.force_login(make_user("ops"))
    assert client.post(f"/orders/{order.pk}/note/", {"text": "  "}).status_code == 400
    assert not OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.NOTE).exists()
    # Finance's page (read only) has no note form at all.
    client.force_login(make_user("finance"))
    assert 'name="text"' not in client.get(f"/orders/{order.pk}/").content.decode()


# --- versions ------------------------------------------------------------------------------


def test_version_comparison_shows_the_changed_fields(ops_client, make_order):
    order = make_order(S.PAID, ship_street="世纪大道100号")
    order_update(order=order, actor="system:test",
                 changes={"ship_street": "陆家嘴环路1000号", "buyer_name": "王五"})
    versions = list(order.history.order_by("history_date", "history_id"))
    older, newer = versions[-2].history_id, versions[-1].history_id

    response = ops_client.get(f"/orders/{order.pk}/", {"compare": f"{older},{newer}"})
    html = response.content.decode()
    assert response.status_code == 200
    rows = re.findall(r'<tr class="diff-row"><th scope="row">([^<]+)</th>'
                      r'<td class="old">([^<]*)</td><td class="new">([^<]*)</td>', html)
    assert ("Street address", "世纪大道100号", "陆家嘴环路1000号") in rows
    assert ("Buyer", "张三", "王五") in rows
    assert len(rows) == 2

    # The same over HTMX: the partial only, and the shareable URL pushed.
    partial = ops_client.get(f"/orders/{order.pk}/", {"va": newer, "vb": older},
                             HTTP_HX_REQUEST="true", HTTP_HX_TARGET="version-compare")
    assert "<html" not in partial.content.decode()
    assert "陆家嘴环路1000号" in partial.content.decode()
    assert partial["HX-Push-Url"] == f"/orders/{order.pk}/?compare={older},{newer}"


def test_version_comparison_rejects_foreign_or_garbled_ids(ops_client, make_order):
    order = make_order(S.PAID)
    other = make_order(S.PAID)
    foreign = other.history.first().history_id
    mine = order.history.first().history_id
    for compare in (f"{mine},{foreign}", "abc", "1,2,3"):
        response = ops_client.get(f"/orders/{order.pk}/", {"compare": compare})
        assert response.status_code == 400, compare
        assert order.number in response.content.decode()
