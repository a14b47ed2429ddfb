"""Shipping changes the order only through the order services: one version per step."""

import datetime as dt

import pytest
from django.utils import timezone

from fulfillment.shipping import services
from fulfillment.shipping.models import Waybill
from orderhub.models import Order


def test_booking_ships_with_carrier_and_tracking_in_the_transitions_own_version(
        picked, k100_account, no_delay, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    order, waybill = picked()
    Waybill.objects.filter(pk=waybill.pk).update(account=k100_account, status="booked",
                                                 tracking_number="ZT7001234567")
    before = Order.history.filter(id=order.pk).count()

    assert services.waybill_complete(waybill_id=waybill.pk) == "shipped"

    # one new version, not a "picked with a tracking number" one before the transition
    assert Order.history.filter(id=order.pk).count() == before + 1
    latest = Order.history.filter(id=order.pk).order_by("-history_id").first()
    assert (latest.status, latest.tracking_number, latest.carrier_company) == (
        "shipped", "ZT7001234567", "ZTO")


def test_a_typed_in_number_is_one_version_and_the_persons_event(
        make_order, manual_account, make_user, no_delay):
    from orderhub.models import OrderEvent, OrderTransitionLog

    order = make_order("picked", carrier="manual")
    manager = make_user("manager")
    before = Order.history.filter(id=order.pk).count()

    services.waybill_enter_tracking(order=order, tracking_number="yt1234567890", actor=manager)

    assert Order.history.filter(id=order.pk).count() == before + 1
    log = OrderTransitionLog.objects.filter(order=order, transition="ship").get()
    assert log.actor_user == manager and "YT1234567890" in log.reason
    event = OrderEvent.objects.get(order=order, kind="waybill_booked")
    assert event.actor_user == manager


def test_a_person_without_the_right_to_ship_cannot_type_a_number_in(
        make_order, manual_account, make_user, no_delay):
    order = make_order("picked", carrier="manual")
    with pytest.raises(services.ShippingError):
        services.waybill_enter_tracking(order=order, tracking_number="YT1234567890",
                                        actor=make_user("ops"))
    assert Order.objects.get(pk=order.pk).status == "picked"


def test_delivery_sets_the_carriers_time_in_the_deliver_version(picked, no_delay):
    from fulfillment.shipping.tracking import _deliver_order

    order, waybill = picked()
    delivered = timezone.now() - dt.timedelta(hours=5)
    Order.objects.filter(pk=order.pk).update(status="shipped", tracking_number="SF1")
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", tracking_number="SF1",
                                                 delivered_at=delivered)
    _deliver_order(Waybill.objects.get(pk=waybill.pk))
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.delivered_at) == ("delivered", delivered)
    latest = Order.history.filter(id=order.pk).order_by("-history_id").first()
    assert (latest.status, latest.delivered_at) == ("delivered", delivered)
