"""Tracking: push callback, polling, replays, stall detection, delivery and completion."""

import datetime as dt
import json

import httpx
import pytest
import respx
from django.utils import timezone
from freezegun import freeze_time

from fulfillment import signals
from fulfillment.shipping import services
from fulfillment.shipping.carriers.kuaidi100 import callback_sign
from fulfillment.shipping.models import TrackingEvent, Waybill
from orderhub.models import Order
from tests.shipping.conftest import K100_URL, load

CALLBACK = "/shipping/kuaidi100/callback/zto/"


@pytest.fixture
def shipped(make_order, k100_account):
    """A shipped order whose Kuaidi100 (ZTO) waybill is booked."""
    order = make_order("picked", carrier="zto", ship_phone="13912345678")
    waybill = Waybill.objects.get(order=order)
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", tracking_number="V030344422",
                                                 booked_at=timezone.now())
    Order.objects.filter(pk=order.pk).update(tracking_number="V030344422", carrier="zto")
    from orderhub.services.orders import order_transition

    order = order_transition(order=order.pk, name="ship", actor="system:test")
    return order, Waybill.objects.get(pk=waybill.pk)


def push_form(result: dict, salt="SALT-abc", status="polling"):
    param = json.dumps({"status": status, "billstatus": "got", "message": "",
                        "lastResult": result}, ensure_ascii=False)
    return {"param": param, "sign": callback_sign(param, salt)}


def delivered_result():
    result = load("kuaidi100_query_response_example.json")
    result["state"] = "3"
    result["ischeck"] = "1"
    result["data"].insert(0, {"context": "已签收，签收人：本人", "time": "2012-08-29 10:00:00",
                              "ftime": "2012-08-29 10:00:00", "status": "签收"})
    return result


@pytest.fixture
def stalled_log():
    sent = []
    signals.parcel_stalled.connect(lambda sender, **kw: sent.append(kw),
                                   dispatch_uid="test-stalled", weak=False)
    yield sent
    signals.parcel_stalled.disconnect(dispatch_uid="test-stalled")


def test_push_with_a_good_signature_stores_events(shipped, client):
    _order, waybill = shipped
    response = client.post(CALLBACK, push_form(load("kuaidi100_query_response_example.json")))
    assert response.status_code == 200
    assert response.json()["result"] is True and response.json()["returnCode"] == "200"
    events = list(waybill.events.order_by("occurred_at"))
    assert [e.description for e in events] == ["上海分拨中心/下车扫描", "上海分拨中心/装件入车扫描"]
    assert events[0].raw["time"] == "2012-08-27 23:22:42"
    waybill.refresh_from_db()
    assert waybill.first_event_at == events[0].occurred_at
    assert waybill.last_event_at == events[1].occurred_at
    assert waybill.milestone == "in_transit"


@pytest.mark.parametrize("tamper", ["sign", "param", "salt", "missing"])
def test_push_with_a_bad_signature_is_refused_and_stores_nothing(shipped, client, tamper):
    form = push_form(load("kuaidi100_query_response_example.json"),
                     salt="wrong" if tamper == "salt" else "SALT-abc")
    if tamper == "sign":
        form["sign"] = "0" * 32
    elif tamper == "param":
        form["param"] = form["param"].replace("下车扫描", "已签收")
    elif tamper == "missing":
        del form["sign"]
    response = client.post(CALLBACK, form)
    assert response.status_code == 403
    assert not TrackingEvent.objects.exists()
    assert Waybill.objects.get().last_event_at is None


def test_push_for_an_unknown_account_is_404(shipped, client):
    assert client.post("/shipping/kuaidi100/callback/nope/", {"param": "{}", "sign": "x"}
                       ).status_code == 404


def test_replayed_events_are_not_duplicated(shipped, client):
    _order, waybill = shipped
    form = push_form(load("kuaidi100_query_response_example.json"))
    for _ in range(3):
        assert client.post(CALLBACK, form).status_code == 200
    assert waybill.events.count() == 2
    # The same events by polling do not duplicate either.
    assert services.tracking_record(waybill=waybill, events=services.get_adapter(
        waybill.account).parse_callback(form=form)[1]) == 0


