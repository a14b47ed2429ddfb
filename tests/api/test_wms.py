"""The WMS outbound callback: the order moves to picked/shipped through the WMS's own
service path (actor = the token's integration user, a log row per step), the callback
is kept as received and shows on the order page; replays and wrong states change nothing."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from api.models import WmsCallback
from orderhub.models import Order, OrderEvent, OrderTransitionLog
from tests.api.conftest import assert_error


def payload(order, **extra):
    data = {"order_number": order.number, "operator": "张师傅",
            "occurred_at": "2026-12-05T10:30:00+08:00", "package_count": 2,
            "weight_kg": "3.250", "photo_url": "https://wms.example/photos/1.jpg",
            "tracking_number": "SF1234567890", "carrier": "SF"}
    data.update(extra)
    return data


@pytest.fixture
def wms(make_token):
    # A WMS integration needs pick_order and ship_order: the manager role has both.
    return make_token("manager", "write", name="Jushuitan WMS", system="wms")


def test_callback_ships_a_ready_order(api_as, wms, make_order):
    token, raw = wms
    order = make_order("ready_to_pick")
    body = payload(order)
    response = api_as(raw).post("/wms/outbound", body)
    assert response.status_code == 201, response.content
    order.refresh_from_db()
    assert order.status == "shipped" and order.tracking_number == "SF1234567890"
    logs = list(OrderTransitionLog.objects.filter(order=order, actor_user=token.user)
                .values_list("transition", flat=True))
    assert logs == ["claim", "finish", "ship"]
    callback = WmsCallback.objects.get()
    assert json.loads(callback.raw) == body  # kept as received
    assert (callback.from_status, callback.to_status) == ("ready_to_pick", "shipped")
    assert callback.source_system == "WMS: Jushuitan WMS" and callback.operator == "张师傅"
    event = OrderEvent.objects.get(order=order, kind="wms_outbound")
    assert event.actor == token.user.username and "张师傅" in event.message
    assert response.json()["to_status"] == "shipped"


def test_picked_event_stops_at_picked(api_as, wms, make_order):
    _token, raw = wms
    order = make_order("picking")
    response = api_as(raw).post("/wms/outbound", payload(order, event="picked"))
    assert response.status_code == 201
    order.refresh_from_db()
    assert order.status == "picked"


def test_callback_is_idempotent(api_as, wms, make_order):
    _token, raw = wms
    order = make_order("picked")
    api = api_as(raw)
    headers = {"Idempotency-Key": "wms-evt-77"}
    first = api.post("/wms/outbound", payload(order), headers=headers)
    again = api.post("/wms/outbound", payload(order), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert WmsCallback.objects.count() == 1
    assert OrderTransitionLog.objects.filter(order=order, transition="ship").count() == 1


def test_a_replayed_callback_without_a_key_changes_nothing(api_as, wms, make_order):
    _token, raw = wms
    order = make_order("picked")
    api = api_as(raw)
    assert api.post("/wms/outbound", payload(order)).status_code == 201
    logs = OrderTransitionLog.objects.count()
    assert_error(api.post("/wms/outbound", payload(order)), 409, "callback_replayed")
    assert WmsCallback.objects.count() == 1 and OrderTransitionLog.objects.count() == logs


@pytest.mark.parametrize("status", ["pending_payment", "paid", "on_hold", "shipped",
                                    "cancelled"])
def test_wrong_state_is_409_and_changes_nothing(api_as, wms, make_order, status):
    _token, raw = wms
    order = make_order(status)
    logs = OrderTransitionLog.objects.filter(order=order).count()
    assert_error(api_as(raw).post("/wms/outbound", payload(order)), 409, "wrong_state")
    order.refresh_from_db()
    assert order.status == status
    assert not WmsCallback.objects.exists()
    assert OrderTransitionLog.objects.filter(order=order).count() == logs
    assert not OrderEvent.objects.filter(kind="wms_outbound").exists()


@pytest.mark.parametrize("change, field", [
    ({"package_count": 0}, "package_count"),
    ({"package_count": "2"}, "package_count"),
    ({"occurred_at": "2026-12-05T10:30:00"}, "occurred_at"),  # no time zone
    ({"photo_url": "javascript:alert(1)"}, "photo_url"),
    ({"colour": "red"}, "colour"),
    ({"event": "lost"}, "event"),
])
def test_bad_callbacks_are_422(api_as, wms, make_order, change, field):
    _token, raw = wms
    order = make_order("picked")
    error = assert_error(api_as(raw).post("/wms/outbound", payload(order, **change)), 422)
    assert field in [f["field"] for f in error["fields"]]
    order.refresh_from_db()
    assert order.status == "picked" and not WmsCallback.objects.exists()


def test_unknown_order_is_404(api_as, wms):
    _token, raw = wms
    response = api_as(raw).post("/wms/outbound", payload(Order(number="OH404")))
    assert_error(response, 404, "not_found")


def test_an_integration_user_without_ship_rights_is_refused(api_as, make_token, make_order):
    _token, raw = make_token("ops", "write")  # ops may not ship
    order = make_order("picked")
    assert_error(api_as(raw).post("/wms/outbound", payload(order)), 403)
    order.refresh_from_db()
    assert order.status == "picked" and not WmsCallback.objects.exists()


def test_the_order_page_shows_the_callback_and_its_source(client, api_as, wms, make_order,
                                                          make_user):
    _token, raw = wms
    order = make_order("picked")
    api_as(raw).post("/wms/outbound", payload(order))
    client.force_login(make_user("ops"))
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'id="wms-panel"' in page
    assert "WMS: Jushuitan WMS" in page and "张师傅" in page
    assert "WMS outbound callback" in page  # the timeline's event label


def test_an_open_hub_pick_task_is_closed_when_the_wms_picked(api_as, wms, make_order,
                                                            make_user, warehouse):
    from warehouse.models import PickTask

    _token, raw = wms
    order = make_order("picking")
    task = PickTask.objects.create(order=order, warehouse=warehouse, picker=make_user("picker"))
    assert api_as(raw).post("/wms/outbound", payload(order)).status_code == 201
    task.refresh_from_db()
    assert task.status == PickTask.Status.DONE and task.finished_at is not None
