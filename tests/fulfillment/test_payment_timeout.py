"""Unpaid orders are cancelled after their channel's payment timeout; stock comes back."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from channels.models import Channel
from fulfillment import tasks
from fulfillment.services.payments import channel_timeout_minutes, orders_cancel_unpaid
from orderhub.models import Order, OrderStatus
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    reserved,
    stock,
    stocked,
)
from warehouse.models import StockLevel
from warehouse.services.stock import stock_reserve

S = OrderStatus
T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("config", "expected"), [
    ({}, 1440), ({"payment_timeout_minutes": 30}, 30), ({"payment_timeout_minutes": "45"}, 45),
    ({"payment_timeout_minutes": "soon"}, 1440), ({"payment_timeout_minutes": -5}, 1440),
    ({"payment_timeout_minutes": 0}, None), (None, 1440),
])
def test_channel_setting(config, expected):
    assert channel_timeout_minutes(config) == expected


def test_default_comes_from_settings(settings):
    settings.PAYMENT_TIMEOUT_MINUTES = 60
    assert channel_timeout_minutes({}) == 60


def test_unpaid_order_cancelled_after_timeout_and_stock_released(make_order, channel, stocked):
    channel.config = {"payment_timeout_minutes": 30}
    channel.save()
    with freeze_time(T0):
        order = make_order(S.PENDING_PAYMENT)
        stock_reserve(order=order, warehouse=stocked, actor="system:test")  # a presale hold
        paid = make_order(S.PAID)
    with freeze_time(T0 + dt.timedelta(minutes=29)):
        assert orders_cancel_unpaid() == []
    assert Order.objects.get(pk=order.pk).status == S.PENDING_PAYMENT
    with freeze_time(T0 + dt.timedelta(minutes=31)):
        assert tasks.cancel_unpaid_orders() == 1
    order.refresh_from_db()
    assert order.status == S.CANCELLED
    assert order.cancel_reason == "Not paid within 30 minutes."
    assert order.transition_logs.last().actor == "system:payment-timeout"
    assert reserved(order) == []
    assert StockLevel.objects.get(warehouse=stocked, sku__code="SKU-1").reserved == 0
    assert Order.objects.get(pk=paid.pk).status == S.PAID
    # running again finds nothing
    with freeze_time(T0 + dt.timedelta(minutes=40)):
        assert orders_cancel_unpaid() == []


def test_each_channel_has_its_own_timeout(make_order, channel, settings):
    settings.PAYMENT_TIMEOUT_MINUTES = 120
    slow = Channel.objects.create(code="b2b", name="B2B", platform="manual",
                                  config={"payment_timeout_minutes": 0})
    with freeze_time(T0):
        default = make_order(S.PENDING_PAYMENT)
        never = make_order(S.PENDING_PAYMENT, channel=slow)
    with freeze_time(T0 + dt.timedelta(minutes=119)):
        assert orders_cancel_unpaid() == []
    with freeze_time(T0 + dt.timedelta(days=30)):
        assert orders_cancel_unpaid() == [default.pk]
    assert Order.objects.get(pk=never.pk).status == S.PENDING_PAYMENT


def test_limit_bounds_one_run(make_order):
    with freeze_time(T0):
        orders = [make_order(S.PENDING_PAYMENT) for _ in range(3)]
    with freeze_time(T0 + dt.timedelta(days=2)):
        assert orders_cancel_unpaid(limit=2) == [orders[0].pk, orders[1].pk]
        assert orders_cancel_unpaid(limit=2) == [orders[2].pk]
