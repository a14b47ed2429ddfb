"""SKU category: who counts where, the category table, and the category filter on every card.

Orders are pinned to Asia/Shanghai wall-clock times (see ``conftest.local``).
Membership rules under test (``reporting.selectors`` docstring): a non-gift
line of a non-gift SKU puts the order in that SKU's category; a kit counts as
the kit SKU's category, not its components'; unknown SKUs count nowhere.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from fulfillment.shipping.models import CarrierAccount, Waybill
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from reporting import selectors
from reporting.models import DailyRollup, Kpi, RollupDay
from reporting.rollup import rollup_day_build, rollup_refresh, valid_days
from reporting.selectors import DashboardFilters, by_category, kpi_cards
from tests.conftest import requires_postgres
from tests.reporting.conftest import local
from warehouse.models import SKU, KitComponent

D18, D19, D20, D21 = (dt.date(2026, 11, d) for d in (18, 19, 20, 21))
TODAY = dt.date(2026, 11, 25)
RANGE = DashboardFilters(D18, D21)


def line(code, qty=1, price="10.00", gift=False):
    return {"sku_code": code, "name": code, "quantity": qty, "unit_price": price, "is_gift": gift}


@pytest.fixture(autouse=True)
def today_is_the_25th(monkeypatch):
    real = timezone.localdate

    def localdate(value=None, timezone=None):
        return real(value, timezone) if value is not None else TODAY

    monkeypatch.setattr("django.utils.timezone.localdate", localdate)


@pytest.fixture
def catalog(db):
    skus = {
        "CUP-1": ("drinkware", "simple", False),
        "CUP-SLEEVE": ("accessories", "simple", False),  # sold only as a gift line below
        "TEA-1": ("tea", "simple", False),
        "KIT-1": ("gift-sets", "kit", False),
        "SAMPLE-1": ("tea", "simple", True),  # a gift SKU: never puts an order in "tea"
        "BARE-1": ("", "simple", False),  # no category
    }
    made = {code: SKU.objects.create(code=code, name=code, category=category, kind=kind,
                                     is_gift=gift)
            for code, (category, kind, gift) in skus.items()}
    KitComponent.objects.create(kit=made["KIT-1"], component=made["TEA-1"], quantity=2)
    return made


@pytest.fixture
def shop(catalog, make_order, make_channel, pin, warehouse):
    shopify = make_channel("sp", "shopify", "Shopify store")
    o = {}
    # Drinkware only: the gift sleeve does not make it an accessories order.
    o["a"] = pin(make_order(S.PAID, lines=[line("CUP-1", 2, "59.00"),
                                           line("CUP-SLEEVE", 1, "0", gift=True)]),
                 placed=local(2026, 11, 20, 9), paid=local(2026, 11, 20, 9, 5))
    # Tea and drinkware: counts in both rows.
    o["b"] = pin(make_order(S.SHIPPED, lines=[line("TEA-1", 1, "30.00"), line("CUP-1")]),
                 placed=local(2026, 11, 20, 10), paid=local(2026, 11, 20, 11),
                 shipped=local(2026, 11, 21, 2))
    # A kit of teas: gift-sets, not tea.
    o["c"] = pin(make_order(S.CANCELLED, lines=[line("KIT-1", 1, "88.00")]),
                 placed=local(2026, 11, 19, 10))
    # A gift SKU, an uncategorised SKU and an unknown one: in no category.
    o["d"] = pin(make_order(S.REVIEW, lines=[line("SAMPLE-1"), line("BARE-1"),
                                             line("NOT-A-SKU")]),
                 placed=local(2026, 11, 21, 10), paid=local(2026, 11, 21, 10, 5))
    # Tea, urgent, another platform, currency and warehouse.
    o["e"] = pin(make_order(S.OUT_OF_STOCK, channel=shopify, currency="USD", total="25.50",
                            priority=2, warehouse=warehouse, lines=[line("TEA-1", 3)]),
                 placed=local(2026, 11, 19, 7), paid=local(2026, 11, 19, 8))
    o["shopify"] = shopify
    return o


def ids(*orders):
    return {order.pk for order in orders}


def test_membership_rules(shop):
    o = shop

    def members(category):
        return set(selectors.scoped_orders(DashboardFilters(D18, D21, category=category))
                   .values_list("pk", flat=True))

    assert members("drinkware") == ids(o["a"], o["b"])
    assert members("tea") == ids(o["b"], o["e"])
    assert members("gift-sets") == ids(o["c"])
    assert members("accessories") == set()
    assert selectors.sku_categories() == ["accessories", "drinkware", "gift-sets", "tea"]


def fresh_category_aggregate(filters, category):
    """The category row computed independently: a join with DISTINCT, not EXISTS."""
    codes = SKU.objects.filter(category=category, is_gift=False).values("code")
    orders = Order.objects.filter(filters.scope_q(), lines__is_gift=False,
                                  lines__sku_code__in=codes)
    pks = set(orders.values_list("pk", flat=True))
    mine = Order.objects.filter(pk__in=pks)
    paid = mine.filter(filters.in_range("paid_at"))
    sales = {}
    for currency in sorted(set(paid.values_list("currency", flat=True))):
        total = paid.filter(currency=currency).exclude(status=S.CANCELLED).aggregate(
            t=Sum("total"))["t"]
        if total is not None:
            sales[currency] = total.quantize(Decimal("0.01"))
    return {
        "placed": mine.filter(filters.in_range("placed_at")).count(),
        "paid": paid.count(),
        "shipped": mine.filter(filters.in_range("shipped_at")).count(),
        "cancelled": mine.filter(filters.in_range("placed_at"), status=S.CANCELLED).count(),
        "sales": sales,
    }


def plain(rows):
    return {r["category"]: {k: r[k] for k in ("placed", "paid", "shipped", "cancelled", "sales")}
            for r in rows}


def scopes(shop, warehouse):
    return [RANGE, DashboardFilters(D20, D21), DashboardFilters(D18, TODAY),
            DashboardFilters(D18, D21, platform="shopify"),
            DashboardFilters(D18, D21, channel=shop["shopify"]),
            DashboardFilters(D18, D21, warehouse=warehouse)]


def test_counts_per_category_equal_a_fresh_aggregate(shop, warehouse):
    for filters in scopes(shop, warehouse):
        rows = plain(by_category(filters, use_rollup=False))
        assert list(rows) == ["accessories", "drinkware", "gift-sets", "tea"]
        for category, row in rows.items():
            assert row == fresh_category_aggregate(filters, category), (filters, category)

    # And the exact numbers, so the comparison cannot be vacuous.
    assert plain(by_category(RANGE, use_rollup=False)) == {
        "accessories": {"placed": 0, "paid": 0, "shipped": 0, "cancelled": 0, "sales": {}},
        "drinkware": {"placed": 2, "paid": 2, "shipped": 1, "cancelled": 0,
                      "sales": {"CNY": Decimal("158.00")}},  # a 118 + b 40
        "gift-sets": {"placed": 1, "paid": 0, "shipped": 0, "cancelled": 1, "sales": {}},
        "tea": {"placed": 2, "paid": 2, "shipped": 1, "cancelled": 0,
                "sales": {"CNY": Decimal("40.00"), "USD": Decimal("25.50")}},
    }


# The SQL grouping (LATERAL, FILTER, = ANY) is PostgreSQL's own: elsewhere the table takes
# the per-order path, which the other tests here check against the expected numbers.
@requires_postgres
@pytest.mark.postgres
def test_the_category_tables_sql_grouping_equals_the_per_order_grouping(shop, warehouse):
    """The table's live days are grouped in SQL on PostgreSQL (``_category_totals_live``);
    ``category_groups`` (the rollup's input, and the table's path elsewhere) groups per
    order in Python: both say the same per category, currency and kind."""
    for filters in scopes(shop, warehouse):
        categories = selectors.sku_categories()
        from_groups = {}
        for (kind, category, *_key), counts in selectors.category_groups(filters).items():
            row = from_groups.setdefault((category, _key[-1], kind), [0, 0, None])
            row[0] += counts["n"]
            row[1] += counts["cancelled"] if kind == "placed" else 0
            if kind == "paid" and counts["total"] is not None:
                row[2] = (row[2] or Decimal("0")) + counts["total"]
        from_sql = {}
        for category, currency, ns, cancelled, totals in selectors._category_totals_live(
                filters, categories):
            for kind, n, c, total in zip(selectors.ORDER_KINDS, ns, cancelled, totals,
                                         strict=True):
                if n:
                    from_sql[(category, currency, kind)] = [n, c or 0, total]
        assert from_groups, filters
        assert from_sql == from_groups, filters


def test_a_category_row_is_the_dashboard_filtered_by_that_category(shop):
    for row in by_category(RANGE, use_rollup=False):
        filtered = DashboardFilters(D18, D21, category=row["category"])
        by_day = selectors.by_day(filtered, selectors.range_groups(filtered, use_rollup=False))
        assert sum(d["placed"] for d in by_day) == row["placed"]
        assert sum(d["paid"] for d in by_day) == row["paid"]
        assert sum(d["shipped"] for d in by_day) == row["shipped"]
        # The row links to the dashboard with that category (the order list has no such filter).
        assert row["link"].startswith("/dashboard/?")
        assert f"category={row['category']}" in row["link"]


def test_category_filter_applies_to_every_card_and_table(shop):
    o = shop
    everything = {c.key: c.value for c in kpi_cards(RANGE)}
    tea = DashboardFilters(D18, D21, category="tea")
    cards = {c.key: c for c in kpi_cards(tea)}

    # Unfiltered: a, e (and the review order d) wait; with "tea" only e (b has shipped).
    assert everything[Kpi.AWAITING_SHIPMENT] == 3
    assert cards[Kpi.AWAITING_SHIPMENT].value == 1
    assert cards[Kpi.OUT_OF_STOCK].value == 1
    assert cards[Kpi.IN_REVIEW].value == 0 and everything[Kpi.IN_REVIEW] == 1
    assert cards[Kpi.URGENT_NOT_PICKED].value == 1
    # Order b took 15 h from paid to shipped; a, the other drinkware order, never shipped.
    assert cards[Kpi.PAID_TO_SHIPPED].value == Decimal("15.0")
    drinkware = {c.key: c.value for c in kpi_cards(DashboardFilters(D18, D21,
                                                                       category="drinkware"))}
    assert drinkware[Kpi.AWAITING_SHIPMENT] == 1  # a
    assert drinkware[Kpi.OUT_OF_STOCK] == 0
    gift_sets = {c.key: c.value for c in kpi_cards(DashboardFilters(D18, D21,
                                                                       category="gift-sets"))}
    assert gift_sets[Kpi.AWAITING_SHIPMENT] == 0 and gift_sets[Kpi.PAID_TO_SHIPPED] is None

    # Tables and charts: only b and e.
    numbers = selectors.dashboard_numbers(tea)
    assert {r["day"]: r["placed"] for r in numbers["by_day"]} == {D18: 0, D19: 1, D20: 1,
                                                                   D21: 0}
    assert {r["platform"]: r["placed"] for r in numbers["by_platform"]} == {"manual": 1,
                                                                             "shopify": 1}
    assert sum(r["orders"] for r in numbers["sales"]) == 2
    assert sum(sum(s["data"]) for s in numbers["per_channel"]["series"]) == 2
    assert [r["category"] for r in numbers["by_category"]] == ["tea"]
    assert numbers["ship"]["orders"] == 1
    assert ids(o["b"], o["e"]) == set(selectors.scoped_orders(tea).values_list("pk", flat=True))


def test_no_drill_down_links_while_a_category_is_set(shop):
    tea = DashboardFilters(D18, D21, category="tea")
    for card in kpi_cards(tea):
        assert not card.link.startswith("/orders/"), card.key
    for row in [*selectors.by_day(tea), *selectors.by_platform(tea)]:
        assert row["links"] == {}
    # Without the category the links are there (and test_selectors checks they are exact).
    assert any(card.link.startswith("/orders/") for card in kpi_cards(RANGE))


# --- rollup ------------------------------------------------------------------------------------


def everything(filters, use_rollup):
    groups = selectors.range_groups(filters, use_rollup=use_rollup)
    # The full dashboard reads the ship-time card from the grouped rows: same answer.
    assert selectors.ship_time_stats_from_groups(groups) == selectors.ship_time_stats(
        filters, use_rollup=use_rollup)
    return {
        "by_day": selectors.by_day(filters, groups),
        "by_platform": selectors.by_platform(filters, groups),
        "sales": selectors.sales_summary(filters, groups),
        "per_channel": selectors.orders_per_day_per_channel(filters, groups),
        "ship": selectors.ship_time_stats(filters, use_rollup=use_rollup),
        "by_category": by_category(filters, use_rollup=use_rollup),
    }


def test_category_rollup_equals_a_fresh_aggregate(shop, warehouse):
    all_scopes = scopes(shop, warehouse)
    all_scopes += [DashboardFilters(D18, TODAY, category=c)
                   for c in ("tea", "drinkware", "gift-sets", "accessories")]
    all_scopes += [DashboardFilters(D18, D21, platform="manual", category="tea")]
    fresh = [everything(f, use_rollup=False) for f in all_scopes]

    rollup_refresh(days_back=8)

    assert valid_days(D18, D21, ["tea", "gift-sets"]) == {D18, D19, D20, D21}
    rolled = [everything(f, use_rollup=True) for f in all_scopes]
    assert rolled == fresh
    assert fresh[0]["by_category"][3]["placed"] == 2  # tea: real numbers compared


def test_rolled_up_category_table_is_one_rollup_query(shop, django_assert_num_queries):
    rollup_refresh(days_back=8)
    with django_assert_num_queries(3):  # categories, validity, rollup
        by_category(RANGE)


def test_a_category_added_after_the_build_is_read_live(shop, catalog):
    rollup_refresh(days_back=8)
    SKU.objects.filter(code="CUP-SLEEVE").update(category="cups")  # no signal: raw update
    SKU.objects.filter(code="CUP-1").update(category="cups")

    assert valid_days(D18, D21, ["cups"]) == set()
    assert valid_days(D18, D21) == {D18, D19, D20, D21}
    cups = plain(by_category(DashboardFilters(D18, D21, category="cups")))
    assert cups["cups"]["placed"] == 2  # a and b, read live


def test_changing_a_skus_category_sends_every_day_back_to_live(
    shop, catalog, django_capture_on_commit_callbacks
):
    rollup_refresh(days_back=8)
    before = plain(by_category(RANGE))
    sku = catalog["TEA-1"]
    sku.category = "drinkware"
    with django_capture_on_commit_callbacks(execute=True):
        sku.save()

    assert valid_days(D18, D21) == set()
    after = plain(by_category(RANGE))
    assert after["drinkware"]["placed"] == 3 and before["drinkware"]["placed"] == 2
    assert after == plain(by_category(RANGE, use_rollup=False))

    # Saving without touching what decides categories changes nothing.
    rollup_refresh(days_back=8)
    sku.name = "Oolong"
    with django_capture_on_commit_callbacks(execute=True):
        sku.save()
    assert valid_days(D18, D21) == {D18, D19, D20, D21}


def test_rollup_day_records_its_categories(shop):
    rollup_day_build(day=D20)
    day = RollupDay.objects.get(day=D20)
    assert day.categories == ["accessories", "drinkware", "gift-sets", "tea"]

    rows = DailyRollup.objects.filter(day=D20)
    assert set(rows.values_list("category", flat=True)) == {"", "drinkware", "tea"}
    assert rows.filter(~Q(category=""), kind="placed").aggregate(n=Sum("n"))["n"] == 3


def test_building_a_day_costs_the_same_queries_whatever_the_categories(
    shop, catalog, django_assert_num_queries
):
    rollup_day_build(day=D20)  # the first build also creates the RollupDay row
    # 15 for the order counts and the locked write, 4 for the two SLAs' and the tracking
    # samples (and their categories).
    with django_assert_num_queries(19) as few:
        rollup_day_build(day=D20)
    SKU.objects.bulk_create([SKU(code=f"X-{i}", name="x", category=f"extra-{i}")
                             for i in range(20)])
    with django_assert_num_queries(len(few.captured_queries)):
        rollup_day_build(day=D20)
    assert len(RollupDay.objects.get(day=D20).categories) == 24


def test_category_sla_and_tracking_rollup_equals_a_fresh_aggregate(shop, make_order, pin):
    sf = CarrierAccount.objects.create(code="sf", name="SF Express", kind="sf")
    # b (tea + drinkware), shipped 02:00 on the 21st, first scan 05:00: 18 h after payment.
    Waybill.objects.create(order=shop["b"], account=sf, status="booked", tracking_number="B1",
                           first_event_at=local(2026, 11, 21, 5))
    # f (tea only): shipped on the 20th, first scan on the 21st at 09:00, 30 h late.
    f = pin(make_order(S.SHIPPED, lines=[line("TEA-1")]), placed=local(2026, 11, 20, 2),
            paid=local(2026, 11, 20, 3), shipped=local(2026, 11, 20, 3))
    Waybill.objects.create(order=f, account=sf, status="booked", tracking_number="F1",
                           first_event_at=local(2026, 11, 21, 9))
    scopes = [DashboardFilters(D18, D21, category=c) for c in ("tea", "drinkware", "gift-sets")]
    # The fresh reference: in SQL on PostgreSQL, the same figures in Python elsewhere.
    fresh = [(selectors.sla_paid_to_first_tracking(s, use_sql=connection.vendor == "postgresql"),
              selectors.tracking_return_rate(s, use_rollup=False)) for s in scopes]

    rollup_refresh(days_back=8)

    fast = [(selectors.sla_paid_to_first_tracking(s), selectors.tracking_return_rate(s))
            for s in scopes]
    assert fast == fresh
    tea_sla, tea_tracking = fast[0]
    assert (tea_sla["all"]["orders"], tea_sla["all"]["median_hours"]) == (2, Decimal("24.0"))
    assert (tea_tracking["in_time"], tea_tracking["orders"]) == (1, 2)
    assert fast[1][0]["all"]["orders"] == 1 and fast[2][0]["all"]["orders"] == 0
