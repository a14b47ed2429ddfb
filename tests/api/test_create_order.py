"""POST /api/v1/orders end to end: validated like manual entry, written by the order
services as the integration user, paid orders queue automation; Idempotency-Key
answers a repeat with the first result and creates nothing twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.models import IdempotencyRecord
from fulfillment import receivers
from orderhub.models import Order, OrderEvent, OrderTransitionLog
from tests.api.conftest import assert_error
from warehouse.models import SKU


@pytest.fixture
def catalogue(db):
    SKU.objects.create(code="TEA-01", name="Longjing tea 250g", attributes={"price": "88.00"})
    SKU.objects.create(code="CUP-02", name="Celadon cup")


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(receivers, "enqueue", lambda name, ids: calls.append((name, ids)))
    return calls


def body(**extra):
    data = {
        "channel": "shop", "kind": "b2b", "external_id": "CRM-1001",
        "buyer_name": "王芳", "buyer_phone": "13800138000",
        "ship_province": "浙江省", "ship_city": "杭州市", "ship_street": "西湖区文三路 1 号",
        "shipping_fee": "10.00", "paid": True,
        "lines": [{"sku": "TEA-01", "quantity": 2},
                  {"sku": "CUP-02", "quantity": 1, "unit_price": "30.50"}],
    }
    data.update(extra)
    return data


def test_create_a_paid_order_end_to_end(api_as, make_token, channel, catalogue, queued,
                                        django_capture_on_commit_callbacks):
    token, raw = make_token("manager", "write")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(raw).post("/orders", body())
    assert response.status_code == 201, response.content
    order = Order.objects.get()
    out = response.json()
    assert out["number"] == order.number and out["status"] == "paid"
    assert out["channel"] == "shop" and out["external_id"] == "CRM-1001"
    assert [(ln["sku_code"], ln["quantity"], ln["unit_price"]) for ln in out["lines"]] == [
        ("TEA-01", 2, "88.00"), ("CUP-02", 1, "30.50")]
    assert order.total == Decimal("216.50") and order.kind == "b2b"
    assert order.buyer_phone == "+8613800138000"
    log = OrderTransitionLog.objects.get(order=order)
    assert (log.transition, log.actor_user) == ("pay", token.user)
    assert OrderEvent.objects.get(order=order, kind="created").actor == token.user.username
    # The same automation as any paid order.
    assert queued == [("fulfillment.tasks.automate_orders", [order.pk])]


def test_idempotency_key_returns_the_first_result(api_as, make_token, channel, catalogue,
                                                  queued):
    _token, raw = make_token("manager", "write")
    api = api_as(raw)
    headers = {"Idempotency-Key": "crm-order-1001"}
    first = api.post("/orders", body(), headers=headers)
    second = api.post("/orders", body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    # The same key for another request is a client bug.
    assert_error(api.post("/orders", body(external_id="CRM-1002"), headers=headers), 422,
                 "idempotency_key_reused")
    assert Order.objects.count() == 1


def test_a_failed_write_leaves_no_record_and_can_be_retried(api_as, make_token, channel,
                                                           catalogue, queued):
    _token, raw = make_token("manager", "write")
    api = api_as(raw)
    headers = {"Idempotency-Key": "retry-me"}
    bad = body(lines=[{"sku": "NOPE", "quantity": 1}])
    assert_error(api.post("/orders", bad, headers=headers), 422, "invalid")
    assert not IdempotencyRecord.objects.exists()
    assert api.post("/orders", bad, headers=headers).status_code == 422


@pytest.mark.parametrize("change, field", [
    ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines.0.sku"),
    ({"lines": [{"sku": "CUP-02", "quantity": 1}]}, "lines.0.unit_price"),  # no price
    ({"lines": [{"sku": "TEA-01", "quantity": "2"}]}, "lines.0.quantity"),  # wrong type
    ({"lines": []}, "lines"),
    ({"buyer_phone": "12"}, "buyer_phone"),
    ({"channel": "nope"}, "channel"),
    ({"surprise": 1}, "surprise"),
    ({"paid": "yes"}, "paid"),
])
def test_invalid_orders_are_422_and_create_nothing(api_as, make_token, channel, catalogue,
                                                   queued, change, field):
    _token, raw = make_token("manager", "write")
    error = assert_error(api_as(raw).post("/orders", body(**change)), 422, "invalid")
    assert field in [f["field"] for f in error["fields"]], error
    assert Order.objects.count() == 0 and queued == []


def test_duplicate_external_id_is_409(api_as, make_token, channel, catalogue, queued):
    _token, raw = make_token("manager", "write")
    api = api_as(raw)
    assert api.post("/orders", body()).status_code == 201
    assert_error(api.post("/orders", body()), 409, "duplicate_order")
    assert Order.objects.count() == 1


def test_ops_cannot_mark_paid_or_change_a_price(api_as, make_token, channel, catalogue, queued):
    _token, raw = make_token("ops", "write")
    api = api_as(raw)
    assert_error(api.post("/orders", body()), 403, "forbidden")
    error = assert_error(api.post("/orders", body(
        paid=False, lines=[{"sku": "TEA-01", "quantity": 1, "unit_price": "1.00"}])), 422)
    assert error["fields"][0]["field"] == "lines.0.unit_price"
    response = api.post("/orders", body(paid=False))
    assert response.status_code == 201 and response.json()["status"] == "pending_payment"
    assert queued == []
