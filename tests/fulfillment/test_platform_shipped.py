"""Automation leaves alone what the platform shipped, and plans only what is left to ship."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

import datetime as dt

import pytest

from fulfillment import receivers, tasks
from fulfillment.models import OrderDecision
from fulfillment.services.automation import order_automate, orders_automate
from orderhub.models import Order, OrderLine, OrderStatus
from orderhub.services.orders import order_transition
from orderhub.signals import StatusChange
from tests.fulfillment.test_automation_pipeline import reserved, stock, stocked  # noqa: F401
from warehouse.models import Reservation

S = OrderStatus
pytestmark = pytest.mark.django_db

CUPS = [{"sku_code": "SKU-1", "name": "保温杯", "quantity": 3, "unit_price": "59.00"}]


@pytest.fixture
def queued(monkeypatch):
    """Order ids handed to ``automate_orders`` (the broker is not used in tests)."""
    calls = []
    monkeypatch.setattr(tasks.automate_orders, "delay", lambda ids: calls.append(list(ids)))
    return calls


def change(order_id, transition, from_status, to_status):
    return StatusChange(order_id, transition, from_status, to_status)


def test_batch_receiver_queues_only_orders_left_paid(queued):
    # given one batch: 1 paid, 2 paid then shipped by the platform, 3 paid then held,
    # 4 held then released back to paid
    changes = [
        change(1, "pay", S.PENDING_PAYMENT, S.PAID),
        change(2, "pay", S.PENDING_PAYMENT, S.PAID),
        change(3, "pay", S.PENDING_PAYMENT, S.PAID),
        change(2, "ship_on_platform", S.PAID, S.SHIPPED),
        change(3, "hold", S.PAID, S.ON_HOLD),
        change(4, "hold", S.PAID, S.ON_HOLD),
        change(4, "release", S.ON_HOLD, S.PAID),
    ]
    # when
    receivers.on_orders_status_changed(sender=Order, changes=changes, actor="system:test")
    # then
    assert queued == [[1, 4]]


def test_batch_of_only_platform_shipped_orders_queues_nothing(queued):
    changes = [change(7, "pay", S.PENDING_PAYMENT, S.PAID),
               change(7, "ship_on_platform", S.PAID, S.SHIPPED)]
    receivers.on_orders_status_changed(sender=Order, changes=changes, actor="system:test")
    assert queued == []


def test_automation_run_on_a_platform_shipped_order_does_nothing(make_order, stocked):
    # given an order paid and then shipped on the platform before automation ran
    order = make_order(S.PAID)
    order_transition(order=order.pk, name="ship_on_platform", actor="system:test")
    other = make_order(S.PAID)
    # when its (late) task runs, alone and in a batch
    alone = order_automate(order=order.pk)
    batch = orders_automate(order_ids=[order.pk, other.pk])
    single_task = tasks.automate_order.run(order.pk)
    batch_task = tasks.automate_orders.run([order.pk])
    # then it is skipped: no reservation, no decision, still shipped
    assert alone.result == "skipped" and batch[order.pk].result == "skipped"
    assert single_task == "skipped" and batch_task == {"skipped": 1}
    assert batch[other.pk].result == S.READY_TO_PICK
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert not Reservation.objects.filter(order=order).exists()
    assert not OrderDecision.objects.filter(order=order).exists()


def test_straggler_sweep_skips_platform_shipped_orders(make_order, queued):
    shipped, waiting = make_order(S.PAID), make_order(S.PAID)
    order_transition(order=shipped.pk, name="ship_on_platform", actor="system:test")
    old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    Order.objects.filter(pk__in=[shipped.pk, waiting.pk]).update(updated_at=old)
    assert tasks.automate_stragglers() == 1
    assert queued == [[waiting.pk]]


@pytest.mark.parametrize("batch", [False, True])
def test_automation_reserves_only_what_is_left_to_ship(make_order, warehouse, stock, batch):
    # given 2 cups on the shelf and orders of 3 cups, 1 of which the platform shipped
    stock(warehouse, "SKU-1", 4)
    orders = [make_order(S.PAID, lines=CUPS) for _ in range(2)]
    OrderLine.objects.filter(order__in=orders).update(shipped_quantity=1)
    # when automation runs them, one by one or as one batch
    if batch:
        results = orders_automate(order_ids=[o.pk for o in orders])
    else:
        results = {o.pk: order_automate(order=o) for o in orders}
    # then both fit: each reserves the 2 cups still to ship
    assert [results[o.pk].result for o in orders] == [S.READY_TO_PICK, S.READY_TO_PICK]
    assert [reserved(o) for o in orders] == [[("SKU-1", 2, warehouse.pk)]] * 2


@pytest.mark.parametrize("batch", [False, True])
def test_an_empty_kit_goes_to_review_on_both_paths(make_order, warehouse, stocked, batch):
    # issue 13: the batch path used to send it to ready_to_pick with nothing reserved
    from warehouse.models import SKU

    SKU.objects.create(code="KIT-EMPTY", name="空礼盒", kind=SKU.Kind.KIT)
    lines = [{"sku_code": "KIT-EMPTY", "name": "空", "quantity": 1, "unit_price": "9"}]
    orders = [make_order(S.PAID, lines=lines, warehouse=warehouse) for _ in range(2)]
    if batch:
        results = orders_automate(order_ids=[o.pk for o in orders])
    else:
        results = {o.pk: order_automate(order=o) for o in orders}
    assert {results[o.pk].result for o in orders} == {S.REVIEW}
    assert not Reservation.objects.filter(order__in=orders).exists()
