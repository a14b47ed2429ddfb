"""Issue 6: the complaint and stalled cards link to pages that list exactly what they
counted (the ticket queue and the waybill list, with the card's date range and scope).

Each test builds rows just inside and just outside every boundary, then follows the
card's link through the real page and compares what the page lists with the count.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.http import QueryDict
from freezegun import freeze_time

from fulfillment.shipping.models import CarrierAccount, Waybill
from fulfillment.tickets.models import Ticket
from orderhub.models import OrderStatus as S
from reporting.models import Kpi
from reporting.selectors import (
    DashboardFilters,
    complaint_ratio,
    kpi_cards,
    stalled_parcels_per_carrier,
)
from tests.reporting.conftest import local
from warehouse.models import Warehouse

D20, D21 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)
NOW = local(2026, 11, 22, 12, 0)
W = Waybill.Status


@pytest.fixture
def scope(db, make_channel, channel, warehouse):
    shopify = make_channel("sp", "shopify", "Shopify store")
    other_wh = Warehouse.objects.create(code="bj", name="Beijing DC")
    return {"shop": channel, "sp": shopify, "sh": warehouse, "bj": other_wh}


def _card(filters, key):
    return {c.key: c for c in kpi_cards(filters)}[key]


def _page(client, link):
    response = client.get(link)
    assert response.status_code == 200, response.content[:500]
    page = response.context["page"]
    # Everything fits on one page here, so the page is the whole result.
    assert not page.has_other_pages()
    return list(page.object_list)


def _filters(**scope):
    return DashboardFilters(D20, D21, **scope)


SCOPES = [
    {},
    {"channel": "sp"},
    {"platform": "shopify"},
    {"platform": "manual"},
    {"warehouse": "sh"},
    {"channel": "shop", "warehouse": "bj"},
]


def _resolve(scope_objs, spec):
    out = {}
    if "channel" in spec:
        out["channel"] = scope_objs[spec["channel"]]
    if "platform" in spec:
        out["platform"] = spec["platform"]
    if "warehouse" in spec:
        out["warehouse"] = scope_objs[spec["warehouse"]]
    return out


# --- complaints ------------------------------------------------------------------------------


@pytest.fixture
def complaints(scope, make_order):
    def complaint(order, created, kind=Ticket.Kind.COMPLAINT, status=Ticket.Status.OPEN,
                  channel=None):
        return Ticket.objects.create(kind=kind, title="broken", due_at=created, order=order,
                                     status=status, channel=channel or getattr(
                                         order, "channel", None),
                                     created_by_label="test", created_at=created)

    def placed(when, **fields):
        return make_order(S.SHIPPED, placed_at=when, **fields)

    # Placed in the range: the first instant of the 20th and the last minute of the 21st.
    shop_sh = placed(local(2026, 11, 20, 0, 0), warehouse=scope["sh"])
    shop_bj = placed(local(2026, 11, 21, 23, 59), warehouse=scope["bj"])
    sp_sh = placed(local(2026, 11, 20, 9), channel=scope["sp"], warehouse=scope["sh"])
    sp_none = placed(local(2026, 11, 21, 9), channel=scope["sp"])
    # Placed just before and at the end of the range (both in Beijing).
    early = placed(local(2026, 11, 19, 23, 59), channel=scope["sp"], warehouse=scope["bj"])
    late = placed(local(2026, 11, 22, 0, 0), channel=scope["sp"], warehouse=scope["bj"])
    complaint(shop_sh, local(2026, 11, 20, 10))
    complaint(shop_sh, local(2026, 11, 21, 10))  # the same order twice: counted once
    # Opened after the range, on an order placed in it: it counts (the order's cohort).
    complaint(shop_bj, local(2026, 11, 25, 9), status=Ticket.Status.CLOSED)
    complaint(sp_sh, local(2026, 11, 20, 9), status=Ticket.Status.RESOLVED)
    complaint(sp_none, local(2026, 11, 21, 9))
    # Opened in the range on orders placed outside it: not counted.
    complaint(early, local(2026, 11, 20, 9))
    complaint(late, local(2026, 11, 22, 0, 0))
    complaint(sp_none, local(2026, 11, 21, 9), kind=Ticket.Kind.OTHER)
    complaint(None, local(2026, 11, 21, 9), channel=scope["sp"])
    return {"shop_sh": shop_sh, "shop_bj": shop_bj, "sp_sh": sp_sh, "sp_none": sp_none,
            "early": early, "late": late}


@pytest.mark.parametrize("spec", SCOPES)
def test_complaint_card_links_to_exactly_the_counted_orders(client, make_user, scope,
                                                             complaints, spec):
    filters = _filters(**_resolve(scope, spec))
    counted = complaint_ratio(filters)["complaints"]
    card = _card(filters, Kpi.COMPLAINT_RATIO)
    assert card.link.startswith("/tickets/?")
    client.force_login(make_user("manager"))
    tickets = _page(client, card.link)
    orders = {t.order_id for t in tickets}
    assert len(orders) == counted
    assert all(t.kind == Ticket.Kind.COMPLAINT and t.order_id for t in tickets)
    # The expected orders, by hand, from the fixture's comments.
    expected = {"": {"shop_sh", "shop_bj", "sp_sh", "sp_none"},
                "channel=sp": {"sp_sh", "sp_none"},
                "platform=shopify": {"sp_sh", "sp_none"},
                "platform=manual": {"shop_sh", "shop_bj"},
                "warehouse=sh": {"shop_sh", "sp_sh"},
                "channel=shop&warehouse=bj": {"shop_bj"}}
    key = "&".join(f"{k}={v}" for k, v in spec.items())
    assert orders == {complaints[name].pk for name in expected[key]}


def test_complaint_link_carries_dates_and_scope(scope, complaints):
    link = _card(_filters(channel=scope["sp"], warehouse=scope["sh"]), Kpi.COMPLAINT_RATIO).link
    query = QueryDict(link.split("?", 1)[1])
    assert query.dict() == {"kind": "complaint", "status": "all", "linked": "1",
                            "placed_from": "2026-11-20", "placed_to": "2026-11-21",
                            "channel": "sp", "warehouse": "sh"}


def test_complaint_ratio_is_one_cohort_never_above_100(scope, make_order, complaints):
    """The 160 % case: complaints opened today on orders placed earlier, few orders today."""
    filters = DashboardFilters(dt.date(2026, 11, 22), dt.date(2026, 11, 22))
    # Placed on the 22nd: ``late`` (complained about at midnight) and one more.
    fresh = make_order(S.PAID, placed_at=local(2026, 11, 22, 8))
    for order in (complaints["shop_sh"], complaints["shop_bj"], complaints["sp_sh"],
                  complaints["early"], fresh):
        Ticket.objects.create(kind=Ticket.Kind.COMPLAINT, title="late", order=order,
                              due_at=local(2026, 11, 22, 9), created_by_label="test",
                              created_at=local(2026, 11, 22, 9))
    result = complaint_ratio(filters)
    # Six orders got a complaint opened on the 22nd or before, but only two were placed
    # that day, and both have one: 2 / 2, not 5 / 2 = 250 %.
    assert result == {"ratio": Decimal("100.00"), "complaints": 2, "orders": 2}
    # Against the whole range the other orders count, each once.
    wide = complaint_ratio(DashboardFilters(dt.date(2026, 11, 19), dt.date(2026, 11, 22)))
    assert wide == {"ratio": Decimal("100.00"), "complaints": 7, "orders": 7}
    Ticket.objects.filter(order=fresh).delete()
    assert complaint_ratio(filters)["ratio"] == Decimal("50.00")


def test_queue_scope_filters_without_the_card(client, make_user, scope, complaints):
    client.force_login(make_user("manager"))
    # Without "linked", a ticket with no order but on the channel is listed too.
    tickets = _page(client, "/tickets/?status=all&channel=sp&opened_from=2026-11-21"
                            "&opened_to=2026-11-21")
    assert {(t.kind, t.order_id) for t in tickets} == {
        (Ticket.Kind.COMPLAINT, complaints["sp_none"].pk),
        (Ticket.Kind.OTHER, complaints["sp_none"].pk),
        (Ticket.Kind.COMPLAINT, None)}


@pytest.mark.parametrize("query", ["channel=nope", "opened_from=20-11-2026",
                                   "opened_from=2026-11-22&opened_to=2026-11-20",
                                   "placed_from=2026-11-22&placed_to=2026-11-20",
                                   "placed_to=21.11.2026"])
def test_queue_reports_filters_it_cannot_read(client, make_user, scope, complaints, query):
    client.force_login(make_user("manager"))
    response = client.get(f"/tickets/?status=all&{query}")
    assert response.status_code == 400
    assert 'class="alert alert-error"' in response.content.decode()


def test_htmx_queue_keeps_the_scope_filters(client, make_user, scope, complaints):
    client.force_login(make_user("manager"))
    response = client.get("/tickets/?status=all&kind=complaint&warehouse=bj&linked=1",
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="bj" selected>' in html
    # No dates: the complaints on the orders placed outside the range (also in Beijing)
    # are listed too.
    assert {t.order_id for t in response.context["page"]} == {
        complaints["shop_bj"].pk, complaints["early"].pk, complaints["late"].pk}


# --- stalled parcels --------------------------------------------------------------------------


@pytest.fixture
def parcels(scope, make_order):
    sf = CarrierAccount.objects.create(code="sf", name="SF Express", kind="sf")
    seq = iter(range(1000))

    def waybill(order, status=W.BOOKED, **fields):
        return Waybill.objects.create(order=order, account=sf, status=status,
                                      tracking_number=f"SF{next(seq):06d}", **fields)

    stalled = {"stalled_at": local(2026, 11, 21, 9)}
    shop_sh = make_order(S.SHIPPED, warehouse=scope["sh"])
    shop_bj = make_order(S.SHIPPED, warehouse=scope["bj"])
    sp_sh = make_order(S.SHIPPED, channel=scope["sp"], warehouse=scope["sh"])
    sp_none = make_order(S.SHIPPED, channel=scope["sp"])
    rows = {
        "shop_sh": waybill(shop_sh, **stalled),
        "shop_bj": waybill(shop_bj, **stalled),
        "sp_sh": waybill(sp_sh, **stalled),
        "sp_none": waybill(sp_none, **stalled),
        # Stalled long before the range: the card is "now", so it still counts.
        "old": waybill(sp_none, stalled_at=local(2026, 10, 1, 9)),
    }
    # Not stalled parcels, though the "problems" tab lists most of them.
    waybill(shop_sh, stalled_at=local(2026, 11, 21, 9), delivered_at=local(2026, 11, 22, 9))
    waybill(shop_sh, status=W.CANCELLED, stalled_at=local(2026, 11, 21, 9))
    waybill(shop_bj, status=W.CANCEL_FAILED, stalled_at=local(2026, 11, 21, 9))
    waybill(sp_sh, status=W.FAILED, attempts=5)
    waybill(sp_sh, status=W.PENDING, attempts=1)
    waybill(sp_none)
    return rows


@pytest.mark.parametrize("spec", SCOPES)
def test_stalled_card_links_to_exactly_the_counted_waybills(client, make_user, scope, parcels,
                                                            spec):
    filters = _filters(**_resolve(scope, spec))
    with freeze_time(NOW):
        counted = sum(r["parcels"] for r in stalled_parcels_per_carrier(filters))
        card = _card(filters, Kpi.STALLED_PARCELS)
    assert card.value == counted
    assert card.link.startswith("/shipping/?status=stalled")
    client.force_login(make_user("manager"))
    listed = {w.pk for w in _page(client, card.link)}
    assert len(listed) == counted
    expected = {"": {"shop_sh", "shop_bj", "sp_sh", "sp_none", "old"},
                "channel=sp": {"sp_sh", "sp_none", "old"},
                "platform=shopify": {"sp_sh", "sp_none", "old"},
                "platform=manual": {"shop_sh", "shop_bj"},
                "warehouse=sh": {"shop_sh", "sp_sh"},
                "channel=shop&warehouse=bj": {"shop_bj"}}
    key = "&".join(f"{k}={v}" for k, v in spec.items())
    assert listed == {parcels[name].pk for name in expected[key]}


def test_problems_tab_still_lists_failures_and_keeps_filters_when_paging(client, make_user,
                                                                        scope, parcels):
    client.force_login(make_user("manager"))
    problems = _page(client, "/shipping/?status=failures&channel=sp")
    assert {w.status for w in problems} == {W.BOOKED, W.FAILED, W.PENDING}
    html = client.get("/shipping/?status=stalled&warehouse=sh").content.decode()
    assert '<option value="stalled" selected>' in html
    assert '<option value="sh" selected>' in html


def test_waybill_list_reports_an_unknown_scope(client, make_user, scope, parcels):
    client.force_login(make_user("manager"))
    response = client.get("/shipping/?status=stalled&warehouse=nowhere")
    assert response.status_code == 400
    assert 'class="alert alert-error"' in response.content.decode()


def test_category_filter_drops_the_links(scope, parcels, complaints):
    # Neither page can filter by SKU category: a link would list more than was counted.
    filters = _filters(category="drinkware")
    assert _card(filters, Kpi.STALLED_PARCELS).link == ""
    assert _card(filters, Kpi.COMPLAINT_RATIO).link == ""
