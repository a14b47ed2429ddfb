import copy
import json

import pytest

from channels.connectors.shopify import ShopifyConnector
from channels.connectors.woocommerce import WooCommerceConnector
from channels.models import RawPayload, SkuMapping
from channels.pipeline import clean_text, ingest_items
from channels.services import raw_payload_replay
from orderhub.models import Order, OrderTransitionLog
from orderhub.models import OrderStatus as S
from orderhub.services.orders import order_transition
from tests.channels.conftest import shopify_cn_order


def ingest(channel, *orders, connector=None):
    connector = connector or ShopifyConnector(channel)
    return ingest_items(channel=channel, items=list(orders), source="poll", normalizer=connector)


def test_new_paid_order_is_created_and_paid(mapped):
    result = ingest(mapped, shopify_cn_order())
    assert result.as_dict() == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    order = Order.objects.get(channel=mapped, external_id="9001")
    assert order.status == S.PAID
    assert [(ln.sku_code, ln.quantity, str(ln.unit_price), ln.is_gift)
            for ln in order.lines.order_by("id")] == [
        ("SKU-CUP", 2, "59.00", False), ("SKU-SLV", 1, "0.00", True)]
    assert order.ship_phone == "+8613800138000"
    assert str(order.total) == "128.00"
    log = OrderTransitionLog.objects.get(order=order)
    assert (log.transition, log.actor) == ("pay", "system:ingest:shopify-demo")
    raw = RawPayload.objects.get(channel=mapped)
    assert raw.status == RawPayload.Status.PROCESSED and raw.order == order


def test_same_payload_three_times_is_one_order_one_version(mapped):
    payload = shopify_cn_order(financial_status="pending")
    results = [ingest(mapped, copy.deepcopy(payload)) for _ in range(3)]
    assert [r.created for r in results] == [1, 0, 0]
    assert [r.unchanged for r in results] == [0, 1, 1]
    order = Order.objects.get(channel=mapped)
    assert order.history.count() == 1
    assert RawPayload.objects.filter(channel=mapped).count() == 1


def test_refetched_payload_with_only_a_new_timestamp_changes_nothing(mapped):
    ingest(mapped, shopify_cn_order())
    order = Order.objects.get()
    versions = order.history.count()
    result = ingest(mapped, shopify_cn_order(updated_at="2026-11-20T11:00:00+08:00"))
    assert result.unchanged == 1
    assert order.history.count() == versions


def test_updated_payload_updates_and_versions(mapped):
    ingest(mapped, shopify_cn_order(financial_status="pending"))
    order = Order.objects.get()
    changed = shopify_cn_order(financial_status="pending", updated_at="2026-11-20T12:00:00+08:00")
    changed["shipping_address"]["address1"] = "世纪大道200号"
    changed["line_items"][0]["quantity"] = 3
    changed["total_price"] = "187.00"

    result = ingest(mapped, changed)

    assert result.updated == 1
    order.refresh_from_db()
    assert order.ship_street == "世纪大道200号"
    assert order.lines.get(sku_code="SKU-CUP").quantity == 3
    assert str(order.total) == "187.00"
    versions = list(order.history.order_by("history_id"))
    # created, then the platform's edit of address, lines and total as ONE version
    assert len(versions) == 2
    assert versions[0].ship_street == "世纪大道100号"
    assert versions[1].ship_street == "世纪大道200号" and str(versions[1].total) == "187.00"
    assert order.lines.get(sku_code="SKU-CUP").history.count() == 2
    assert order.events.filter(kind="edited").count() == 1


def test_payment_arrives_later(mapped):
    ingest(mapped, shopify_cn_order(financial_status="pending"))
    assert Order.objects.get().status == S.PENDING_PAYMENT
    ingest(mapped, shopify_cn_order(updated_at="2026-11-20T12:00:00+08:00"))
    assert Order.objects.get().status == S.PAID


