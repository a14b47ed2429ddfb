"""Connectors keep a presale order's promised ship date where the platform gives one.

Payload fields as the platforms document them:
- Amazon Orders v0 ``Order``: ``OrderType`` (enum StandardOrder, LongLeadTimeOrder,
  Preorder, BackOrder, SourcingOnDemandOrder) and ``LatestShipDate`` (ISO 8601, the
  end of the window the seller committed to ship in); vendor example order from
  amzn/selling-partner-api-models.
- Pinduoduo ``pdd.order.information.get`` / increment list: ``is_pre_sale`` (1 presale,
  0 not), ``pre_sale_time`` (预售时间) and ``last_ship_time`` (订单承诺发货时间), strings
  ``yyyy-MM-dd HH:mm:ss`` in Beijing time.
- Douyin ``order.searchList`` sku orders: ``pre_sale_type`` (0 现货, 1 全款预售,
  2 阶梯发货), ``trade_type`` (2 定金预售) and ``exp_ship_time`` (预计发货时间, UNIX
  seconds).
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from freezegun import freeze_time

from channels.connectors import get_connector
from channels.connectors.amazon import AmazonConnector
from channels.connectors.douyin import DouyinConnector
from channels.connectors.pinduoduo import PinduoduoConnector
from channels.connectors.presale import PROMISED_SHIP_DATE
from channels.models import Channel, SkuMapping
from channels.pipeline import ingest_items
from fulfillment.services.automation import order_automate
from orderhub.models import Order, OrderStatus
from tests.channels.cn_support import load, make_channel
from tests.channels.conftest import load as load_amazon
from warehouse.models import SKU, PresaleDeferral
from warehouse.services.presale import PLATFORM_KEY, presale_release_due, ship_dates
from warehouse.services.stock import stock_adjust

S = OrderStatus
UTC = dt.UTC
AMAZON_NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def channel_of(platform: str):
    return Channel.objects.filter(platform=platform).first() or make_channel(platform)


def promised_date(platform_data: dict) -> dt.date | None:
    """The ship date the presale queue reads from this ``platform_data``."""
    found = ship_dates([Order(pk=1, platform_data=platform_data)])
    return found[1][0] if 1 in found else None


def test_the_key_is_the_one_the_presale_queue_reads():
    assert PROMISED_SHIP_DATE == PLATFORM_KEY


# --- Amazon ------------------------------------------------------------------------------

@pytest.fixture
def amazon(amazon_channel):
    return AmazonConnector(amazon_channel, sleep=lambda s: None, clock=lambda: 1000.0,
                           now=lambda: AMAZON_NOW)


def amazon_order(**overrides):
    order = copy.deepcopy(load_amazon("amazon_getOrders_example.json")["payload"]["Orders"][0])
    order["OrderItems"] = copy.deepcopy(
        load_amazon("amazon_getOrderItems_example.json")["payload"]["OrderItems"])
    order.update(overrides)
    return order


def test_amazon_preorder_keeps_latest_ship_date_and_is_presale(amazon):
    norm = amazon.normalize(amazon_order(OrderType="Preorder"))
    assert norm.presale is True
    assert norm.platform_data[PROMISED_SHIP_DATE] == "2017-01-25T19:49:35+00:00"
    # 19:49 UTC is 03:49 on the 26th in the configured zone (Asia/Shanghai)
    assert promised_date(norm.platform_data) == dt.date(2017, 1, 26)
    assert norm.platform_data["marketplace_id"] == "ATVPDKIKX0DER"


def test_amazon_standard_order_has_no_promised_date(amazon):
    norm = amazon.normalize(amazon_order())  # the vendor example: StandardOrder
    assert norm.presale is False
    assert PROMISED_SHIP_DATE not in norm.platform_data


def test_amazon_preorder_without_latest_ship_date_is_presale_without_date(amazon):
    order = amazon_order(OrderType="Preorder")
    del order["LatestShipDate"]
    norm = amazon.normalize(order)
    assert norm.presale is True and PROMISED_SHIP_DATE not in norm.platform_data


# --- Pinduoduo -----------------------------------------------------------------------------

def pdd_order(**overrides):
    order = copy.deepcopy(load("pdd_increment.json")["order_sn_increment_get_response"]
                          ["order_sn_list"][0])
    order.update(overrides)
    return order


def pdd_normalize(raw):
    return PinduoduoConnector(channel_of("pinduoduo")).normalize(raw)


def test_pdd_presale_keeps_pre_sale_time(db):
    norm = pdd_normalize(pdd_order(is_pre_sale=1, pre_sale_time="2026-12-10 23:59:59",
                                   last_ship_time="2026-12-12 23:59:59"))
    assert norm.presale is True
    # Beijing time, kept as an aware ISO date-time
    assert norm.platform_data[PROMISED_SHIP_DATE] == "2026-12-10T15:59:59+00:00"
    assert promised_date(norm.platform_data) == dt.date(2026, 12, 10)
    assert norm.platform_data["masked"] == {"phone": "138****8000"}


def test_pdd_presale_without_pre_sale_time_uses_last_ship_time(db):
    norm = pdd_normalize(pdd_order(is_pre_sale=1, pre_sale_time="",
                                   last_ship_time="2026-12-12 18:00:00"))
    assert norm.presale is True
    assert promised_date(norm.platform_data) == dt.date(2026, 12, 12)


def test_pdd_not_presale_keeps_no_date(db):
    norm = pdd_normalize(pdd_order(is_pre_sale=0, pre_sale_time="",
                                   last_ship_time="2026-11-22 10:02:11"))
    assert norm.presale is False and PROMISED_SHIP_DATE not in norm.platform_data
    plain = pdd_normalize(pdd_order())  # the fields absent altogether
    assert plain.presale is False and PROMISED_SHIP_DATE not in plain.platform_data


def test_pdd_garbled_presale_time_does_not_reject_the_order(db):
    norm = pdd_normalize(pdd_order(is_pre_sale=1, pre_sale_time="soon"))
    assert norm.presale is True and PROMISED_SHIP_DATE not in norm.platform_data


# --- Douyin -------------------------------------------------------------------------------

def douyin_order(sku_fields=(), **overrides):
    order = copy.deepcopy(load("douyin_searchlist.json")["data"]["shop_order_list"][0])
    for item, fields in zip(order["sku_order_list"], sku_fields, strict=False):
        item.update(fields)
    order.update(overrides)
    return order


def douyin_normalize(raw):
    return DouyinConnector(channel_of("douyin")).normalize(raw)


DEC_10_BJ = 1765382399  # 2025-12-10 23:59:59 Beijing


def test_douyin_full_payment_presale_keeps_exp_ship_time(db):
    later = DEC_10_BJ + 86400
    norm = douyin_normalize(douyin_order([
        {"pre_sale_type": 1, "exp_ship_time": DEC_10_BJ},
        {"pre_sale_type": 1, "exp_ship_time": later},
    ]))
    assert norm.presale is True
    # the latest sku order's date: the order ships whole
    assert norm.platform_data[PROMISED_SHIP_DATE] == "2025-12-11T15:59:59+00:00"
    assert promised_date(norm.platform_data) == dt.date(2025, 12, 11)


def test_douyin_deposit_presale_falls_back_to_the_shop_order_date(db):
    norm = douyin_normalize(douyin_order([{"pre_sale_type": 0, "trade_type": 2}],
                                         exp_ship_time=DEC_10_BJ))
    assert norm.presale is True
    assert promised_date(norm.platform_data) == dt.date(2025, 12, 10)


def test_douyin_stock_order_keeps_no_date(db):
    norm = douyin_normalize(douyin_order([{"pre_sale_type": 0, "exp_ship_time": DEC_10_BJ}],
                                         exp_ship_time=DEC_10_BJ))
    assert norm.presale is False and PROMISED_SHIP_DATE not in norm.platform_data
    plain = douyin_normalize(douyin_order())
    assert plain.presale is False and PROMISED_SHIP_DATE not in plain.platform_data


# --- end to end: ingested, deferred, released at ship date − lead days --------------------

SHIP = dt.date(2026, 12, 10)
# default lead time one day: 2026-12-09 00:00 Shanghai = 2026-12-08 16:00 UTC
RELEASE = dt.datetime(2026, 12, 8, 16, 0, tzinfo=UTC)


@pytest.fixture
def stocked(warehouse):
    # no SKU presale date: the only date is the platform's
    for code in ("SKU-1", "GIFT-1"):
        sku = SKU.objects.create(code=code, name=code)
        stock_adjust(warehouse=warehouse, sku=sku, delta=20, actor="system:test",
                     reason="test", kind="receipt")
    return warehouse


def test_ingested_presale_order_waits_and_releases_at_ship_date_minus_lead(
        stocked, django_capture_on_commit_callbacks, settings):
    settings.PRESALE_LEAD_DAYS = 1
    channel = make_channel("pinduoduo")
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-1")
    SkuMapping.objects.create(channel=channel, platform_sku="SLEEVE-1", hub_sku="GIFT-1")
    raw = pdd_order(is_pre_sale=1, pre_sale_time="2026-12-10 20:00:00")
    with freeze_time("2026-12-05 02:00:00"):
        ingest_items(channel=channel, items=[raw], source="poll",
                     normalizer=get_connector(channel))
        order = Order.objects.get(channel=channel, external_id=raw["order_sn"])
        assert order.presale is True and order.status == S.PAID
        assert order_automate(order=order).result == "deferred"
    deferral = PresaleDeferral.objects.get(order=order)
    assert (deferral.ship_date, deferral.source) == (SHIP, PresaleDeferral.Source.PLATFORM)
    assert deferral.release_at == RELEASE

    with freeze_time(RELEASE - dt.timedelta(seconds=1)):
        assert presale_release_due() == []
    order.refresh_from_db()
    assert order.status == S.PAID

    with freeze_time(RELEASE), django_capture_on_commit_callbacks(execute=False):
        assert presale_release_due() == [order.pk]
    deferral.refresh_from_db()
    assert deferral.released_at == RELEASE


def test_ingested_plain_order_is_not_presale(stocked):
    channel = make_channel("pinduoduo")
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-1")
    SkuMapping.objects.create(channel=channel, platform_sku="SLEEVE-1", hub_sku="GIFT-1")
    raw = pdd_order()
    with freeze_time("2026-12-05 02:00:00"):
        ingest_items(channel=channel, items=[raw], source="poll",
                     normalizer=get_connector(channel))
        order = Order.objects.get(channel=channel, external_id=raw["order_sn"])
        assert order.presale is False
        assert order_automate(order=order).result != "deferred"
    assert not PresaleDeferral.objects.exists()
