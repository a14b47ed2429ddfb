"""The booking outbox: waybill row with the finish transition, retries, shipping, cancel."""

import json

import httpx
import pytest
import respx
from django.db import transaction

from channels.recipient import NeedsPlatformDecryption
from fulfillment import signals
from fulfillment.shipping import booking, services
from fulfillment.shipping.models import Waybill
from orderhub.models import Order, OrderEvent
from orderhub.services.orders import order_transition
from tests.shipping.conftest import SF_SERVICE


def sf_booked(number="SF1400000000009"):
    inner = {"success": True, "errorCode": "S0000", "msgData": {
        "orderId": "x", "originCode": "021", "destCode": "010",
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": number}]}}
    return httpx.Response(200, json={"apiResultCode": "A1000",
                                     "apiResultData": json.dumps(inner)})


@pytest.fixture
def signal_log():
    sent = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    signals.waybill_failed.connect(receiver, dispatch_uid="test-waybill-failed")
    yield sent
    signals.waybill_failed.disconnect(dispatch_uid="test-waybill-failed")


def test_finish_writes_the_waybill_row_and_queues_booking_on_commit(
        make_order, sf_account, no_delay, django_capture_on_commit_callbacks):
    order = make_order("picking")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, name="finish", actor="system:test")
    waybill = Waybill.objects.get(order=order)
    assert (waybill.status, waybill.account, waybill.service) == ("pending", sf_account, "1")
    no_delay.book.assert_called_once_with(waybill.pk)


def test_a_rolled_back_finish_leaves_no_waybill(make_order, sf_account, no_delay):
    order = make_order("picking")
    with pytest.raises(RuntimeError), transaction.atomic():
        order_transition(order=order, name="finish", actor="system:test")
        raise RuntimeError("crash before commit")
    assert not Waybill.objects.exists()


def test_no_waybill_when_the_order_already_has_a_tracking_number(make_order, sf_account):
    order = make_order("picking", tracking_number="YT123456789")
    order_transition(order=order, name="finish", actor="system:test")
    assert not Waybill.objects.exists()


def test_routing_choice_and_decision_service_pick_the_account(make_order, sf_account,
                                                              k100_account):
    from fulfillment.models import OrderDecision

    order = make_order("picking", carrier="zto")
    OrderDecision.objects.create(order=order, result="ready_to_pick", carrier="zto",
                                 carrier_service="标准快递")
    order_transition(order=order, name="finish", actor="system:test")
    waybill = Waybill.objects.get(order=order)
    assert (waybill.account, waybill.service) == (k100_account, "标准快递")


@respx.mock
def test_failing_carrier_then_success_books_exactly_once_and_ships(picked, no_delay,
                                                                   signal_log, settings,
                                                                   tmp_path,
                                                                   django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    order, waybill = picked()
    route = respx.post(SF_SERVICE).mock(side_effect=[httpx.Response(502), sf_booked()])

    with django_capture_on_commit_callbacks(execute=True):
        assert services.waybill_book(waybill_id=waybill.pk) == "retry"
    waybill.refresh_from_db()
    assert waybill.status == "pending" and waybill.attempts == 1
    assert "502" in waybill.last_error
    assert signal_log[-1]["permanent"] is False
    assert Order.objects.get(pk=order.pk).status == "picked"

    with django_capture_on_commit_callbacks(execute=True):
        assert services.waybill_book(waybill_id=waybill.pk) == "booked"
    # A duplicate delivery of the task changes nothing and calls nobody.
    assert services.waybill_book(waybill_id=waybill.pk) == "booked"

    assert route.call_count == 2
    waybill.refresh_from_db()
    assert (waybill.status, waybill.tracking_number, waybill.attempts) == (
        "booked", "SF1400000000009", 2)
    assert [a.ok for a in waybill.attempt_rows.all()] == [False, True]
    assert waybill.label.name.endswith(".pdf")
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.carrier, order.tracking_number) == (
        "shipped", "sf", "SF1400000000009")
    assert order.transition_logs.last().actor == "system:shipping"
    assert Waybill.objects.filter(status="booked").count() == 1
    # The channels app's receiver queued the platform write-back with the number.
    from channels.models import ShipmentPush

    assert not ShipmentPush.objects.exists() or ShipmentPush.objects.get().tracking_number == (
        "SF1400000000009")


@respx.mock
def test_timeout_keeps_the_order_picked_with_the_reason_visible(picked, client, make_user):
    order, waybill = picked()
    respx.post(SF_SERVICE).mock(side_effect=httpx.ConnectTimeout("slow"))

    assert services.waybill_book(waybill_id=waybill.pk) == "retry"

    waybill.refresh_from_db()
    assert waybill.status == "pending" and "did not answer in time" in waybill.last_error
    assert waybill.next_attempt_at > waybill.created_at
    assert Order.objects.get(pk=order.pk).status == "picked"
    client.force_login(make_user("ops"))
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "did not answer in time" in page and "will retry" in page
    listing = client.get("/shipping/?status=failures").content.decode()
    assert order.number in listing and "did not answer in time" in listing


@respx.mock
def test_permanent_failure_after_bounded_retries_is_flagged_and_signalled(
        picked, signal_log, django_capture_on_commit_callbacks):
    order, waybill = picked()
    respx.post(SF_SERVICE).mock(return_value=httpx.Response(503))

    outcomes = []
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(services.MAX_ATTEMPTS + 2):
            outcomes.append(services.waybill_book(waybill_id=waybill.pk))

    assert outcomes[:services.MAX_ATTEMPTS] == ["retry"] * (services.MAX_ATTEMPTS - 1) + [
        "failed"]
    waybill.refresh_from_db()
    assert waybill.status == "failed" and waybill.attempts == services.MAX_ATTEMPTS
    assert waybill.attempt_rows.count() == services.MAX_ATTEMPTS
    assert signal_log[-1] == {"order_id": order.pk, "waybill_id": waybill.pk,
                              "error": waybill.last_error, "permanent": True,
                              "signal": signals.waybill_failed}
    assert OrderEvent.objects.filter(order=order, kind="waybill_failed").count() == 1
    assert Order.objects.get(pk=order.pk).status == "picked"


@respx.mock
def test_a_refusal_fails_at_once(picked, signal_log, django_capture_on_commit_callbacks):
    _order, waybill = picked()
    respx.post(SF_SERVICE).mock(return_value=httpx.Response(200, json={
        "apiResultCode": "A1006", "apiErrorMsg": "数字签名无效"}))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.waybill_book(waybill_id=waybill.pk) == "failed"
    assert signal_log[-1]["permanent"] is True


def test_encrypted_recipient_fails_with_a_clear_reason(picked, monkeypatch):
    order, waybill = picked()

    def encrypted(order):
        raise NeedsPlatformDecryption()

    monkeypatch.setattr(booking, "real_recipient", encrypted)
    assert services.waybill_book(waybill_id=waybill.pk) == "failed"
    waybill.refresh_from_db()
    assert waybill.status == "failed" and "decrypting" in waybill.last_error
    assert Order.objects.get(pk=order.pk).status == "picked"


def test_no_account_at_all_fails_with_a_clear_reason(make_order):
    order = make_order("picked")
    waybill = Waybill.objects.get(order=order)
    assert waybill.account is None
    assert services.waybill_book(waybill_id=waybill.pk) == "failed"
    waybill.refresh_from_db()
    assert "No carrier account" in waybill.last_error


@respx.mock
def test_retry_by_a_person_books_again(picked, make_user, client, no_delay, settings, tmp_path,
                                       django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    order, waybill = picked()
    respx.post(SF_SERVICE).mock(side_effect=[
        httpx.Response(200, json={"apiResultCode": "A1004", "apiErrorMsg": "无权限"}),
        sf_booked("SF1400000000077")])
    services.waybill_book(waybill_id=waybill.pk)
    picker, ops = make_user("picker"), make_user("ops")

    client.force_login(picker)
    assert client.post(f"/shipping/waybills/{waybill.pk}/retry/").status_code == 403
    client.force_login(ops)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/shipping/waybills/{waybill.pk}/retry/",
                               HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Booking queued again" in response.content.decode()
    no_delay.book.assert_called_with(waybill.pk)
    assert services.waybill_book(waybill_id=waybill.pk) == "booked"
    assert Order.objects.get(pk=order.pk).tracking_number == "SF1400000000077"


def test_a_held_order_is_not_booked_until_released(picked):
    order, waybill = picked()
    order_transition(order=order, name="hold", actor="system:test", reason="check address")
    assert services.waybill_book(waybill_id=waybill.pk) == "wait"
    waybill.refresh_from_db()
    assert waybill.status == "pending" and waybill.attempts == 0


@respx.mock
def test_intercept_cancels_the_booked_waybill_with_the_carrier(
        picked, no_delay, django_capture_on_commit_callbacks):
    order, waybill = picked()
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", tracking_number="SF1",
                                                 carrier_order_id="OH-REF")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, name="intercept", actor="system:test",
                         reason="buyer cancelled")
    waybill.refresh_from_db()
    assert waybill.status == "cancel_pending"
    no_delay.cancel.assert_called_once_with(waybill.pk)

    route = respx.post(SF_SERVICE).mock(side_effect=[
        httpx.Response(500),
        httpx.Response(200, json={"apiResultCode": "A1000", "apiResultData": json.dumps(
            {"success": True, "msgData": {"orderId": "OH-REF", "resStatus": 2}})})])
    assert services.waybill_cancel(waybill_id=waybill.pk) == "retry"
    assert services.waybill_cancel(waybill_id=waybill.pk) == "cancelled"
    assert services.waybill_cancel(waybill_id=waybill.pk) == "cancelled"
    assert route.call_count == 2
    body = route.calls.last.request.content.decode()
    assert "EXP_RECE_UPDATE_ORDER" in body
    waybill.refresh_from_db()
    assert waybill.status == "cancelled" and waybill.cancelled_at is not None
    assert [a.action for a in waybill.attempt_rows.all()] == ["cancel", "cancel"]


