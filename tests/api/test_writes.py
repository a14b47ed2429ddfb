"""Notes and change requests through the API go through the same services as the pages."""

from __future__ import annotations

from fulfillment.changes.models import ChangeRequest
from orderhub.models import OrderEvent
from tests.api.conftest import assert_error


def test_add_a_note(api_as, make_token, make_order):
    token, raw = make_token("ops", "write")
    order = make_order("paid")
    response = api_as(raw).post(f"/orders/{order.number}/notes", {"text": "Buyer called"})
    assert response.status_code == 201
    note = OrderEvent.objects.get(order=order, kind="note")
    assert note.message == "Buyer called" and note.actor_user == token.user
    assert response.json()["actor"] == token.user.username


def test_a_change_before_picking_is_applied(api_as, make_token, make_order):
    _token, raw = make_token("ops", "write")
    order = make_order("paid")
    response = api_as(raw).post(f"/orders/{order.number}/change-requests", {
        "reason": "CRM: buyer moved", "fields": {"ship_city": "苏州市"}})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "applied"
    order.refresh_from_db()
    assert order.ship_city == "苏州市"


def test_an_intercept_after_picking_waits_for_the_chain(api_as, make_token, make_order):
    _token, raw = make_token("ops", "write")
    order = make_order("picking")
    api = api_as(raw)
    response = api.post(f"/orders/{order.number}/change-requests", {
        "kind": "intercept", "reason": "CRM: buyer cancelled"})
    assert response.status_code == 201, response.content
    assert response.json()["needs_approval"] is True
    order.refresh_from_db()
    assert order.status == "on_hold"
    # One open request per order: a second one is a conflict.
    assert_error(api.post(f"/orders/{order.number}/change-requests", {
        "kind": "intercept", "reason": "again"}), 409)
    assert ChangeRequest.objects.count() == 1


def test_refused_change_requests(api_as, make_token, make_order):
    _token, raw = make_token("ops", "write")
    api = api_as(raw)
    shipped = make_order("shipped")
    assert_error(api.post(f"/orders/{shipped.number}/change-requests", {
        "reason": "too late", "fields": {"ship_city": "x"}}), 422)
    paid = make_order("paid")
    assert_error(api.post(f"/orders/{paid.number}/change-requests", {
        "reason": "stale", "fields": {"ship_city": "x"}, "expected_status": "review"}), 409)
    assert not ChangeRequest.objects.exists()
    _token, fin = make_token("finance", "write")  # may not file requests
    assert_error(api_as(fin).post(f"/orders/{paid.number}/change-requests", {
        "reason": "x", "fields": {"ship_city": "x"}}), 403)
