"""The spike rule on synthetic daily series: fires at ≥ 50% for 3 days, not at 49%,
and only when payment success is above 92%."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from orderhub.models import Order, OrderLine
from reporting.models import SpikeAlert, SpikeRule
from reporting.spikes import spike_alert_raised, spike_rule_matches, spike_rules_evaluate
from reporting.tasks import check_spikes
from tests.reporting.conftest import local

DAY = dt.date(2026, 11, 20)
_numbers = itertools.count(1)


@pytest.fixture
def series(channel):
    """``series([20, 30, 45, 68], unpaid=[0, 0, 0, 13])``: paid orders per day, oldest first,
    ending on DAY; each order has one SKU-HOT line (and a gift) shipped to 浙江省."""

    def build(paid, unpaid=None, sku="SKU-HOT", province="浙江省"):
        unpaid = unpaid or [0] * len(paid)
        orders = []
        for offset, (n_paid, n_unpaid) in enumerate(zip(paid, unpaid, strict=True)):
            day = DAY - dt.timedelta(days=len(paid) - 1 - offset)
            # 23:30 local is the next day in UTC: the series must still land on ``day``.
            placed = local(day.year, day.month, day.day, 23, 30)
            for i in range(n_paid + n_unpaid):
                orders.append(Order(
                    number=f"SP{next(_numbers):010d}", channel=channel, ship_province=province,
                    placed_at=placed, paid_at=placed if i < n_paid else None,
                    status="paid" if i < n_paid else "pending_payment", total=Decimal("59.00"),
                ))
        Order.objects.bulk_create(orders)
        OrderLine.objects.bulk_create(
            [OrderLine(order=o, sku_code=sku, name="爆款", quantity=1, unit_price="59.00")
             for o in orders]
            + [OrderLine(order=o, sku_code="GIFT-1", name="赠品", quantity=1, unit_price="0",
                         is_gift=True) for o in orders]
        )

    return build


@pytest.fixture
def rule(db):
    return SpikeRule.objects.get(name="default")


def test_default_rule_is_seeded(rule):
    assert (rule.growth_percent, rule.consecutive_days, rule.min_payment_success_percent) == (
        Decimal("50"), 3, Decimal("92"))


def test_fires_after_three_days_of_50_percent_growth(series, rule):
    series([20, 30, 45, 68])  # +50%, +50%, +51.1%

    # Exactly one match: GIFT-1 follows the same series but gifts are not demand.
    [match] = spike_rule_matches(rule=rule, day=DAY)

    assert (match["sku_code"], match["province"]) == ("SKU-HOT", "浙江省")
    assert [step["growth"] for step in match["series"]] == ["50.00", "50.00", "51.11"]
    assert match["payment_success_percent"] == Decimal("100.00")


def test_growth_from_nothing_counts_once_the_day_has_enough_orders(series, rule):
    series([0, 20, 30, 45])  # a SKU new in the region: 0 → 20 is growth
    assert len(spike_rule_matches(rule=rule, day=DAY)) == 1
    rule.min_orders = 21
    rule.save()
    assert spike_rule_matches(rule=rule, day=DAY) == []


def test_does_not_fire_at_49_percent(series, rule):
    rule.consecutive_days = 1
    rule.save()
    series([100, 149])
    assert spike_rule_matches(rule=rule, day=DAY) == []


def test_fires_at_exactly_50_percent(series, rule):
    rule.consecutive_days = 1
    rule.save()
    series([100, 150])
    assert len(spike_rule_matches(rule=rule, day=DAY)) == 1


def test_two_growth_days_are_not_three(series, rule):
    series([20, 30, 45, 60])  # the last day is only +33%
    assert spike_rule_matches(rule=rule, day=DAY) == []


@pytest.mark.parametrize(("unpaid", "fires"), [(11, True), (13, False)])
def test_respects_payment_success(series, rule, unpaid, fires):
    # 143 paid of 154 placed = 92.86% (fires); of 156 = 91.67% (does not).
    series([20, 30, 45, 68], unpaid=[0, 0, 0, unpaid])
    assert bool(spike_rule_matches(rule=rule, day=DAY)) is fires


def test_regions_are_separate(series, rule):
    series([20, 30, 45, 68], province="浙江省")
    series([20, 25, 30, 35], province="广东省")
    assert [m["province"] for m in spike_rule_matches(rule=rule, day=DAY)] == ["浙江省"]


def test_evaluate_raises_one_alert_once_and_sends_the_hook(
    series, rule, django_capture_on_commit_callbacks
):
    series([20, 30, 45, 68])
    received = []

    def receiver(sender, alert, actor, **kwargs):
        received.append((alert.sku_code, actor))

    spike_alert_raised.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = spike_rules_evaluate(actor="system:test", day=DAY)
        with django_capture_on_commit_callbacks(execute=True):
            second = spike_rules_evaluate(actor="system:test", day=DAY)
    finally:
        spike_alert_raised.disconnect(receiver)

    assert [a.sku_code for a in first] == ["SKU-HOT"] and second == []
    assert SpikeAlert.objects.count() == 1
    assert received == [("SKU-HOT", "system:test")]
    alert = SpikeAlert.objects.get()
    assert (alert.day, alert.province, alert.series[-1]["orders"]) == (DAY, "浙江省", 68)


def test_disabled_rule_does_nothing(series, rule):
    series([20, 30, 45, 68])
    rule.enabled = False
    rule.save()
    assert spike_rules_evaluate(actor="system:test", day=DAY) == []


def test_task_checks_yesterday(series, rule, monkeypatch):
    series([20, 30, 45, 68])
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: DAY + dt.timedelta(days=1))
    assert check_spikes() == 1


def test_a_raised_spike_reaches_the_team_alert(series, rule, django_capture_on_commit_callbacks,
                                               monkeypatch):
    # given notifications' own receiver, watched where it sends the team alert
    from fulfillment.notifications import receivers

    sent = []
    monkeypatch.setattr(receivers, "team_alert", lambda **kwargs: sent.append(kwargs))
    series([20, 30, 45, 68])
    # when reporting raises the alert
    with django_capture_on_commit_callbacks(execute=True):
        spike_rules_evaluate(actor="system:test", day=DAY)
    # then the signal reporting sends is the one notifications listens to
    assert [kwargs["context"]["sku_code"] for kwargs in sent] == ["SKU-HOT"]