def test_intercept_before_booking_just_cancels_the_outbox_row(
        picked, no_delay, django_capture_on_commit_callbacks):
    order, waybill = picked()
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, name="intercept", actor="system:test", reason="x")
    waybill.refresh_from_db()
    assert waybill.status == "cancelled"
    no_delay.cancel.assert_not_called()
    assert services.waybill_book(waybill_id=waybill.pk) == "cancelled"


def test_sweeper_finds_lost_work(picked, sf_account):
    import datetime as dt

    from django.utils import timezone

    order, waybill = picked()
    later = timezone.now() + dt.timedelta(minutes=10)
    assert services.waybills_due(later)["book"] == [waybill.pk]
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", booked_at=timezone.now(),
                                                 tracking_number="SF9")
    assert services.waybills_due(later)["complete"] == [waybill.pk]


def test_manual_carrier_waits_for_a_typed_tracking_number(make_order, manual_account,
                                                          make_user, client, no_delay):
    manual_account.is_default = True
    manual_account.save()
    order = make_order("picked")
    waybill = Waybill.objects.get(order=order)
    assert waybill.status == "manual"
    no_delay.book.assert_not_called()

    url = f"/shipping/orders/{order.pk}/tracking/"
    # Only roles that may ship (orderhub.ship_order) get the form and may post it.
    client.force_login(make_user("ops"))
    assert 'name="tracking_number"' not in client.get(f"/orders/{order.pk}/").content.decode()
    assert client.post(url, {"tracking_number": "YT1234567890"}).status_code == 403
    client.force_login(make_user("manager"))
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'name="tracking_number"' in page
    client.post(url, {"tracking_number": "bad number!"})
    assert Order.objects.get(pk=order.pk).status == "picked"
    response = client.post(url, {"tracking_number": "yt1234567890"})
    assert response.status_code == 302
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.carrier, order.tracking_number) == (
        "shipped", "manual", "YT1234567890")
    waybill.refresh_from_db()
    assert waybill.status == "booked"
