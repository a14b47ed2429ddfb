"""KPI cards, breakdowns and summaries on hand-built orders, with exact expected numbers.

Every timestamp is pinned to an Asia/Shanghai wall-clock time, so a "day" in
these tests is a local day; two orders sit either side of local midnight.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings

from orderhub.models import OrderStatus as S
from orderhub.services.orders import order_transition
from reporting.models import Kpi, KpiThreshold
from reporting.selectors import (
    DashboardFilters,
    by_day,
    by_platform,
    kpi_cards,
    orders_per_day_per_channel,
    paid_to_shipped,
    percentile,
    sales_summary,
    ship_time_histogram,
)
from tests.reporting.conftest import drilldown_ids, local

D18, D19, D20, D21 = (dt.date(2026, 11, d) for d in (18, 19, 20, 21))


@pytest.fixture
def world(make_order, make_channel, pin, warehouse, channel):
    """Orders around 18–21 Nov 2026 (local), plus a backlog placed on 10 Nov."""
    shopify = make_channel("sp", "shopify", "Shopify store")
    o = {}
    o[1] = pin(make_order(S.PAID), placed=local(2026, 11, 20, 23, 59),
               paid=local(2026, 11, 20, 23, 59))
    # 16:30 UTC on the 20th is 00:30 on the 21st in Shanghai.
    o[2] = pin(make_order(S.SHIPPED),
               placed=dt.datetime(2026, 11, 20, 16, 30, tzinfo=dt.UTC),
               paid=local(2026, 11, 21, 1, 0), shipped=local(2026, 11, 21, 3, 30))
    o[3] = pin(make_order(S.CANCELLED), placed=local(2026, 11, 19, 10, 0))
    o[4] = pin(make_order(S.SHIPPED), placed=local(2026, 11, 20, 10, 0),
               paid=local(2026, 11, 20, 10, 0), shipped=local(2026, 11, 20, 16, 0))
    # Shipped ten minutes after the range ends: in no range count.
    o[5] = pin(make_order(S.SHIPPED), placed=local(2026, 11, 21, 23, 0),
               paid=local(2026, 11, 21, 23, 10), shipped=local(2026, 11, 22, 0, 10))
    o[6] = make_order(S.PAID)

    o[6] = pin(order_transition(order=o[6].pk, name="cancel", actor="system:test",
                                reason="buyer asked"),
               placed=local(2026, 11, 20, 8, 0), paid=local(2026, 11, 20, 9, 0))
    o[7] = pin(make_order(S.READY_TO_PICK, channel=shopify, currency="USD", total="25.50",
                          warehouse=warehouse),
               placed=local(2026, 11, 19, 7, 0), paid=local(2026, 11, 19, 8, 0))
    backlog = {8: (S.REVIEW, 0, None), 9: (S.OUT_OF_STOCK, 2, warehouse),
               10: (S.PICKED, 3, None), 11: (S.ON_HOLD, 2, None), 12: (S.PICKING, 2, None)}
    for n, (status, priority, wh) in backlog.items():
        o[n] = pin(make_order(status, priority=priority, warehouse=wh),
                   placed=local(2026, 11, 10, 9, 0), paid=local(2026, 11, 10, 9, 5))
    o["shopify"] = shopify
    return o


def ids(*orders):
    return {order.pk for order in orders}


def cards_by_key(filters):
    return {card.key: card for card in kpi_cards(filters)}


RANGE = DashboardFilters(date_from=D18, date_to=D21)


def test_now_cards_count_the_backlog_whatever_the_dates(world):
    cards = cards_by_key(RANGE)

    assert cards[Kpi.AWAITING_SHIPMENT].value == 7  # 1, 7, 8, 9, 10, 11, 12
    assert cards[Kpi.OUT_OF_STOCK].value == 1
    assert cards[Kpi.IN_REVIEW].value == 1
    # 9 (out of stock, 4 h) and 12 (picking, 4 h); not 10 (picked), 11 (held) or 7 (normal).
    assert cards[Kpi.URGENT_NOT_PICKED].value == 2
    assert cards[Kpi.CHANNEL_SYNC_PROBLEMS].value == 0
    other_range = cards_by_key(DashboardFilters(date_from=D18, date_to=D18))
    assert other_range[Kpi.AWAITING_SHIPMENT].value == 7


def test_scope_filters_narrow_every_card(world, warehouse):
    in_sh = cards_by_key(DashboardFilters(date_from=D18, date_to=D21, warehouse=warehouse))
    assert in_sh[Kpi.AWAITING_SHIPMENT].value == 2  # 7 and 9
    assert in_sh[Kpi.OUT_OF_STOCK].value == 1
    assert in_sh[Kpi.URGENT_NOT_PICKED].value == 1
    assert in_sh[Kpi.PAID_TO_SHIPPED].value is None  # nothing shipped from sh

    shopify = cards_by_key(DashboardFilters(date_from=D18, date_to=D21, platform="shopify"))
    assert shopify[Kpi.AWAITING_SHIPMENT].value == 1
    assert shopify[Kpi.IN_REVIEW].value == 0

    one_channel = cards_by_key(DashboardFilters(date_from=D18, date_to=D21,
                                                channel=world["shopify"]))
    assert one_channel[Kpi.AWAITING_SHIPMENT].value == 1


def test_paid_to_shipped_average_over_orders_shipped_in_the_range(world):
    # Order 2 took 2.5 h, order 4 took 6 h; order 5 shipped after the range.
    assert paid_to_shipped(RANGE) == {"hours": Decimal("4.3"), "orders": 2}
    only_21 = paid_to_shipped(DashboardFilters(date_from=D21, date_to=D21))
    assert only_21 == {"hours": Decimal("2.5"), "orders": 1}
    assert paid_to_shipped(DashboardFilters(date_from=D18, date_to=D19)) == {
        "hours": None, "orders": 0}


def test_ship_time_histogram(world):
    buckets = {b["label"]: b["orders"] for b in ship_time_histogram(RANGE)}
    assert buckets == {"≤ 4 h": 1, "≤ 8 h": 1, "≤ 24 h": 0, "≤ 48 h": 0, "≤ 72 h": 0,
                       "> 72 h": 0}


def test_by_day_counts_local_days_and_keeps_empty_days(world):
    rows = {row["day"]: row for row in by_day(RANGE)}

    assert list(rows) == [D18, D19, D20, D21]
    plain = {day: (r["placed"], r["paid"], r["shipped"], r["cancelled"], r["sales"])
             for day, r in rows.items()}
    assert plain == {
        D18: (0, 0, 0, 0, {}),
        D19: (2, 1, 0, 1, {"USD": Decimal("25.50")}),
        D20: (3, 3, 1, 1, {"CNY": Decimal("236.00")}),
        D21: (2, 2, 1, 0, {"CNY": Decimal("236.00")}),
    }


def test_a_day_is_a_day_in_time_zone(world):
    shanghai_21 = {r["day"]: r["placed"] for r in by_day(DashboardFilters(D20, D21))}
    assert shanghai_21 == {D20: 3, D21: 2}

    with override_settings(TIME_ZONE="UTC"):
        utc = {r["day"]: r["placed"] for r in by_day(DashboardFilters(D20, D21))}
    # In UTC order 2 (16:30 UTC on the 20th) and order 1 (15:59 UTC) are both on the 20th,
    # and order 5 (15:00 UTC on the 21st) stays on the 21st.
    assert utc == {D20: 4, D21: 1}


def test_by_platform(world):
    rows = {row["platform"]: row for row in by_platform(RANGE)}
    assert {k: (r["placed"], r["paid"], r["shipped"], r["cancelled"], r["sales"])
            for k, r in rows.items()} == {
        "manual": (6, 5, 2, 2, {"CNY": Decimal("472.00")}),
        "shopify": (1, 1, 0, 0, {"USD": Decimal("25.50")}),
    }


def test_sales_summary_per_platform_day_currency(world):
    assert sales_summary(RANGE) == [
        {"day": D19, "platform": "shopify", "currency": "USD", "orders": 1,
         "total": Decimal("25.50")},
        {"day": D20, "platform": "manual", "currency": "CNY", "orders": 2,
         "total": Decimal("236.00")},
        {"day": D21, "platform": "manual", "currency": "CNY", "orders": 2,
         "total": Decimal("236.00")},
    ]


def test_orders_per_day_per_channel_series(world):
    chart = orders_per_day_per_channel(RANGE)
    assert chart["labels"] == ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    assert chart["series"] == [
        {"label": "Shopify store", "data": [0, 1, 0, 0]},
        {"label": "Test shop", "data": [0, 1, 3, 2]},
    ]


def test_empty_database_gives_zeros_not_errors(db):
    cards = cards_by_key(RANGE)
    assert cards[Kpi.AWAITING_SHIPMENT].value == 0
    assert cards[Kpi.PAID_TO_SHIPPED].value is None
    assert cards[Kpi.PAID_TO_SHIPPED].state == "na"
    assert [r["placed"] for r in by_day(RANGE)] == [0, 0, 0, 0]
    assert by_platform(RANGE) == []


# --- thresholds --------------------------------------------------------------------------


def test_seeded_thresholds_and_card_states(world):
    cards = cards_by_key(RANGE)
    assert KpiThreshold.objects.get(kpi=Kpi.AWAITING_SHIPMENT).red == 150
    assert cards[Kpi.AWAITING_SHIPMENT].state == "ok"  # 7
    assert cards[Kpi.PAID_TO_SHIPPED].state == "amber"  # 4.3 h > 4 h target
    assert cards[Kpi.OUT_OF_STOCK].state == "amber"  # any out-of-stock order
    # Two orders shipped long ago, never scanned: 0% returned, red.
    assert cards[Kpi.TRACKING_RETURN_RATE].value == Decimal("0.0")
    assert cards[Kpi.TRACKING_RETURN_RATE].state == "red"
    assert cards[Kpi.TRACKING_RETURN_RATE].hint
    # No complaint, no tracking info yet: no SLA, the SLA cards say so.
    assert cards[Kpi.COMPLAINT_RATIO].state == "ok"
    assert cards[Kpi.SLA_MEDIAN].state == "na"
    assert cards[Kpi.SLA_MEDIAN].display == "—"


def test_editing_a_threshold_switches_the_card(world):
    threshold = KpiThreshold.objects.get(kpi=Kpi.AWAITING_SHIPMENT)
    threshold.amber, threshold.red = 6, 20
    threshold.save()
    assert cards_by_key(RANGE)[Kpi.AWAITING_SHIPMENT].state == "amber"
    threshold.red = 6
    threshold.save()
    assert cards_by_key(RANGE)[Kpi.AWAITING_SHIPMENT].state == "red"
    threshold.amber, threshold.red = 7, 7  # exclusive: exactly at the limit is fine
    threshold.save()
    assert cards_by_key(RANGE)[Kpi.AWAITING_SHIPMENT].state == "ok"


def test_a_failing_channel_turns_the_sync_card_red(world, channel):
    channel.consecutive_failures = 3
    channel.save()
    card = cards_by_key(RANGE)[Kpi.CHANNEL_SYNC_PROBLEMS]
    assert (card.value, card.state) == (1, "red")
    shopify_only = cards_by_key(DashboardFilters(D18, D21, platform="shopify"))
    assert shopify_only[Kpi.CHANNEL_SYNC_PROBLEMS].value == 0


@pytest.mark.parametrize(("value", "state"), [
    (None, "na"), (Decimal("100"), "ok"), (Decimal("99.9"), "amber"), (Decimal("95"), "amber"),
    (Decimal("94.99"), "red"),
])
def test_lower_is_worse_threshold(db, value, state):
    threshold = KpiThreshold.objects.get(kpi=Kpi.TRACKING_RETURN_RATE)
    assert threshold.direction == KpiThreshold.Direction.LOWER_IS_WORSE
    assert threshold.state(value) == state


# --- drill-down: each link selects exactly the counted orders ----------------------------------
# These need the order list's extended parameters (status repeated, priority_min,
# paid_from/paid_to, shipped_from/shipped_to, platform).


def test_card_links_select_exactly_the_counted_orders(world, warehouse):
    o = world
    for filters in (RANGE, DashboardFilters(D18, D21, warehouse=warehouse),
                    DashboardFilters(D18, D21, platform="manual")):
        for card in kpi_cards(filters):
            if card.link.startswith("/orders/") and "orders" not in card.extra:
                assert len(drilldown_ids(card.link)) == card.value, card.key
            elif card.link.startswith("/orders/"):
                assert len(drilldown_ids(card.link)) == card.extra["orders"]
    cards = cards_by_key(RANGE)
    assert drilldown_ids(cards[Kpi.URGENT_NOT_PICKED].link) == ids(o[9], o[12])
    assert drilldown_ids(cards[Kpi.PAID_TO_SHIPPED].link) == ids(o[2], o[4])
    assert drilldown_ids(cards[Kpi.AWAITING_SHIPMENT].link) == ids(
        o[1], o[7], o[8], o[9], o[10], o[11], o[12])


def test_breakdown_links_select_exactly_the_counted_orders(world):
    o = world
    for row in [*by_day(RANGE), *by_platform(RANGE)]:
        for column, link in row["links"].items():
            assert len(drilldown_ids(link)) == row[column], (row.get("day"), column)
    day21 = by_day(DashboardFilters(D21, D21))[0]
    assert drilldown_ids(day21["links"]["placed"]) == ids(o[2], o[5])
    assert drilldown_ids(day21["links"]["paid"]) == ids(o[2], o[5])
    assert drilldown_ids(day21["links"]["shipped"]) == ids(o[2])


# --- percentile (for the SLA once tracking events exist) -------------------------------------


def test_percentile_matches_percentile_cont():
    values = [dt.timedelta(hours=h) for h in (1, 2, 3, 4, 10)]
    assert percentile(values, 50) == dt.timedelta(hours=3)
    assert percentile(values, 90) == dt.timedelta(hours=7, minutes=36)  # 4 + 0.6 * 6
    assert percentile([5.0, 1.0], 50) == 3.0
    assert percentile([], 50) is None
