import datetime as dt
from unittest import mock

import httpx
import pytest
import respx
from django.core import mail
from django.db import transaction

from channels.connectors import ConnectorError, PermanentError, ShipmentResult
from channels.models import GapAlert, ShipmentPush
from channels.pipeline import ingest_items
from channels.services import (
    SHIPMENT_PUSH_MAX_ATTEMPTS,
    gap_check,
    normalizer_for,
    shipment_push_deliver,
)
from orderhub.models import Order
from orderhub.services.orders import order_transition, order_update
from tests.channels.conftest import SHOP_API, shopify_cn_order


@pytest.fixture
def picked_order(mapped):
    ingest_items(channel=mapped, items=[shopify_cn_order()], source="poll",
                 normalizer=normalizer_for(mapped))
    order = Order.objects.get()
    # The waybill is booked before picking ends; carrier and tracking are on the order.
    order_update(order=order, actor="system:test",
                 changes={"carrier": "SF Express", "tracking_number": "SF1234567890"})
    for name in ("mark_ready", "claim", "finish"):
        order_transition(order=order, name=name, actor="system:test")
    return order


@pytest.fixture
def no_delay():
    with mock.patch("channels.tasks.deliver_shipment_push.delay") as delay:
        yield delay


def test_ship_writes_the_outbox_row_in_the_same_transaction(picked_order, no_delay,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get(order=picked_order)
    assert (push.carrier, push.tracking_number, push.status) == (
        "SF Express", "SF1234567890", "pending")
    no_delay.assert_called_once_with(push.pk)


def test_a_rolled_back_ship_leaves_no_outbox_row(picked_order, no_delay):
    with pytest.raises(RuntimeError), transaction.atomic():
        order_transition(order=picked_order, name="ship", actor="system:test")
        raise RuntimeError("crash before commit")
    assert not ShipmentPush.objects.exists()


@respx.mock
def test_delivery_through_the_real_connector(picked_order, no_delay):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    respx.get(f"{SHOP_API}/orders/9001/fulfillment_orders.json").mock(
        return_value=httpx.Response(200, json={"fulfillment_orders": [
            {"id": 5, "status": "open", "supported_actions": ["create_fulfillment"]}]}))
    create = respx.post(f"{SHOP_API}/fulfillments.json").mock(
        return_value=httpx.Response(201, json={"fulfillment": {"id": 1}}))

    assert shipment_push_deliver(push_id=push.pk) == "sent"
    assert b"SF1234567890" in create.calls.last.request.content
    push.refresh_from_db()
    assert push.status == "sent" and push.attempts == 1
    assert push.attempt_rows.get().ok
    # Running the task again does nothing more.
    assert shipment_push_deliver(push_id=push.pk) == "sent"
    assert create.call_count == 1


def test_bounded_retries_then_flagged_failure(picked_order, no_delay):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    connector = mock.Mock()
    connector.push_shipment.side_effect = ConnectorError("shopify: HTTP 503", status_code=503)
    outcomes = [shipment_push_deliver(push_id=push.pk, connector=connector)
                for _ in range(SHIPMENT_PUSH_MAX_ATTEMPTS)]
    assert outcomes == ["retry"] * (SHIPMENT_PUSH_MAX_ATTEMPTS - 1) + ["failed"]
    push.refresh_from_db()
    assert push.status == "failed"
    assert push.attempt_rows.count() == SHIPMENT_PUSH_MAX_ATTEMPTS
    assert picked_order.events.filter(kind="shipment_push_failed").exists()
    assert shipment_push_deliver(push_id=push.pk, connector=connector) == "failed"
    assert push.attempt_rows.count() == SHIPMENT_PUSH_MAX_ATTEMPTS


def test_permanent_refusal_fails_at_once_and_tells_someone(picked_order, no_delay,
                                                           django_capture_on_commit_callbacks):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    connector = mock.Mock()
    connector.push_shipment.side_effect = PermanentError("shopify: HTTP 422: bad tracking")
    with django_capture_on_commit_callbacks(execute=True):
        assert shipment_push_deliver(push_id=push.pk, connector=connector) == "failed"
    assert len(mail.outbox) == 1 and "bad tracking" in mail.outbox[0].body


def test_ok_result_records_attempt(picked_order, no_delay):
    order_transition(order=picked_order, name="ship", actor="system:test")
    connector = mock.Mock()
    connector.push_shipment.return_value = ShipmentResult(ok=True, status_code=201)
    push = ShipmentPush.objects.get()
    shipment_push_deliver(push_id=push.pk, connector=connector)
    kwargs = connector.push_shipment.call_args.kwargs
    assert kwargs["external_id"] == "9001" and kwargs["tracking_number"] == "SF1234567890"
    assert {ln["external_line_id"] for ln in kwargs["lines"]} == {"1", "2"}


def test_gap_check_raises_and_clears_an_alert(mapped):
    ingest_items(channel=mapped, items=[shopify_cn_order(1)], source="poll",
                 normalizer=normalizer_for(mapped))
    day = dt.date(2026, 11, 20)
    connector = mock.Mock()
    connector.count_orders.return_value = 3
    alert = gap_check(channel=mapped, day=day, connector=connector)
    assert (alert.platform_count, alert.hub_count, alert.missing) == (3, 1, 2)
    assert "2 possibly missing" in mail.outbox[0].body
    connector.count_orders.return_value = 1
    assert gap_check(channel=mapped, day=day, connector=connector) is None
    assert GapAlert.objects.get().resolved
