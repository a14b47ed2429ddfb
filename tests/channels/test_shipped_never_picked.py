"""An order the platform already shipped never reaches a pick list, on every API platform.

Each platform's documented already-shipped order (``tests/fixtures/channels/shipped/``,
see the README there) is imported into a hub where every one of its lines is a known
SKU with plenty of stock, so a paid copy of the same order *is* picked (the control).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.models import Channel, SkuMapping
from channels.services import import_file, normalizer_for
from channels.skus import listing_key
from fulfillment.services.automation import orders_automate
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import order_create, order_transition
from tests.channels.cn_support import make_channel as make_cn_channel
from warehouse.models import PickListOrder, PickTask, Reservation
from warehouse.services.picking import task_claim_next
from warehouse.services.stock import stock_adjust

S = OrderStatus
SHIPPED_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels" / "shipped"
PLATFORMS = ["shopify", "woocommerce", "amazon", "taobao", "pinduoduo", "douyin", "youzan"]
PLATFORM_SHIPPED = {S.SHIPPED, S.DELIVERED, S.COMPLETED}

pytestmark = pytest.mark.django_db


def channel_for(platform: str) -> Channel:
    if platform in ("taobao", "pinduoduo", "douyin", "youzan"):
        return make_cn_channel(platform)
    config, credentials = {
        "shopify": ({"shop_url": "https://demo-shop.myshopify.com", "api_version": "2024-10"},
                    {"access_token": "shpat_test", "webhook_secret": "hush"}),
        "woocommerce": ({"site_url": "https://woo.example.com"},
                        {"consumer_key": "ck_test", "consumer_secret": "cs_test"}),
        "amazon": ({"marketplace_ids": ["ATVPDKIKX0DER"]},
                   {"refresh_token": "Atzr|refresh", "client_id": "amzn1.client",
                    "client_secret": "lwa-secret"}),
    }[platform]
    channel = Channel(code=f"{platform}-shipped", name=platform, platform=platform,
                      config=config)
    channel.credentials = credentials
    channel.save()
    return channel


def stock_every_line(channel: Channel, norms, warehouse) -> None:
    """Map each platform line to a hub SKU with 100 units on the shelf."""
    from warehouse.models import SKU

    for norm in norms:
        for n, line in enumerate(norm.lines):
            key = line.platform_sku or listing_key(line.listing_id)
            hub_code = f"HUB-{channel.platform}-{n}"
            sku, _created = SKU.objects.get_or_create(code=hub_code, defaults={"name": hub_code})
            SkuMapping.objects.get_or_create(channel=channel, platform_sku=key,
                                             defaults={"hub_sku": hub_code})
            stock_adjust(warehouse=warehouse, sku=sku, delta=100, actor="system:test",
                         reason="test", kind="receipt")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_platform_shipped_order_never_reaches_a_pick_list(platform, warehouse, make_user):
    # given a hub that would pick these lines at once
    channel = channel_for(platform)
    path = SHIPPED_FIXTURES / f"{platform}.json"
    connector = normalizer_for(channel)
    norms = [connector.normalize(raw)
             for raw in connector.orders_from_file(json.loads(path.read_text()))]
    assert norms and all(norm.fulfillment for norm in norms), "the fixture must be shipped"
    stock_every_line(channel, norms, warehouse)

    # when the store's history is imported and automation runs over it
    result = import_file(channel=channel, path=path)
    orders = list(Order.objects.filter(channel=channel).prefetch_related("lines"))
    outcomes = orders_automate(order_ids=[order.pk for order in orders])

    # then each order is in the platform's state, with the platform's tracking number
    assert result.created == len(norms) and result.rejected == 0, result.errors
    by_ext = {order.external_id: order for order in orders}
    for norm in norms:
        order = by_ext[norm.external_id]
        order.refresh_from_db()
        assert order.status in PLATFORM_SHIPPED, (order.status, order.hold_reason)
        if norm.shipments:
            assert order.tracking_number == norm.shipments[0].tracking_number
        assert outcomes[order.pk].result == "skipped"
    # and nothing of it is reserved, listed or offered to a picker
    assert not Reservation.objects.filter(order__channel=channel).exists()
    assert not PickListOrder.objects.filter(order__channel=channel).exists()
    assert not PickTask.objects.filter(order__channel=channel).exists()
    picker = make_user("picker")

    # control: the same lines as a plain paid order are picked from the same shelves
    lines = [{"sku_code": line.sku_code, "name": line.name, "quantity": line.quantity,
              "unit_price": line.unit_price, "is_gift": line.is_gift}
             for line in orders[0].lines.all()]
    control = order_create(channel=channel, actor="system:test", lines=lines,
                           external_id=f"control-{platform}", buyer_name="张三",
                           ship_name="张三", ship_phone="13800138000", ship_province="上海市",
                           ship_city="上海市", ship_district="浦东新区",
                           ship_street="世纪大道100号")
    order_transition(order=control.pk, name="pay", actor="system:test")
    assert orders_automate(order_ids=[control.pk])[control.pk].result == S.READY_TO_PICK
    task = task_claim_next(picker=picker, warehouse=warehouse)
    assert task is not None and task.order_id == control.pk
