"""Tracking return rate, complaint ratio, stalled parcels and the SLA "paid → first valid
tracking info" on hand-built orders, waybills and tickets with known local times.

The expected numbers are worked out by hand in the comments (hours, sorted), not
computed by the code under test.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from freezegun import freeze_time

from fulfillment.shipping.carriers.base import TrackEvent
from fulfillment.shipping.models import CarrierAccount, Waybill
from fulfillment.shipping.services import tracking_record
from fulfillment.tickets.models import Ticket
from orderhub.models import OrderStatus as S
from reporting.models import DailyRollup, Kpi, KpiThreshold
from reporting.rollup import rollup_day_build, valid_days
from reporting.selectors import (
    DashboardFilters,
    complaint_ratio,
    fulfillment_numbers,
    kpi_cards,
    sla_paid_to_first_tracking,
    stalled_parcels_per_carrier,
    tracking_return_rate,
)
from tests.conftest import requires_postgres
from tests.reporting.conftest import drilldown_ids, local

D19, D20, D21, D22 = (dt.date(2026, 11, d) for d in (19, 20, 21, 22))
RANGE = DashboardFilters(D20, D21)
# The SLA's three paths; the SQL one (percentile_cont, GROUPING SETS, AT TIME ZONE) is
# PostgreSQL's own: elsewhere the dashboard never takes it, so neither does the test.
SLA_PATHS = [pytest.param(True, id="percentile_cont", marks=[requires_postgres,
                                                            pytest.mark.postgres]),
             pytest.param(False, id="python"), pytest.param(None, id="rollup_or_live")]
# The fresh reference the rollup is checked against: in SQL where the database has it.
FRESH_IN_SQL = connection.vendor == "postgresql"
NOW = local(2026, 11, 22, 12, 0)


@pytest.fixture
def carriers(db):
    sf = CarrierAccount.objects.create(code="sf", name="SF Express", kind="sf")
    zto = CarrierAccount.objects.create(code="zto", name="ZTO", kind="kuaidi100")
    return sf, zto


def waybill(order, account, first=None, status=Waybill.Status.BOOKED, **fields):
    return Waybill.objects.create(order=order, account=account, status=status,
                                  tracking_number=f"T{order.pk}{status[:2]}",
                                  first_event_at=first, last_event_at=first, **fields)


def complaint(order, created, kind=Ticket.Kind.COMPLAINT):
    return Ticket.objects.create(kind=kind, title="broken", due_at=created, order=order,
                                 created_by_label="test", created_at=created)


@pytest.fixture
def world(make_order, make_channel, pin, warehouse, carriers):
    """Channel "Test shop" (the default fixture channel) and "sp" (shopify); warehouse W."""
    sf, zto = carriers
    shopify = make_channel("sp", "shopify", "Shopify store")
    o = {}

    def shipped(n, paid, shipped_at, **fields):
        o[n] = pin(make_order(S.SHIPPED, **fields), placed=paid, paid=paid, shipped=shipped_at)
        return o[n]

    # a1: paid → first scan 4 h; shipped → first scan 2 h (in time).
    waybill(shipped(1, local(2026, 11, 20, 10), local(2026, 11, 20, 12)), sf,
            local(2026, 11, 20, 14), stalled_at=local(2026, 11, 21, 9),
            delivered_at=local(2026, 11, 21, 18))  # stalled once, delivered since
    # a2 (W): paid → first scan 38 h; shipped → first scan 26 h (late). Stalled now.
    waybill(shipped(2, local(2026, 11, 20, 8), local(2026, 11, 20, 20), warehouse=warehouse),
            sf, local(2026, 11, 21, 22), stalled_at=local(2026, 11, 22, 1))
    # a3 (shopify): 2 h; a cancelled earlier booking's scan (00:30 after payment) is ignored.
    a3 = shipped(3, local(2026, 11, 21, 1), local(2026, 11, 21, 2), channel=shopify)
    waybill(a3, zto, local(2026, 11, 21, 3))
    waybill(a3, zto, local(2026, 11, 21, 1, 30), status=Waybill.Status.CANCELLED,
            stalled_at=local(2026, 11, 21, 5))
    # a4 (shopify, W): shipped on the 19th (not in the tracking rate), first scan on the
    # 20th at 01:00: an SLA sample of 13 h.
    waybill(shipped(4, local(2026, 11, 19, 12), local(2026, 11, 19, 13), channel=shopify,
                    warehouse=warehouse), zto, local(2026, 11, 20, 1))
    # a6: shipped in the range, never scanned (late).
    shipped(6, local(2026, 11, 20, 9), local(2026, 11, 20, 10))
    # a7: shipped the 18th, never scanned, stalled with ZTO.
    waybill(shipped(7, local(2026, 11, 18, 9), local(2026, 11, 18, 10)), zto,
            stalled_at=local(2026, 11, 19, 10))
    return o


def ids(*orders):
    return {order.pk for order in orders}


# --- tracking return rate --------------------------------------------------------------------


@freeze_time(NOW)
def test_tracking_return_rate_counts_first_valid_scan_within_the_window(world):
    # Shipped 20–21: a1 (2 h, in time), a2 (26 h, late), a3 (1 h), a6 (never): 2 / 4.
    result = tracking_return_rate(RANGE)
    assert (result["rate"], result["in_time"], result["orders"], result["pending"]) == (
        Decimal("50.0"), 2, 4, 0)
    # A 30 h window lets a2 in: 3 / 4.
    assert tracking_return_rate(RANGE, window_hours=Decimal("30"))["rate"] == Decimal("75.0")
    # Shopify only: a3 alone.
    assert tracking_return_rate(DashboardFilters(D20, D21, platform="shopify"))["rate"] == 100


def test_recent_unscanned_orders_are_pending_not_late(make_order, pin, carriers):
    sf, _zto = carriers
    KpiThreshold.objects.filter(kpi=Kpi.TRACKING_RETURN_RATE).update(window_hours=4)
    today = DashboardFilters(D22, D22)
    late = pin(make_order(S.SHIPPED), shipped=local(2026, 11, 22, 1))  # 11 h, nothing
    pending = pin(make_order(S.SHIPPED), shipped=local(2026, 11, 22, 10))  # 2 h ago
    scanned = pin(make_order(S.SHIPPED), shipped=local(2026, 11, 22, 9))
    waybill(scanned, sf, local(2026, 11, 22, 10))
    with freeze_time(NOW):
        card = {c.key: c for c in kpi_cards(today)}[Kpi.TRACKING_RETURN_RATE]
    assert card.value == Decimal("50.0")  # scanned / (scanned + late)
    assert "1 still within the window" in card.hint
    assert card.state == "red"
    # The link lists every order shipped that day, the pending one too.
    assert drilldown_ids(card.link) == ids(late, pending, scanned)
    assert card.extra["orders"] == 3


# --- complaint ratio ------------------------------------------------------------------------


def test_complaint_ratio_counts_orders_placed_in_the_range_with_a_complaint(world):
    o = world
    complaint(o[2], local(2026, 11, 21, 9))
    complaint(o[2], local(2026, 11, 21, 10))  # the same order twice: once
    complaint(o[4], local(2026, 11, 20, 9))  # order placed the 19th: not in the cohort
    complaint(o[1], local(2026, 11, 23, 9))  # opened after the range, order placed in it
    complaint(o[3], local(2026, 11, 21, 9), kind=Ticket.Kind.OTHER)  # not a complaint
    complaint(None, local(2026, 11, 21, 9))  # no order: cannot count against orders
    # Placed 20–21: a1, a2, a3, a6. Complaints on them: a1, a2 → 2 / 4.
    assert complaint_ratio(RANGE) == {"ratio": Decimal("50.00"), "complaints": 2, "orders": 4}
    # Shopify: placed a3, no complaint; a4's complaint is on an order placed before → 0 / 1
    # (counting complaints opened in the range said 1 / 1).
    assert complaint_ratio(DashboardFilters(D20, D21, platform="shopify"))["ratio"] == 0
    card = {c.key: c for c in kpi_cards(RANGE)}[Kpi.COMPLAINT_RATIO]
    assert card.state == "red"  # above 0.8 %
    assert card.link == ("/tickets/?kind=complaint&status=all&linked=1"
                         "&placed_from=2026-11-20&placed_to=2026-11-21")


def test_complaint_ratio_below_target_is_ok(world):
    assert complaint_ratio(RANGE)["ratio"] == Decimal("0.00")
    assert {c.key: c for c in kpi_cards(RANGE)}[Kpi.COMPLAINT_RATIO].state == "ok"


# --- stalled parcels -----------------------------------------------------------------------------


def test_stalled_parcels_are_open_flagged_waybills_per_carrier(world, warehouse):
    # a2 (SF) and a7 (ZTO); not a1 (delivered) nor a3's cancelled booking.
    assert stalled_parcels_per_carrier(RANGE) == [
        {"carrier": "SF Express", "code": "sf", "parcels": 1},
        {"carrier": "ZTO", "code": "zto", "parcels": 1},
    ]
    in_w = DashboardFilters(D20, D21, warehouse=warehouse)
    assert stalled_parcels_per_carrier(in_w) == [
        {"carrier": "SF Express", "code": "sf", "parcels": 1}]
    cards = {c.key: c for c in kpi_cards(RANGE)}
    assert (cards[Kpi.STALLED_PARCELS].value, cards[Kpi.STALLED_PARCELS].state) == (2, "amber")
    assert cards[Kpi.STALLED_PARCELS].link == "/shipping/?status=stalled"
    # The date range does not apply: a "now" card.
    assert {c.key: c for c in kpi_cards(DashboardFilters(D22, D22))}[
        Kpi.STALLED_PARCELS].value == 2


# --- SLA paid → first valid tracking info --------------------------------------------------------


def _plain(sla):
    return {
        "all": sla["all"],
        "channel": {r["label"]: r for r in sla["by_channel"]},
        "warehouse": {r["warehouse_id"]: r for r in sla["by_warehouse"]},
        "day": {r["day"]: r for r in sla["by_day"]},
    }


def row(orders, median, p90, within, pct):
    return {"orders": orders, "median_hours": Decimal(median), "p90_hours": Decimal(p90),
            "within": within, "within_pct": Decimal(pct)}


@pytest.mark.parametrize("use_sql", SLA_PATHS)
def test_sla_median_p90_and_share_per_channel_warehouse_and_day(world, warehouse, use_sql):
    # First scan in the range: a1 4 h, a2 38 h, a3 2 h, a4 13 h → sorted 2, 4, 13, 38.
    # median (4 + 13) / 2 = 8.5; p90 rank 2.7: 13 + 0.7 × 25 = 30.5; ≤ 24 h: 3 of 4.
    sla = _plain(sla_paid_to_first_tracking(RANGE, use_sql=use_sql))
    assert sla["all"] == row(4, "8.5", "30.5", 3, "75.0")
    # Test shop: 4, 38 → 21.0, 4 + 0.9 × 34 = 34.6, 1 of 2. sp: 2, 13 → 7.5, 11.9, 2 of 2.
    assert sla["channel"]["Test shop"] == {**row(2, "21.0", "34.6", 1, "50.0"),
                                    "channel_id": world[1].channel_id, "label": "Test shop"}
    assert sla["channel"]["Shopify store"]["median_hours"] == Decimal("7.5")
    assert sla["channel"]["Shopify store"]["p90_hours"] == Decimal("11.9")
    assert sla["channel"]["Shopify store"]["within_pct"] == Decimal("100.0")
    # W: 38, 13 → 25.5, 13 + 0.9 × 25 = 35.5, 1 of 2. No warehouse: 4, 2 → 3.0, 3.8.
    assert sla["warehouse"][warehouse.pk]["median_hours"] == Decimal("25.5")
    assert sla["warehouse"][warehouse.pk]["p90_hours"] == Decimal("35.5")
    assert sla["warehouse"][warehouse.pk]["within_pct"] == Decimal("50.0")
    assert sla["warehouse"][None]["median_hours"] == Decimal("3.0")
    assert sla["warehouse"][None]["p90_hours"] == Decimal("3.8")
    # Per local day of the first scan: 20th a1 4 h, a4 13 h; 21st a2 38 h, a3 2 h.
    assert sla["day"][D20]["median_hours"] == Decimal("8.5")
    assert sla["day"][D21]["median_hours"] == Decimal("20.0")
    assert sla["day"][D21]["within"] == 1


@pytest.mark.parametrize("use_sql", SLA_PATHS)
def test_sla_scope_empty_days_and_time_zone(world, use_sql):
    # a4's first scan is 01:00 on the 20th in Shanghai = 17:00 UTC on the 19th: the 20th.
    only_19 = sla_paid_to_first_tracking(DashboardFilters(D19, D19), use_sql=use_sql)
    assert only_19["all"]["orders"] == 0
    assert only_19["all"]["median_hours"] is None
    assert only_19["by_day"] == [{**only_19["all"], "day": D19}]
    shopify = sla_paid_to_first_tracking(DashboardFilters(D19, D21, platform="shopify"),
                                         use_sql=use_sql)
    assert shopify["all"] == row(2, "7.5", "11.9", 2, "100.0")
    assert [r["orders"] for r in shopify["by_day"]] == [0, 1, 1]


def test_sla_window_and_thresholds_drive_the_cards(world):
    cards = {c.key: c for c in kpi_cards(RANGE)}
    assert (cards[Kpi.SLA_MEDIAN].value, cards[Kpi.SLA_MEDIAN].state) == (Decimal("8.5"),
                                                                        "amber")
    assert (cards[Kpi.SLA_P90].value, cards[Kpi.SLA_P90].state) == (Decimal("30.5"), "amber")
    assert (cards[Kpi.SLA_WITHIN].value, cards[Kpi.SLA_WITHIN].state) == (Decimal("75.0"),
                                                                        "red")
    assert cards[Kpi.SLA_MEDIAN].link == "#sla"
    KpiThreshold.objects.filter(kpi=Kpi.SLA_MEDIAN).update(red=8)
    KpiThreshold.objects.filter(kpi=Kpi.SLA_WITHIN).update(window_hours=40)
    cards = {c.key: c for c in kpi_cards(RANGE)}
    assert cards[Kpi.SLA_MEDIAN].state == "red"
    assert (cards[Kpi.SLA_WITHIN].value, cards[Kpi.SLA_WITHIN].state) == (Decimal("100.0"),
                                                                        "ok")
    assert "within 40 h" in cards[Kpi.SLA_WITHIN].hint


@freeze_time(NOW)
def test_fulfillment_numbers_feed_the_charts(world):
    numbers = fulfillment_numbers(RANGE)
    assert numbers["charts"]["sla_trend"] == {
        "labels": ["2026-11-20", "2026-11-21"], "median": [8.5, 20.0],
        "p90": [12.1, 34.4],  # 4 + 0.9 × 9; 2 + 0.9 × 36
        "within": [100.0, 50.0]}
    assert numbers["charts"]["stalled"] == {"labels": ["SF Express", "ZTO"], "data": [1, 1]}
    assert numbers["stalled"] == 2


def test_fulfillment_numbers_are_cached_for_the_configured_time(world, settings):
    settings.DASHBOARD_FULFILLMENT_CACHE_SECONDS = 60
    first = fulfillment_numbers(RANGE)
    Waybill.objects.filter(stalled_at__isnull=False).update(stalled_at=None)

    # within the cache time: the figures the page showed a moment ago
    assert fulfillment_numbers(RANGE)["stalled"] == first["stalled"] == 2
    # another scope is its own entry, computed now
    assert fulfillment_numbers(DashboardFilters(D19, D21))["stalled"] == 0

    settings.DASHBOARD_FULFILLMENT_CACHE_SECONDS = 0
    assert fulfillment_numbers(RANGE)["stalled"] == 0


def test_seeded_thresholds_for_the_new_kpis(db):
    limits = {t.kpi: t for t in KpiThreshold.objects.all()}
    assert limits[Kpi.TRACKING_RETURN_RATE].window_hours == 24
    assert limits[Kpi.SLA_WITHIN].window_hours == 24
    assert limits[Kpi.SLA_WITHIN].direction == KpiThreshold.Direction.LOWER_IS_WORSE
    assert limits[Kpi.SLA_MEDIAN].state(Decimal("3.1")) == "ok"
    assert limits[Kpi.SLA_MEDIAN].state(Decimal("38.6")) == "red"


# --- pages -----------------------------------------------------------------------------------


def test_dashboard_and_wall_show_the_new_cards_charts_and_sla_table(client, make_user, world):
    client.force_login(make_user("manager"))
    response = client.get("/dashboard/?from=2026-11-20&to=2026-11-21")
    assert response.status_code == 200
    html = response.content.decode()
    for key in (Kpi.TRACKING_RETURN_RATE, Kpi.COMPLAINT_RATIO, Kpi.STALLED_PARCELS,
                Kpi.SLA_MEDIAN, Kpi.SLA_P90, Kpi.SLA_WITHIN):
        assert f'id="kpi-{key}"' in html
    assert 'id="kpi-sla_median_hours" data-state="amber" data-value="8.5"' in html
    assert 'id="chart-sla-trend"' in html and 'id="chart-stalled"' in html
    assert 'href="/shipping/?status=stalled"' in html
    charts = response.context["charts"]
    assert charts["sla_trend"]["median"] == [8.5, 20.0]
    assert 'data-sla="all"' in html and 'id="stalled-table"' in html
    wall = client.get("/dashboard/wall/?from=2026-11-20&to=2026-11-21").content.decode()
    assert 'id="kpi-sla_within_pct"' in wall and 'id="kpi-stalled_parcels"' in wall


def test_dashboard_in_chinese_has_no_english_card_labels(client, make_user, world):
    client.force_login(make_user("manager"))
    html = client.get("/dashboard/?from=2026-11-20&to=2026-11-21",
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "SLA paid → first tracking, median" not in html
    assert "Stalled parcels per carrier" not in html


# --- the rollup of the SLA and tracking samples equals a fresh aggregate -----------------------


def sla_scopes(world, warehouse):
    return [RANGE, DashboardFilters(D19, D22), DashboardFilters(D19, D21, platform="shopify"),
            DashboardFilters(D19, D21, warehouse=warehouse),
            DashboardFilters(D19, D21, channel=world[1].channel)]


def fast_and_fresh(filters, window_hours=None):
    """The dashboard's figures (rollup where built, live elsewhere) and the fresh ones."""
    return (
        (sla_paid_to_first_tracking(filters, window_hours=window_hours),
         tracking_return_rate(filters, window_hours=window_hours)),
        (sla_paid_to_first_tracking(filters, window_hours=window_hours, use_sql=FRESH_IN_SQL),
         tracking_return_rate(filters, window_hours=window_hours, use_rollup=False)),
    )


