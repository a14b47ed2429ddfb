"""Ingestion of CN platform orders: idempotency, updates, and the sandbox's signature checks."""

import copy
import datetime as dt
import json
from unittest import mock

import pytest

from channels.connectors import get_connector
from channels.models import RawPayload, SkuMapping
from channels.pipeline import ingest_items
from orderhub.models import Order, OrderEvent
from orderhub.models import OrderStatus as S
from tests.channels.cn_support import CN_FIXTURES, SandboxHttp, load, make_channel


def taobao():
    return load("taobao_trade_fullinfo.json")["trade_fullinfo_get_response"]["trade"]


def pdd():
    return load("pdd_increment.json")["order_sn_increment_get_response"]["order_sn_list"][0]


def douyin():
    return load("douyin_searchlist.json")["data"]["shop_order_list"][0]


def youzan():
    return load("youzan_trades_sold_get.json")["data"]["full_order_info_list"][0][
        "full_order_info"]


CASES = {
    "taobao": (taobao, lambda o: o.update(status="WAIT_BUYER_PAY", pay_time=None)),
    "pinduoduo": (pdd, lambda o: o.update(confirm_status=0)),
    "douyin": (douyin, lambda o: o.update(order_status=1)),
    "youzan": (youzan, lambda o: o["order_info"].update(status="WAIT_BUYER_PAY")),
}


def channel_with_mappings(platform):
    channel = make_channel(platform)
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    SkuMapping.objects.create(channel=channel, platform_sku="SLEEVE-1", hub_sku="SKU-SLV")
    return channel


def ingest(channel, payload):
    return ingest_items(channel=channel, items=[copy.deepcopy(payload)], source="poll",
                        normalizer=get_connector(channel))


@pytest.mark.parametrize("platform", list(CASES))
def test_same_payload_three_times_is_one_order_one_version(db, platform):
    factory, make_unpaid = CASES[platform]
    channel = channel_with_mappings(platform)
    payload = factory()
    make_unpaid(payload)

    results = [ingest(channel, payload) for _ in range(3)]

    assert [r.created for r in results] == [1, 0, 0]
    assert [r.unchanged for r in results] == [0, 1, 1]
    order = Order.objects.get(channel=channel)
    assert order.status == S.PENDING_PAYMENT
    assert order.history.count() == 1
    assert RawPayload.objects.filter(channel=channel).count() == 1
    # masked/encrypted values leave no "not a valid phone number" notes behind
    assert not OrderEvent.objects.filter(order=order, message__icontains="phone").exists()


@pytest.mark.parametrize("platform", list(CASES))
def test_payment_arriving_later_pays_the_same_order(db, platform):
    factory, make_unpaid = CASES[platform]
    channel = channel_with_mappings(platform)
    unpaid = factory()
    make_unpaid(unpaid)
    ingest(channel, unpaid)

    result = ingest(channel, factory())

    assert result.updated == 1
    order = Order.objects.get(channel=channel)
    assert order.status not in (S.PENDING_PAYMENT, S.CANCELLED)
    assert sorted(order.lines.values_list("sku_code", "is_gift")) == [("SKU-CUP", False),
                                                                      ("SKU-SLV", True)]
    assert order.ship_province and order.ship_district == "浦东新区"


@pytest.mark.parametrize("platform", list(CASES))
def test_file_import_accepts_the_platforms_own_list_response(db, platform, tmp_path):
    from channels.services import import_file

    channel = channel_with_mappings(platform)
    name = {"taobao": "taobao_trade_fullinfo.json", "pinduoduo": "pdd_increment.json",
            "douyin": "douyin_searchlist.json", "youzan": "youzan_trades_sold_get.json"}[platform]
    path = tmp_path / name
    path.write_text(json.dumps(load(name), ensure_ascii=False))

    result = import_file(channel=channel, path=path)

    assert result.created == 1 and result.rejected == 0


# --- the sandbox refuses what the platform would refuse -----------------------------------

@pytest.fixture
def http():
    with mock.patch("channels.sandbox_cn._throttled", return_value=False), SandboxHttp() as c:
        yield c


def test_sandbox_checks_the_top_signature_over_every_param(db, http):
    from channels.connectors.cn import cn_time
    from channels.connectors.taobao import top_sign

    params = {"method": "taobao.trades.sold.increment.get", "app_key": "12345678",
              "session": "sandbox-session", "format": "json", "v": "2.0", "sign_method": "md5",
              "timestamp": cn_time(dt.datetime.now(dt.UTC)),
              "start_modified": "2026-11-20 10:00:00", "end_modified": "2026-11-20 10:30:00"}
    good = {**params, "sign": top_sign(params, "sandbox-top-secret", "md5")}

    answer = http.post("/sandbox/taobao/router/rest", data=good).json()
    assert "trades_sold_increment_get_response" in answer
    for bad in ({**good, "sign": top_sign(params, "wrong-secret", "md5")},
                {**good, "end_modified": "2026-11-20 10:31:00"}):  # a param changed after signing
        answer = http.post("/sandbox/taobao/router/rest", data=bad).json()
        assert answer["error_response"]["code"] == 25


@pytest.mark.parametrize("platform, credentials, expected", [
    ("taobao", {"app_key": "12345678", "app_secret": "wrong", "session": "sandbox-session"},
     "error 25"),
    ("pinduoduo", {"client_id": "sandbox-pdd", "client_secret": "wrong",
                   "access_token": "sandbox-pdd-token"}, "error 10016"),
    ("douyin", {"app_key": "7000000000000000000", "app_secret": "wrong"}, "error 40004"),
    ("youzan", {"client_id": "sandbox-youzan", "client_secret": "wrong"}, "4001"),
])
def test_sandbox_refuses_wrong_secrets_and_the_channel_pauses(db, http, platform, credentials,
                                                             expected):
    from channels.services import channel_poll
    from tests.channels.cn_support import connector_for, sandbox_channel

    channel = sandbox_channel(platform)
    channel.credentials = credentials
    channel.cursor_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    channel.save()

    outcome = channel_poll(channel=channel, connector=connector_for(channel, client=http,
                                                                    now=None))

    channel.refresh_from_db()
    assert outcome.status == "failed"
    assert expected in channel.last_error
    assert channel.paused  # a signature/credential problem needs a person
    assert "wrong" not in channel.last_error


@pytest.mark.parametrize("platform", ["taobao", "pinduoduo", "douyin", "youzan"])
def test_saved_shipped_order_file_imports_without_rejects(db, platform):
    # the documented already-shipped order of each platform, as the lead's
    # cross-platform test and import_orders read it (a JSON list with one order)
    from channels.services import import_file

    channel = channel_with_mappings(platform)
    path = CN_FIXTURES.parent / "shipped" / f"{platform}.json"
    result = import_file(channel=channel, path=path)
    assert result.created == 1 and result.rejected == 0, result.errors
