"""Channel fixtures: one channel per platform, vendor payloads, a no-sleep clock."""

import copy
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels"

SHOP = "https://demo-shop.myshopify.com"
SHOP_API = f"{SHOP}/admin/api/2024-10"
WOO = "https://woo.example.com"
WOO_API = f"{WOO}/wp-json/wc/v3"
SPAPI = "https://sellingpartnerapi-na.amazon.com"
LWA = "https://api.amazon.com/auth/o2/token"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Poll locks and cached tokens are keyed by channel id, which SQLite reuses.
    from channels.connectors import amazon

    cache.clear()
    amazon._buckets.clear()
    yield
    cache.clear()


@pytest.fixture
def sleeps():
    """A fake ``sleep`` that records the delays instead of waiting."""

    class Sleeps(list):
        def __call__(self, seconds):
            self.append(seconds)

    return Sleeps()


@pytest.fixture
def shopify_channel(db):
    from channels.models import Channel

    channel = Channel(code="shopify-demo", name="Shopify demo", platform="shopify",
                      config={"shop_url": SHOP, "api_version": "2024-10"})
    channel.credentials = {"access_token": "shpat_test_token_123456", "webhook_secret": "hush"}
    channel.owner = User.objects.create_user("shop-owner", email="shop-owner@example.com")
    channel.save()
    return channel


@pytest.fixture
def woo_channel(db):
    from channels.models import Channel

    channel = Channel(code="woo-demo", name="Woo demo", platform="woocommerce",
                      config={"site_url": WOO})
    channel.credentials = {"consumer_key": "ck_test", "consumer_secret": "cs_test",
                           "webhook_secret": "hush"}
    channel.save()
    return channel


@pytest.fixture
def amazon_channel(db):
    from channels.models import Channel

    channel = Channel(code="amazon-us", name="Amazon US", platform="amazon",
                      config={"marketplace_ids": ["ATVPDKIKX0DER"]})
    channel.credentials = {"refresh_token": "Atzr|refresh", "client_id": "amzn1.client",
                           "client_secret": "lwa-secret"}
    channel.save()
    return channel


@pytest.fixture
def shopify_order():
    return copy.deepcopy(load("shopify_order_fixture.json")["order"])


@pytest.fixture
def woo_order():
    return copy.deepcopy(load("woocommerce_order_example.json"))


def shopify_cn_order(n: int = 1, **overrides) -> dict:
    """A Chinese-domestic Shopify-shaped order with valid phone and mapped SKUs."""
    order = {
        "id": 9000 + n,
        "name": f"#{1000 + n}",
        "created_at": "2026-11-20T10:00:00+08:00",
        "updated_at": "2026-11-20T10:00:00+08:00",
        "processed_at": "2026-11-20T10:00:00+08:00",
        "cancelled_at": None,
        "currency": "CNY",
        "financial_status": "paid",
        "total_price": "128.00",
        "total_discounts": "0.00",
        "email": "buyer@example.com",
        "note": "",
        "customer": {"first_name": "三", "last_name": "张"},
        "shipping_address": {"name": "张三", "phone": "13800138000", "address1": "世纪大道100号",
                             "address2": "", "city": "上海市", "province": "上海市",
                             "zip": "200120", "country_code": "CN"},
        "shipping_lines": [{"price": "10.00"}],
        "line_items": [
            {"id": 1, "sku": "CUP-1", "name": "保温杯", "quantity": 2, "price": "59.00",
             "variant_id": 11},
            {"id": 2, "sku": "SLEEVE-1", "name": "杯套", "quantity": 1, "price": "0.00",
             "variant_id": 12},
        ],
    }
    order.update(overrides)
    return order


@pytest.fixture
def mapped(shopify_channel):
    from channels.models import SkuMapping

    SkuMapping.objects.create(channel=shopify_channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    SkuMapping.objects.create(channel=shopify_channel, platform_sku="SLEEVE-1", hub_sku="SKU-SLV")
    return shopify_channel