def test_sla_and_tracking_rollup_equals_a_fresh_aggregate(world, warehouse,
                                                          django_assert_num_queries):
    for day in (D19, D20, D21):
        rollup_day_build(day=day)
    # Every sample is kept: a4's 13 h and a1's 4 h on the 20th (their first scans' day).
    assert sorted(DailyRollup.objects.filter(kind="sla", day=D20, category="")
                  .values_list("samples", flat=True)) == [[4 * 3600.0], [13 * 3600.0]]
    for filters in sla_scopes(world, warehouse):
        for window in (None, Decimal("4"), Decimal("30")):
            fast, fresh = fast_and_fresh(filters, window)
            assert fast == fresh, (filters, window)
    # The rolled-up SLA reads no order or waybill: the validity check and the rollup, and
    # the channel and warehouse names for the tables.
    with django_assert_num_queries(4):
        sla_paid_to_first_tracking(RANGE)
    assert fast_and_fresh(RANGE)[0][0]["all"] == row(4, "8.5", "30.5", 3, "75.0")


def test_tracking_days_still_in_their_window_are_read_live(world):
    for day in (D20, D21):
        rollup_day_build(day=day)
    # At noon on the 22nd, the 21st's parcels may still be scanned in time (24 h): live,
    # with a2-like pending orders counted as pending, not late. A 4 h window settles it.
    with freeze_time(NOW):
        for window in (None, Decimal("4")):
            fast = tracking_return_rate(RANGE, window_hours=window)
            assert fast == tracking_return_rate(RANGE, window_hours=window, use_rollup=False)
        assert tracking_return_rate(RANGE)["rate"] == Decimal("50.0")


