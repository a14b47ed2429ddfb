"""Reads: one order in full, stock, channels' health and the audit feed."""

from __future__ import annotations

from django.contrib.auth.models import Group

from fulfillment.changes.models import ApprovalDecision, ChangeRequest
from fulfillment.changes.services import change_request_create, change_request_decide
from orderhub.services.orders import order_add_note, order_update
from tests.api.conftest import assert_error
from warehouse.models import SKU, StockLevel


def test_one_order_with_everything(api_as, make_token, make_order):
    _token, raw = make_token("ops", "read")
    order = make_order("paid")
    order_update(order=order.pk, actor="system:test", changes={"ship_city": "杭州市"})
    order_add_note(order=order.pk, actor="system:test", text="fragile")
    body = api_as(raw).get(f"/orders/{order.number}").json()
    assert body["number"] == order.number and body["buyer_phone"] == "+8613800138000"
    assert [ln["sku_code"] for ln in body["lines"]] == ["SKU-1", "GIFT-1"]
    assert [t["transition"] for t in body["transitions"]] == ["pay"]
    assert {"created", "edited", "note"} <= {e["kind"] for e in body["events"]}
    edit = [v for v in body["versions"] if any(c["field"] == "ship_city" for c in v["changes"])]
    assert edit and edit[0]["changes"][0]["new"] == "杭州市"
    assert body["tracking"] == [] and body["wms_callbacks"] == []


def test_buyer_contact_is_masked_for_roles_that_do_not_see_it(api_as, make_token, make_order):
    _token, raw = make_token("finance", "read")
    order = make_order("paid")
    order_update(order=order.pk, actor="system:test", changes={"ship_phone": "13900139000"})
    api = api_as(raw)
    body = api.get(f"/orders/{order.number}").json()
    assert body["buyer_phone"] == "138****8000" and body["ship_street"] == "••••"
    dumped = str(body)
    assert "13900139000" not in dumped and "13800138000" not in dumped
    listed = api.get("/orders").json()["items"][0]
    assert listed["buyer_phone"] == "138****8000"
    feed = str(api.get("/audit").json())
    assert "13900139000" not in feed


def test_stock_levels(api_as, make_token, warehouse):
    _token, raw = make_token("ops", "read")
    tea = SKU.objects.create(code="TEA-01", name="tea")
    cup = SKU.objects.create(code="CUP-02", name="cup")
    StockLevel.objects.create(warehouse=warehouse, sku=tea, on_hand=10, reserved=3, safety=2)
    StockLevel.objects.create(warehouse=warehouse, sku=cup, on_hand=5)
    api = api_as(raw)
    first = api.get("/stock", {"limit": 1}).json()
    assert first["items"] == [{**first["items"][0], "warehouse": "sh", "sku": "TEA-01",
                               "on_hand": 10, "reserved": 3, "safety": 2, "available": 5}]
    assert first["has_more"] is True
    rest = api.get("/stock", {"cursor": first["next_cursor"]}).json()
    assert [s["sku"] for s in rest["items"]] == ["CUP-02"] and rest["has_more"] is False
    assert [s["sku"] for s in api.get("/stock", {"sku": "CUP-02"}).json()["items"]] == [
        "CUP-02"]


def test_channels_health_never_shows_credentials(api_as, make_token, channel):
    _token, raw = make_token("ops", "read")
    channel.paused = True
    channel.paused_reason = "credentials rejected"
    channel.save()
    body = api_as(raw).get("/channels").json()
    assert body[0]["code"] == "shop" and body[0]["paused"] is True
    assert body[0]["paused_reason"] == "credentials rejected"
    assert not any("credential" in key for key in body[0])


def test_audit_feed_pages_transitions_edits_and_approvals(api_as, make_token, make_order,
                                                          make_user):
    _token, raw = make_token("manager", "read")
    api = api_as(raw)
    order = make_order("paid")  # pay
    order_update(order=order.pk, actor="system:test", changes={"ship_city": "杭州市"})
    picking = make_order("picking")  # pay, mark_ready, claim
    change = change_request_create(order=picking.pk, actor=make_user("ops"),
                                   kind=ChangeRequest.Kind.INTERCEPT, reason="buyer cancelled")
    sales = make_user("sales_manager")
    change_request_decide(change=change.pk, actor=sales, decision="approve", comment="ok")
    assert ApprovalDecision.objects.count() == 1

    seen, cursor = [], None
    for _ in range(20):
        page = api.get("/audit", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids))  # no repeats across pages
    types = [item["type"] for item in seen]
    assert types.count("transition") == 5  # pay, pay, mark_ready, claim, hold
    assert types.count("edit") == 1 and types.count("approval") == 1
    edit = next(item for item in seen if item["type"] == "edit")
    assert edit["changes"] == [{"field": "ship_city", "old": "上海市", "new": "杭州市"}]
    approval = next(item for item in seen if item["type"] == "approval")
    assert approval["decision"] == "approve" and approval["actor"] == sales.username
    assert approval["order_number"] == picking.number
    assert [item["time"] for item in seen] == sorted(item["time"] for item in seen)
    # Later entries come after the kept cursor, the old ones never again.
    order_add_note(order=order.pk, actor="system:test", text="not audited")
    order_update(order=order.pk, actor="system:test", changes={"ship_city": "宁波市"})
    later = api.get("/audit", {"cursor": cursor}).json()["items"]
    assert [item["type"] for item in later] == ["edit"]


def test_audit_needs_a_role_that_reads_orders(api_as, make_token):
    Group.objects.get(name="picker")
    _token, raw = make_token("picker", "read")
    assert_error(api_as(raw).get("/audit"), 403, "forbidden")
    assert_error(api_as(raw).get("/orders"), 403, "forbidden")