def test_delivered_event_delivers_the_order_then_completes_after_n_days(shipped, client,
                                                                         settings):
    order, waybill = shipped
    settings.ORDER_COMPLETE_AFTER_DAYS = 3
    assert client.post(CALLBACK, push_form(delivered_result())).status_code == 200

    order = Order.objects.get(pk=order.pk)
    waybill.refresh_from_db()
    assert order.status == "delivered"
    assert waybill.milestone == "delivered"
    # The carrier's time (China time, stored as UTC), not the time we heard of it.
    assert order.delivered_at == dt.datetime(2012, 8, 29, 2, 0, tzinfo=dt.UTC)
    assert waybill.delivered_at == order.delivered_at

    with freeze_time(order.delivered_at + dt.timedelta(days=2, hours=23)):
        assert services.complete_delivered() == 0
    with freeze_time(order.delivered_at + dt.timedelta(days=3, minutes=1)):
        assert services.complete_delivered() == 1
    assert Order.objects.get(pk=order.pk).status == "completed"


@respx.mock
def test_polling_stores_events_and_a_chunked_beat_task(shipped):
    from unittest import mock

    from fulfillment.shipping import tasks

    _order, waybill = shipped
    route = respx.post(f"{K100_URL}/poll/query.do").mock(
        return_value=httpx.Response(200, json=load("kuaidi100_query_response_example.json")))
    with mock.patch.object(tasks.poll_waybills, "delay") as delay:
        assert tasks.poll_tracking() == 1
    delay.assert_called_once_with([waybill.pk])
    assert tasks.poll_waybills([waybill.pk]) == 2
    assert route.call_count == 1
    waybill.refresh_from_db()
    assert waybill.last_polled_at is not None
    # Polled just now: not due again until TRACKING_POLL_HOURS passed.
    assert services.waybills_to_poll() == []


@respx.mock
def test_a_polling_error_does_not_stop_the_chunk(shipped, make_order):
    from fulfillment.shipping import tasks

    _order, waybill = shipped
    respx.post(f"{K100_URL}/poll/query.do").mock(side_effect=httpx.ConnectError("down"))
    assert tasks.poll_waybills([waybill.pk, waybill.pk]) == 0


def test_stall_detection_with_frozen_time(shipped, settings, stalled_log,
                                          django_capture_on_commit_callbacks):
    _order, waybill = shipped
    settings.TRACKING_STALL_HOURS = 24
    start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    Waybill.objects.filter(pk=waybill.pk).update(booked_at=start, last_event_at=start)

    with freeze_time(start + dt.timedelta(hours=23, minutes=59)):
        assert services.flag_stalled() == []
    with freeze_time(start + dt.timedelta(hours=24, minutes=1)), \
            django_capture_on_commit_callbacks(execute=True):
        assert services.flag_stalled() == [waybill.pk]
        # Flagged once, not every hour.
        assert services.flag_stalled() == []
    waybill.refresh_from_db()
    assert waybill.stalled_at == start + dt.timedelta(hours=24, minutes=1)
    assert stalled_log == [{"order_id": waybill.order_id, "waybill_id": waybill.pk,
                            "carrier": "zto", "tracking_number": "V030344422",
                            "last_event_at": start, "signal": signals.parcel_stalled}]

    # A new event clears the flag.
    from fulfillment.shipping.carriers import TrackEvent

    services.tracking_record(waybill=waybill, events=[TrackEvent(
        occurred_at=start + dt.timedelta(hours=30), description="到达北京",
        milestone="in_transit")])
    waybill.refresh_from_db()
    assert waybill.stalled_at is None


def test_a_parcel_without_any_event_stalls_from_its_booking(shipped, settings):
    _order, waybill = shipped
    settings.TRACKING_STALL_HOURS = 6
    start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    Waybill.objects.filter(pk=waybill.pk).update(booked_at=start)
    with freeze_time(start + dt.timedelta(hours=5)):
        assert services.flag_stalled() == []
    with freeze_time(start + dt.timedelta(hours=7)):
        assert services.flag_stalled() == [waybill.pk]