def test_a_new_scan_or_a_cancelled_waybill_sends_its_days_back_to_live(
    world, warehouse, django_capture_on_commit_callbacks
):
    for day in (D19, D20, D21):
        rollup_day_build(day=day)
    assert valid_days(D19, D21) == {D19, D20, D21}

    # a2's parcel turns out to have been scanned at 23:00 on the 20th (shipped 20:00):
    # its first tracking info moves from the 21st to the 20th, and it is now in time.
    a2_waybill = Waybill.objects.get(order=world[2], first_event_at__isnull=False)
    with django_capture_on_commit_callbacks(execute=True):
        tracking_record(waybill=a2_waybill, events=[
            TrackEvent(occurred_at=local(2026, 11, 20, 23), description="collected")])
    assert valid_days(D19, D21) == {D19}
    for filters in sla_scopes(world, warehouse):
        fast, fresh = fast_and_fresh(filters)
        assert fast == fresh
    assert tracking_return_rate(RANGE)["in_time"] == 3

    rollup_day_build(day=D20)
    rollup_day_build(day=D21)
    # a3's valid waybill is cancelled: its first valid tracking info is gone.
    a3_waybill = Waybill.objects.get(order=world[3], status=Waybill.Status.BOOKED,
                                     first_event_at__isnull=False)
    a3_waybill.status = Waybill.Status.CANCELLED
    with django_capture_on_commit_callbacks(execute=True):
        a3_waybill.save(update_fields=["status"])
    assert valid_days(D19, D21) == {D19, D20}
    fast, fresh = fast_and_fresh(RANGE)
    assert fast == fresh and fast[0]["all"]["orders"] == 3
    # A save that changes nothing the numbers read marks nothing.
    rollup_day_build(day=D21)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        a3_waybill.save(update_fields=["last_error"])
    assert not callbacks and valid_days(D19, D21) == {D19, D20, D21}
