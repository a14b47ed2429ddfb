"""Presale deferred queue: presale orders enter picking at ship date − lead time, once."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from freezegun import freeze_time

from fulfillment import tasks as fulfillment_tasks
from fulfillment.services.automation import order_automate
from orderhub.celery import app as celery_app
from orderhub.models import Order, OrderEvent, OrderStatus
from warehouse import tasks as warehouse_tasks
from warehouse.models import SKU, PresaleDeferral, Reservation
from warehouse.services.presale import (
    PresaleError,
    orders_hold_presale,
    presale_release_due,
    presale_set_date,
    release_time,
)
from warehouse.services.stock import stock_adjust

S = OrderStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
# SKU-1 ships from 2026-12-10; with the default lead time of one day it is
# released at 2026-12-09 00:00 Shanghai = 2026-12-08 16:00 UTC.
SHIP = dt.date(2026, 12, 10)
RELEASE = dt.datetime(2026, 12, 8, 16, 0, tzinfo=UTC)


@pytest.fixture
def eager():
    old = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


@pytest.fixture
def presale_stock(warehouse):
    cup = SKU.objects.create(code="SKU-1", name="cup", presale_ship_date=SHIP)
    sleeve = SKU.objects.create(code="GIFT-1", name="sleeve")
    for sku in (cup, sleeve):
        stock_adjust(warehouse=warehouse, sku=sku, delta=20, actor="system:test",
                     reason="test", kind="receipt")
    return warehouse


@pytest.fixture
def presale_order(make_order, presale_stock):
    with freeze_time("2026-12-05 02:00:00"):
        return make_order(S.PAID, presale=True)


def events(order, kind):
    return list(OrderEvent.objects.filter(order=order, kind=kind))


def test_release_time_is_midnight_in_the_configured_zone(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    assert release_time(SHIP, 1) == RELEASE
    assert release_time(SHIP, 0) == dt.datetime(2026, 12, 10, 0, 0, tzinfo=SHANGHAI)


def test_presale_order_waits_in_the_deferred_queue(presale_order, presale_stock):
    # given a presale order whose SKU ships on the 10th
    # when automation meets it five days ahead
    with freeze_time("2026-12-05 03:00:00"):
        outcome = order_automate(order=presale_order)
        again = order_automate(order=presale_order)
    # then it stays paid, holds no stock, and waits with its release time
    presale_order.refresh_from_db()
    assert outcome.result == again.result == "deferred"
    assert presale_order.status == S.PAID
    assert not Reservation.objects.filter(order=presale_order).exists()
    deferral = PresaleDeferral.objects.get(order=presale_order)
    assert (deferral.ship_date, deferral.source) == (SHIP, PresaleDeferral.Source.SKU)
    assert deferral.release_at == RELEASE and deferral.released_at is None
    assert len(events(presale_order, "presale_deferred")) == 1


def test_release_timing_before_stays_at_time_released_exactly_once(
        presale_order, presale_stock, eager, django_capture_on_commit_callbacks):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)

    # before: one second early, nothing moves (the beat task runs every minute)
    with freeze_time(RELEASE - dt.timedelta(seconds=1)):
        with django_capture_on_commit_callbacks(execute=True):
            assert warehouse_tasks.release_presale_orders() == 0
    presale_order.refresh_from_db()
    assert presale_order.status == S.PAID
    assert PresaleDeferral.objects.get(order=presale_order).released_at is None

    # at the release time: released and allocated, ready to pick
    with freeze_time(RELEASE):
        with django_capture_on_commit_callbacks(execute=True):
            assert presale_release_due() == [presale_order.pk]
    presale_order.refresh_from_db()
    assert presale_order.status == S.READY_TO_PICK
    deferral = PresaleDeferral.objects.get(order=presale_order)
    assert deferral.released_at == RELEASE and deferral.released_by == "system:presale"

    # after: later sweeps release nothing again, one release event, one run of automation
    with freeze_time(RELEASE + dt.timedelta(hours=3)):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert presale_release_due() == []
            assert warehouse_tasks.release_presale_orders() == 0
    assert callbacks == []
    assert len(events(presale_order, "presale_released")) == 1
    assert presale_order.decision.runs == 1
    assert Reservation.objects.filter(order=presale_order, status="active").count() == 2


def test_an_order_due_but_not_yet_swept_is_left_to_the_sweep(presale_order):
    # Automation running after the release time, before the sweep: it must not
    # allocate around the queue (the sweep releases it once and queues it).
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
    with freeze_time(RELEASE + dt.timedelta(seconds=30)):
        assert order_automate(order=presale_order).result == "deferred"
    presale_order.refresh_from_db()
    assert presale_order.status == S.PAID


def test_straggler_sweep_leaves_waiting_presale_orders_alone(presale_order, make_order,
                                                             presale_stock, monkeypatch):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
        plain = make_order(S.PAID)
    queued = []
    monkeypatch.setattr(fulfillment_tasks.automate_orders, "delay", queued.append)
    with freeze_time("2026-12-05 04:00:00"):
        assert fulfillment_tasks.automate_stragglers() == 1
    assert queued == [[plain.pk]]
    # Released (its task lost): the straggler sweep picks it up again.
    PresaleDeferral.objects.filter(order=presale_order).update(released_at=RELEASE)
    Order.objects.filter(pk=presale_order.pk).update(
        updated_at=dt.datetime(2026, 12, 8, 15, 0, tzinfo=UTC))
    queued.clear()
    with freeze_time(RELEASE + dt.timedelta(minutes=10)):
        fulfillment_tasks.automate_stragglers()
    assert presale_order.pk in queued[0]


def test_warehouse_lead_time_wins_over_the_setting(make_order, presale_stock, settings):
    settings.PRESALE_LEAD_DAYS = 1
    presale_stock.presale_lead_days = 3
    presale_stock.save()
    with freeze_time("2026-12-05 03:00:00"):
        order = make_order(S.PAID, presale=True, warehouse=presale_stock)
        order_automate(order=order)
    assert PresaleDeferral.objects.get(order=order).release_at == dt.datetime(
        2026, 12, 7, 0, 0, tzinfo=SHANGHAI)


def test_setting_lead_time(make_order, presale_stock, settings):
    settings.PRESALE_LEAD_DAYS = 2
    with freeze_time("2026-12-05 03:00:00"):
        order = make_order(S.PAID, presale=True)
        order_automate(order=order)
    assert PresaleDeferral.objects.get(order=order).release_at == dt.datetime(
        2026, 12, 8, 0, 0, tzinfo=SHANGHAI)


def test_platform_ship_date_comes_first(make_order, presale_stock):
    with freeze_time("2026-12-05 03:00:00"):
        order = make_order(S.PAID, presale=True,
                           platform_data={"promised_ship_date": "2026-12-20"})
        order_automate(order=order)
    deferral = PresaleDeferral.objects.get(order=order)
    assert (deferral.ship_date, deferral.source) == (dt.date(2026, 12, 20), "platform")


def test_presale_without_a_ship_date_and_plain_orders_are_not_deferred(make_order,
                                                                       presale_stock):
    SKU.objects.filter(code="SKU-1").update(presale_ship_date=None)
    with freeze_time("2026-12-05 03:00:00"):
        presale = make_order(S.PAID, presale=True)
        assert order_automate(order=presale).result == S.READY_TO_PICK
    assert not PresaleDeferral.objects.exists()


def test_not_presale_orders_cost_no_query(make_order, presale_stock,
                                          django_assert_num_queries):
    order = make_order(S.PAID)
    with django_assert_num_queries(0):
        assert orders_hold_presale(orders=[order]) == set()


def test_ship_date_already_within_lead_time_goes_straight_on(make_order, presale_stock):
    with freeze_time("2026-12-09 08:00:00"):
        order = make_order(S.PAID, presale=True)
        assert order_automate(order=order).result == S.READY_TO_PICK
    assert not PresaleDeferral.objects.exists()


def test_manual_ship_date(presale_order, make_user, eager, django_capture_on_commit_callbacks):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
        ops = make_user("ops")
        deferral = presale_set_date(order=presale_order, ship_date="2026-12-24", actor=ops)
    assert (deferral.ship_date, deferral.source) == (dt.date(2026, 12, 24), "manual")
    assert deferral.release_at == dt.datetime(2026, 12, 23, 0, 0, tzinfo=SHANGHAI)
    # A date whose release time has passed releases the order at once.
    with freeze_time("2026-12-06 03:00:00"):
        with django_capture_on_commit_callbacks(execute=True):
            deferral = presale_set_date(order=presale_order, ship_date="2026-12-06", actor=ops)
    assert deferral.released_at is not None
    presale_order.refresh_from_db()
    assert presale_order.status == S.READY_TO_PICK
    with pytest.raises(PresaleError, match="not waiting"):
        presale_set_date(order=presale_order, ship_date="2026-12-30", actor=ops)


def test_manual_ship_date_refusals(presale_order, make_user):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
    with pytest.raises(PresaleError, match="YYYY-MM-DD"):
        presale_set_date(order=presale_order, ship_date="next week", actor="system:test")
    with pytest.raises(PresaleError, match="not allowed"):
        presale_set_date(order=presale_order, ship_date="2026-12-24",
                         actor=make_user("warehouse_manager"))


def test_presale_page_lists_waiting_orders_with_release_time(client, presale_order, make_user):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
    client.force_login(make_user("ops"))
    page = client.get(reverse("warehouse-presale")).content.decode()
    assert presale_order.number in page
    assert "2026-12-09 00:00" in page  # release time, shown in Shanghai time
    assert "2026-12-10" in page
    assert presale_order.number not in client.get(
        reverse("warehouse-presale") + "?tab=released").content.decode()


def test_presale_page_sets_the_date_and_refuses_pickers(client, presale_order, make_user):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
    deferral = PresaleDeferral.objects.get(order=presale_order)
    url = reverse("warehouse-presale-date", args=[deferral.pk])
    client.force_login(make_user("picker"))
    assert client.post(url, {"ship_date": "2026-12-24"}).status_code == 403
    client.force_login(make_user("warehouse_manager"))  # sees the page, sets no dates
    assert client.get(reverse("warehouse-presale")).status_code == 200
    assert client.post(url, {"ship_date": "2026-12-24"}).status_code == 403
    client.force_login(make_user("ops"))
    with freeze_time("2026-12-05 04:00:00"):
        response = client.post(url, {"ship_date": "2026-12-24"}, follow=True)
    assert response.status_code == 200
    deferral.refresh_from_db()
    assert deferral.ship_date == dt.date(2026, 12, 24)


def test_timeline_shows_deferred_and_released(client, presale_order, make_user, eager,
                                              django_capture_on_commit_callbacks):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
    with freeze_time(RELEASE), django_capture_on_commit_callbacks(execute=True):
        presale_release_due()
    client.force_login(make_user("ops"))
    page = client.get(reverse("orders:detail", args=[presale_order.pk])).content.decode()
    assert "Presale: deferred" in page
    assert "Presale: released to picking" in page


def test_release_task_is_on_the_beat_schedule():
    tasks = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert "warehouse.tasks.release_presale_orders" in tasks


def test_presale_page_and_timeline_in_chinese(client, presale_order, make_user):
    with freeze_time("2026-12-05 03:00:00"):
        order_automate(order=presale_order)
    client.force_login(make_user("ops"))
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("warehouse-presale"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "预售队列" in page.content.decode() and "承诺发货日期" in page.content.decode()
    detail = client.get(reverse("orders:detail", args=[presale_order.pk]),
                        HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "预售：已延迟" in detail
    assert "预售：在延迟队列中等待至 2026-12-09 00:00（2026-12-10 发货）" in detail
