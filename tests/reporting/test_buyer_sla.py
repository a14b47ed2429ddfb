"""The SLA "placed → first valid tracking info sent to the buyer": what stamps it, its
figures (worked out by hand), the rollup against a fresh aggregate of the source rows,
the cards, thresholds and the drill-down list.

"Sent": a buyer message carrying the tracking number turned ``sent``, or the platform
write-back carrying it succeeded. "Valid": the number's waybill is valid and has a carrier
scan. The moment: the later of the two, the first one wins (reporting.buyer_tracking).
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from channels.models import ShipmentPush
from fulfillment.notifications.models import Gateway, Message
from fulfillment.shipping.carriers.base import TrackEvent
from fulfillment.shipping.models import CarrierAccount, Waybill
from fulfillment.shipping.services import tracking_record
from orderhub.models import OrderStatus as S
from reporting.models import BuyerTrackingInfo, BuyerTrackingSent, DailyRollup, Kpi, KpiThreshold
from reporting.rollup import rollup_day_build, rollup_refresh, valid_days
from reporting.selectors import (
    DashboardFilters,
    kpi_cards,
    sla_late_orders,
    sla_placed_to_buyer_tracking,
)
from tests.reporting.conftest import local

D19, D20, D21, D22 = (dt.date(2026, 11, d) for d in (19, 20, 21, 22))
TODAY = dt.date(2026, 11, 25)
RANGE = DashboardFilters(D20, D21)


@pytest.fixture(autouse=True)
def today_is_the_25th(monkeypatch):
    real = timezone.localdate

    def localdate(value=None, timezone=None):
        return real(value, timezone) if value is not None else TODAY

    monkeypatch.setattr("django.utils.timezone.localdate", localdate)


@pytest.fixture
def gateway(db):
    return Gateway.objects.create(name="sms", kind=Gateway.Kind.HTTP_SMS,
                                  endpoint="https://sms.example.com/send")


@pytest.fixture
def sf(db):
    return CarrierAccount.objects.create(code="sf", name="SF Express", kind="sf")


@pytest.fixture
def send_sms(gateway):
    seq = iter(range(1, 10_000))

    def send(order, at, text, *, event="shipped", sent=True):
        """A buyer message through the outbox: queued, then (``sent``) delivered at ``at``,
        saved the way ``message_deliver`` saves it."""
        message = Message.objects.create(kind=Message.Kind.SMS, event=event, gateway=gateway,
                                         recipient="13800138000", body=text, order=order,
                                         dedupe_key=f"test:{next(seq)}")
        if sent:
            message.status = Message.Status.SENT
            message.sent_at = at
            message.save(update_fields=["status", "sent_at", "provider_id", "last_error"])
        return message

    return send


def push(order, at, number):
    """The platform write-back, queued then succeeded at ``at`` (as ``_mark_sent`` saves)."""
    row = ShipmentPush.objects.create(order=order, channel=order.channel,
                                      tracking_number=number)
    row.status = ShipmentPush.Status.SENT
    row.sent_at = at
    row.save(update_fields=["attempts", "status", "sent_at", "last_error", "unconfirmed",
                            "carrier"])
    return row


def scan(waybill, at):
    """A carrier event through the shipping service (sets the waybill's first event)."""
    tracking_record(waybill=waybill, events=[TrackEvent(occurred_at=at, description="收件")])


def book(order, account, number, status=Waybill.Status.BOOKED):
    return Waybill.objects.create(order=order, account=account, status=status,
                                  tracking_number=number)


@pytest.fixture
def world(make_order, make_channel, pin, warehouse, sf, send_sms,
          django_capture_on_commit_callbacks):
    shopify = make_channel("sp", "shopify", "Shopify store")
    o = {}

    def order(n, placed, **fields):
        o[n] = pin(make_order(S.SHIPPED, **fields), placed=placed, paid=placed)
        return o[n]

    # b1: placed 20th 08:00; SMS with T1 at 12:00, first scan 14:00 → valid at 14:00: 6 h.
    w1 = book(order(1, local(2026, 11, 20, 8)), sf, "T1")
    send_sms(o[1], local(2026, 11, 20, 12), "您的订单已发货，顺丰 T1")
    scan(w1, local(2026, 11, 20, 14))
    # b2 (W): placed 20th 06:00, scanned 10:00; the platform took T2 on the 21st at 09:00
    # → 27 h. The SMS an hour later does not move it (the first one wins).
    w2 = book(order(2, local(2026, 11, 20, 6), warehouse=warehouse), sf, "T2")
    scan(w2, local(2026, 11, 20, 10))
    push(o[2], local(2026, 11, 21, 9), "T2")
    send_sms(o[2], local(2026, 11, 21, 10), "T2 已发货")
    # b3 (shopify): placed 21st 00:00, SMS 02:00, scan 03:00 → 3 h.
    w3 = book(order(3, local(2026, 11, 21, 0), channel=shopify), sf, "T3")
    send_sms(o[3], local(2026, 11, 21, 2), "T3")
    scan(w3, local(2026, 11, 21, 3))
    # b4 (shopify, W): placed 19th 22:00, scanned 20th 01:00, SMS 02:00 → 4 h, on the 20th.
    w4 = book(order(4, local(2026, 11, 19, 22), channel=shopify, warehouse=warehouse), sf, "T4")
    scan(w4, local(2026, 11, 20, 1))
    send_sms(o[4], local(2026, 11, 20, 2), "快递单号 T4")
    # b5: told T5, but T5's booking was cancelled (its scan is no valid tracking info).
    w5 = book(order(5, local(2026, 11, 20, 8)), sf, "T5", status=Waybill.Status.CANCELLED)
    scan(w5, local(2026, 11, 20, 9))
    send_sms(o[5], local(2026, 11, 20, 10), "T5")
    # b6: the SMS is still queued: the buyer has not been told.
    w6 = book(order(6, local(2026, 11, 20, 8)), sf, "T6")
    scan(w6, local(2026, 11, 20, 9))
    send_sms(o[6], local(2026, 11, 20, 10), "T6", sent=False)
    # b7: the packed SMS (no tracking number in it) was sent.
    w7 = book(order(7, local(2026, 11, 20, 8)), sf, "T7")
    scan(w7, local(2026, 11, 20, 9))
    send_sms(o[7], local(2026, 11, 20, 10), "已打包，即将发出", event="ready_to_ship")
    return o


def row(orders, median, p90, within, pct):
    return {"orders": orders, "median_hours": Decimal(median), "p90_hours": Decimal(p90),
            "within": within, "within_pct": Decimal(pct)}


# --- what stamps it ----------------------------------------------------------------------------


def test_the_stamp_is_the_later_of_send_and_scan_and_the_first_one_wins(world):
    o = world
    stamps = {i.order_id: i for i in BuyerTrackingInfo.objects.all()}
    assert set(stamps) == {o[1].pk, o[2].pk, o[3].pk, o[4].pk}
    assert stamps[o[1].pk].at == local(2026, 11, 20, 14)  # scan after the SMS
    assert stamps[o[4].pk].at == local(2026, 11, 20, 2)  # SMS after the scan
    assert (stamps[o[2].pk].at, stamps[o[2].pk].via) == (local(2026, 11, 21, 9), "platform")
    assert stamps[o[3].pk].via == "message" and stamps[o[3].pk].tracking_number == "T3"
    # The queued SMS and the packed SMS sent nothing the buyer could track.
    assert not BuyerTrackingSent.objects.filter(order__in=[o[6], o[7]]).exists()
    # b5 was told a number, but never a valid one.
    assert BuyerTrackingSent.objects.filter(order=o[5]).exists()


def test_a_later_send_or_an_earlier_scan_never_moves_the_stamp(world, send_sms, sf):
    o = world
    before = BuyerTrackingInfo.objects.get(pk=o[1].pk).at
    # Another number, sent and scanned earlier than the stamp's moment.
    w = book(o[1], sf, "T1B")
    scan(w, local(2026, 11, 20, 9))
    send_sms(o[1], local(2026, 11, 20, 9, 30), "T1B")
    push(o[1], local(2026, 11, 20, 9, 30), "T1")
    assert BuyerTrackingInfo.objects.get(pk=o[1].pk).at == before
    assert BuyerTrackingInfo.objects.count() == 4


def test_a_send_waits_for_a_valid_scan(make_order, pin, sf, send_sms):
    order = pin(make_order(S.SHIPPED), placed=local(2026, 11, 24, 8))
    waybill = book(order, sf, "TX1")
    send_sms(order, local(2026, 11, 24, 9), "TX1")
    assert not BuyerTrackingInfo.objects.filter(pk=order.pk).exists()  # no scan yet
    scan(waybill, local(2026, 11, 24, 11))
    assert BuyerTrackingInfo.objects.get(pk=order.pk).at == local(2026, 11, 24, 11)


def test_a_stamp_on_a_closed_day_sends_it_back_to_live(world, make_order, pin, sf, send_sms,
                                                       django_capture_on_commit_callbacks):
    for day in (D20, D21):
        rollup_day_build(day=day)
    assert valid_days(D20, D21) == {D20, D21}
    order = pin(make_order(S.SHIPPED), placed=local(2026, 11, 21, 8))
    waybill = book(order, sf, "TLATE")
    scan(waybill, local(2026, 11, 21, 10))
    with django_capture_on_commit_callbacks(execute=True):
        # The platform's success is recorded late, but it happened on the 21st.
        push(order, local(2026, 11, 21, 11), "TLATE")
    assert valid_days(D20, D21) == {D20}
    assert sla_placed_to_buyer_tracking(RANGE) == sla_placed_to_buyer_tracking(
        RANGE, use_rollup=False)
    assert sla_placed_to_buyer_tracking(RANGE)["all"]["orders"] == 5


# --- figures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_rollup", [True, False])
def test_median_p90_and_share_per_channel_warehouse_and_day(world, warehouse, use_rollup):
    if use_rollup:
        rollup_refresh(days_back=8)
    sla = sla_placed_to_buyer_tracking(RANGE, use_rollup=use_rollup)
    # 3, 4, 6, 27 h: median 5.0; p90 rank 2.7 → 6 + 0.7 × 21 = 20.7; ≤ 24 h: 3 of 4.
    assert sla["all"] == row(4, "5.0", "20.7", 3, "75.0")
    channel = {r["label"]: r for r in sla["by_channel"]}
    # Test shop 6, 27 → 16.5, 6 + 0.9 × 21 = 24.9, 1 of 2; Shopify 3, 4 → 3.5, 3.9.
    assert {k: channel["Test shop"][k] for k in row(0, 0, 0, 0, 0)} == row(
        2, "16.5", "24.9", 1, "50.0")
    assert (channel["Shopify store"]["median_hours"], channel["Shopify store"]["p90_hours"]) == (
        Decimal("3.5"), Decimal("3.9"))
    by_warehouse = {r["warehouse_id"]: r for r in sla["by_warehouse"]}
    # W: 27, 4 → 15.5, 4 + 0.9 × 23 = 24.7. None: 6, 3 → 4.5, 3 + 0.9 × 3 = 5.7.
    assert (by_warehouse[warehouse.pk]["median_hours"], by_warehouse[warehouse.pk]["p90_hours"]
            ) == (Decimal("15.5"), Decimal("24.7"))
    assert (by_warehouse[None]["median_hours"], by_warehouse[None]["p90_hours"]) == (
        Decimal("4.5"), Decimal("5.7"))
    # Per local day of the stamp: 20th b1 6, b4 4 → 5.0; 21st b2 27, b3 3 → 15.0.
    assert [(r["day"], r["median_hours"]) for r in sla["by_day"]] == [
        (D20, Decimal("5.0")), (D21, Decimal("15.0"))]
    # A 30 h window takes b2 in.
    assert sla_placed_to_buyer_tracking(RANGE, window_hours=Decimal("30"),
                                        use_rollup=use_rollup)["all"]["within"] == 4


# --- the rollup against a fresh aggregate of the source rows ------------------------------------


def _percentile(values, p):
    values = sorted(values)
    rank = (len(values) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _hours(seconds):
    return (Decimal(str(seconds)) / 3600).quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")


def fresh_aggregate(filters, window_hours=Decimal("24")):
    """The SLA straight from the outbox rows, pushes and waybills, as defined (not from
    the stamps): per order the first moment a sent number had a valid scan."""
    sent = defaultdict(dict)  # order → number → first sent time
    for m in Message.objects.filter(kind="sms", status="sent", order__isnull=False):
        for w in Waybill.objects.filter(order_id=m.order_id).exclude(tracking_number=""):
            if w.tracking_number in m.body:
                known = sent[m.order_id].get(w.tracking_number)
                sent[m.order_id][w.tracking_number] = min(filter(None, [known, m.sent_at]))
    for p in ShipmentPush.objects.filter(status="sent"):
        known = sent[p.order_id].get(p.tracking_number)
        sent[p.order_id][p.tracking_number] = min(filter(None, [known, p.sent_at]))
    samples = defaultdict(list)
    for w in Waybill.objects.valid().filter(first_event_at__isnull=False).select_related(
            "order__channel"):
        order = w.order
        if w.tracking_number not in sent[order.pk]:
            continue
        at = max(sent[order.pk][w.tracking_number], w.first_event_at)
        samples[order.pk].append((at, order))
    out = []
    for candidates in samples.values():
        at, order = min(candidates, key=lambda c: c[0])
        day = timezone.localtime(at).date()
        if not filters.date_from <= day <= filters.date_to:
            continue
        if filters.platform and order.channel.platform != filters.platform:
            continue
        if filters.warehouse is not None and order.warehouse_id != filters.warehouse.pk:
            continue
        out.append((at - order.placed_at).total_seconds())
    if not out:
        return {"orders": 0}
    within = sum(1 for s in out if s <= float(window_hours) * 3600)
    return {"orders": len(out), "median_hours": _hours(_percentile(out, 50)),
            "p90_hours": _hours(_percentile(out, 90)), "within": within,
            "within_pct": (Decimal(within) * 100 / len(out)).quantize(Decimal("0.1"))}


def scopes(warehouse):
    return [RANGE, DashboardFilters(D19, D22), DashboardFilters(D20, D20),
            DashboardFilters(D19, D21, platform="shopify"),
            DashboardFilters(D19, D21, warehouse=warehouse)]


def test_sla_figures_against_a_fresh_aggregate(world, warehouse, django_assert_num_queries):
    fresh = [sla_placed_to_buyer_tracking(f, use_rollup=False) for f in scopes(warehouse)]
    rollup_refresh(days_back=8)
    assert sorted(DailyRollup.objects.filter(kind="buyer", day=D20, category="")
                  .values_list("samples", flat=True)) == [[4 * 3600.0], [6 * 3600.0]]
    for filters, expected in zip(scopes(warehouse), fresh, strict=True):
        rolled = sla_placed_to_buyer_tracking(filters)
        assert rolled == expected, filters
        # ... and both equal the definition applied to the source rows.
        reference = fresh_aggregate(filters)
        assert {k: rolled["all"][k] for k in reference} == reference, filters
    assert fresh[0]["all"]["orders"] == 4  # the comparison covers real numbers
    # Rolled-up days read no order: the validity check, the rollup, the names.
    with django_assert_num_queries(4):
        sla_placed_to_buyer_tracking(RANGE)


def test_category_rows_of_the_rollup(world):
    from warehouse.models import SKU

    SKU.objects.create(code="SKU-1", name="保温杯", category="drinkware")
    rollup_refresh(days_back=8, rebuild_all=True)
    drinkware = DashboardFilters(D20, D21, category="drinkware")
    assert sla_placed_to_buyer_tracking(drinkware) == sla_placed_to_buyer_tracking(
        drinkware, use_rollup=False)
    assert sla_placed_to_buyer_tracking(drinkware)["all"]["orders"] == 4


# --- cards, thresholds, drill-down ------------------------------------------------------------


def test_cards_thresholds_and_links(world):
    cards = {c.key: c for c in kpi_cards(RANGE)}
    # Seeded: median amber 24 / red 48, p90 48 / 72, share within 48 h below 95 / 90.
    assert (cards[Kpi.BUYER_SLA_MEDIAN].value, cards[Kpi.BUYER_SLA_MEDIAN].state) == (
        Decimal("5.0"), "ok")
    assert cards[Kpi.BUYER_SLA_P90].value == Decimal("20.7")
    assert (cards[Kpi.BUYER_SLA_WITHIN].value, cards[Kpi.BUYER_SLA_WITHIN].state) == (
        Decimal("100.0"), "ok")
    assert cards[Kpi.BUYER_SLA_MEDIAN].link == "#buyer-sla"
    assert cards[Kpi.BUYER_SLA_WITHIN].link == (
        "/dashboard/sla/late/?from=2026-11-20&to=2026-11-21&kind=buyer")
    assert cards[Kpi.SLA_WITHIN].link.endswith("&kind=paid")
    KpiThreshold.objects.filter(kpi=Kpi.BUYER_SLA_WITHIN).update(window_hours=24)
    KpiThreshold.objects.filter(kpi=Kpi.BUYER_SLA_MEDIAN).update(amber=4, red=5)
    cards = {c.key: c for c in kpi_cards(RANGE)}
    assert (cards[Kpi.BUYER_SLA_WITHIN].value, cards[Kpi.BUYER_SLA_WITHIN].state) == (
        Decimal("75.0"), "red")
    assert "3 of 4 within 24 h of placing" in cards[Kpi.BUYER_SLA_WITHIN].hint
    assert cards[Kpi.BUYER_SLA_MEDIAN].state == "amber"  # 5.0: above 4, not above 5


def test_late_list_holds_the_orders_over_the_window(world, warehouse):
    late = sla_late_orders(RANGE, kind="buyer", window_hours=Decimal("5"))
    # 6 h (b1) and 27 h (b2), slowest first; count = orders - within.
    assert [r["order"].pk for r in late["rows"]] == [world[2].pk, world[1].pk]
    assert [r["hours"] for r in late["rows"]] == [Decimal("27.0"), Decimal("6.0")]
    sla = sla_placed_to_buyer_tracking(RANGE, window_hours=Decimal("5"))
    assert late["count"] == sla["all"]["orders"] - sla["all"]["within"] == 2
    in_w = sla_late_orders(DashboardFilters(D20, D21, warehouse=warehouse), kind="buyer",
                           window_hours=Decimal("5"))
    assert [r["order"].pk for r in in_w["rows"]] == [world[2].pk]
    assert sla_late_orders(RANGE, kind="buyer", window_hours=Decimal("5"), limit=1)[
        "count"] == 2


def test_dashboard_and_late_page(client, make_user, world):
    client.force_login(make_user("manager"))
    html = client.get("/dashboard/?from=2026-11-20&to=2026-11-21").content.decode()
    assert 'id="kpi-buyer_sla_median_hours" data-state="ok" data-value="5.0"' in html
    assert 'id="buyer-sla-table"' in html and 'data-buyer-sla="all"' in html
    assert 'href="/dashboard/sla/late/?from=2026-11-20&amp;to=2026-11-21&amp;kind=buyer"' in html
    KpiThreshold.objects.filter(kpi=Kpi.BUYER_SLA_WITHIN).update(window_hours=5)
    page = client.get("/dashboard/sla/late/?from=2026-11-20&to=2026-11-21&kind=buyer")
    assert page.status_code == 200
    body = page.content.decode()
    assert f'data-order="{world[1].pk}"' in body and f'data-order="{world[2].pk}"' in body
    assert f'data-order="{world[3].pk}"' not in body
    assert "2 orders of" in body
    paid = client.get("/dashboard/sla/late/?from=2026-11-20&to=2026-11-21&kind=paid")
    assert paid.status_code == 200
    assert client.get("/dashboard/sla/late/?kind=nope").status_code == 400
    zh = client.get("/dashboard/sla/late/?from=2026-11-20&to=2026-11-21&kind=buyer",
                    HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Back to the dashboard" not in zh and "took longer than" not in zh


def test_late_page_needs_the_dashboard_permission(client, make_user):
    client.force_login(make_user("picker"))
    assert client.get("/dashboard/sla/late/?kind=buyer").status_code == 403