def test_unknown_sku_sends_the_order_to_review(shopify_channel):
    SkuMapping.objects.create(channel=shopify_channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    ingest(shopify_channel, shopify_cn_order())
    order = Order.objects.get()
    assert order.status == S.REVIEW
    log = order.transition_logs.get(transition="hold_review")
    assert log.reason == "unknown SKU: SLEEVE-1"
    # The line is kept with the platform's SKU so a person can see what it was.
    assert set(order.lines.values_list("sku_code", flat=True)) == {"SKU-CUP", "SLEEVE-1"}


def test_listing_id_mapping_is_used_when_the_platform_has_no_sku(woo_channel, woo_order):
    SkuMapping.objects.create(channel=woo_channel, platform_sku="listing:93", hub_sku="SKU-93")
    SkuMapping.objects.create(channel=woo_channel, platform_sku="Bar3", hub_sku="SKU-BAR")
    result = ingest(woo_channel, woo_order, connector=WooCommerceConnector(woo_channel))
    assert result.created == 1
    order = Order.objects.get()
    assert order.status == S.PAID
    assert sorted(order.lines.values_list("sku_code", flat=True)) == ["SKU-93", "SKU-BAR"]
    # The US example phone (555) is not a real number: kept out, and said so.
    assert order.buyer_phone == ""
    assert order.events.filter(kind="note", message__contains="(555) 555-5555").exists()


def test_vendor_shopify_fixture_ingests(shopify_channel, shopify_order):
    result = ingest(shopify_channel, shopify_order)
    assert result.created == 1
    order = Order.objects.get()
    assert order.currency == "USD" and str(order.total) == "409.94"
    assert order.ship_country == "US"
    assert order.status == S.REVIEW  # nothing mapped yet


def test_cancel_before_picking_cancels(mapped):
    ingest(mapped, shopify_cn_order())
    ingest(mapped, shopify_cn_order(cancelled_at="2026-11-20T13:00:00+08:00",
                                    cancel_reason="customer",
                                    updated_at="2026-11-20T13:00:00+08:00"))
    order = Order.objects.get()
    assert order.status == S.CANCELLED
    assert "cancelled on the platform" in order.cancel_reason


def _to_picking(order):
    for name in ("mark_ready", "claim"):
        order_transition(order=order, name=name, actor="system:test")


def test_cancel_after_picking_holds_with_intercept_flag(mapped):
    ingest(mapped, shopify_cn_order())
    _to_picking(Order.objects.get())
    cancelled = shopify_cn_order(financial_status="refunded",
                                 updated_at="2026-11-20T13:00:00+08:00")
    ingest(mapped, cancelled)
    order = Order.objects.get()
    assert order.status == S.ON_HOLD and order.held_from == S.PICKING
    assert order.tags.filter(name="intercept").exists()
    assert order.events.filter(kind="intercept_requested").count() == 1
    # Seeing the cancellation again does not ask twice.
    ingest(mapped, {**cancelled, "updated_at": "2026-11-20T14:00:00+08:00"})
    assert order.events.filter(kind="intercept_requested").count() == 1


def test_address_change_after_picking_holds_instead_of_applying(mapped):
    ingest(mapped, shopify_cn_order())
    _to_picking(Order.objects.get())
    moved = shopify_cn_order(updated_at="2026-11-20T13:00:00+08:00")
    moved["shipping_address"]["address1"] = "南京路1号"
    result = ingest(mapped, moved)
    order = Order.objects.get()
    assert result.updated == 1
    assert order.status == S.ON_HOLD
    assert order.ship_street == "世纪大道100号"
    assert "after picking started" in order.hold_reason
    assert order.events.get(kind="platform_change_pending").data["fields"] == {
        "ship_street": "南京路1号"}


def test_names_and_addresses_are_cleaned(mapped):
    dirty = shopify_cn_order()
    dirty["shipping_address"]["address1"] = "世纪大道\n100号\t 3楼\x07"
    dirty["shipping_address"]["name"] = "  张\r\n三 "
    ingest(mapped, dirty)
    order = Order.objects.get()
    assert order.ship_street == "世纪大道 100号 3楼"
    assert order.ship_name == "张 三"
    assert clean_text("a\u2028b\x00c") == "a b c"


@pytest.mark.parametrize("payload, reason", [
    ("{not json", "not valid JSON"),
    (json.dumps({"id": 5, "line_items": []}), "no line_items"),
    (json.dumps({**shopify_cn_order(), "line_items": [{"id": 1, "sku": "CUP-1",
                                                         "quantity": "two", "price": "1"}]}),
     "not a quantity"),
    (json.dumps([1, 2, 3]), "Cannot read the order"),
])
def test_bad_payloads_are_quarantined_and_nothing_else_is_affected(mapped, payload, reason):
    result = ingest(mapped, payload, shopify_cn_order(2))
    assert (result.created, result.rejected) == (1, 1)
    raw = RawPayload.objects.get(status=RawPayload.Status.QUARANTINED)
    assert reason in raw.error
    assert raw.body == payload  # kept exactly as received


def test_huge_payload_is_quarantined_not_parsed(mapped):
    huge = json.dumps({**shopify_cn_order(), "note": "x" * (3 * 1024 * 1024)})
    result = ingest(mapped, huge)
    assert result.rejected == 1
    assert "too large" in RawPayload.objects.get().error


def test_quarantine_then_replay_after_mapping_fix(shopify_channel):
    # given an order whose line has a value too long for the hub (a platform bug)
    broken = shopify_cn_order(shipping_address={**shopify_cn_order()["shipping_address"],
                                                "zip": "1" * 40})
    result = ingest(shopify_channel, broken)
    assert result.rejected == 1
    raw = RawPayload.objects.get()
    assert raw.status == RawPayload.Status.QUARANTINED
    assert "postcode" in raw.error.lower() or "16 characters" in raw.error

    # when the payload is fixed by hand and replayed
    raw.body = json.dumps(shopify_cn_order())
    raw.save()
    assert raw_payload_replay(raw=raw, actor="ops1") == "created"

    # then
    raw.refresh_from_db()
    assert raw.status == RawPayload.Status.PROCESSED and raw.order is not None
    assert raw.attempts == 2


def test_invalid_email_is_left_out_with_a_note(mapped):
    ingest(mapped, shopify_cn_order(email="not-an-email"))
    order = Order.objects.get()
    assert order.buyer_email == ""
    assert order.events.filter(kind="note", message__contains="not-an-email").exists()
