"""Douyin shop (抖店) connector: param_json signing, tokens, 0-based paging, code != 10000."""

import copy
import datetime as dt
import json

import httpx
import pytest
import respx
from django.core.cache import cache

from channels.connectors.base import (
    CANCELLED,
    PAID,
    UNPAID,
    AuthError,
    ConnectorError,
    PermanentError,
)
from channels.connectors.cn import Window, cn_time
from channels.connectors.douyin import (
    FIELDS,
    STATUS,
    DouyinConnector,
    douyin_error,
    douyin_sign,
    param_json,
)
from channels.services import channel_poll
from tests.channels.cn_support import DOUYIN_GW, NOW, connector_for, load, make_channel


@pytest.mark.parametrize("method, expected", [
    ("md5", "0d215169ec6c39843f3bebdb8824ca77"),
    ("hmac-sha256", "8e9a363a17442a3382e2b17f076c475be932426943fe4f30042193c65b9fec6d"),
])
def test_sign_reproduces_the_protocol_vectors(method, expected):
    assert douyin_sign(app_key="7000000000000000000", secret="appsecret",
                       method="order.searchList",
                       param_json='{"page":0,"size":10,"update_time_start":1700000000}',
                       timestamp="2023-11-15 06:13:20", v="2", sign_method=method) == expected


def test_param_json_is_sorted_compact_and_keeps_chinese():
    assert param_json({"size": 10, "b": {"z": 1, "a": "上海"}, "a": [2, 1]}) == \
        '{"a":[2,1],"b":{"a":"上海","z":1},"size":10}'


def douyin_order(**overrides):
    order = copy.deepcopy(load("douyin_searchlist.json")["data"]["shop_order_list"][0])
    order.update(overrides)
    return order


class FakeDouyin:
    def __init__(self, total=0):
        self.total, self.calls, self.answers, self.tokens = total, [], [], []

    def __call__(self, request: httpx.Request):
        query = dict(request.url.params)
        body = request.content.decode()
        self.calls.append((request.url.path, query, body))
        method = query["method"]
        if method in ("token.create", "token.refresh"):
            self.tokens.append(json.loads(body))
            n = len(self.tokens)
            return httpx.Response(200, json={"code": 10000, "msg": "success", "data": {
                "access_token": f"token-{n}", "expires_in": 604800,
                "refresh_token": f"refresh-{n}"}})
        if self.answers:
            return httpx.Response(200, json=self.answers.pop(0))
        params = json.loads(body)
        page, size = params["page"], params["size"]
        ids = list(range(self.total, 0, -1))[page * size:(page + 1) * size]
        return httpx.Response(200, json={"code": 10000, "msg": "success", "data": {
            "total": self.total, "page": page, "size": size,
            "shop_order_list": [douyin_order(order_id=f"69{n:017d}") for n in ids]}})


@pytest.fixture
def douyin(db):
    fake = FakeDouyin()
    with respx.mock(assert_all_called=False) as router:
        router.post(url__startswith=DOUYIN_GW).mock(side_effect=fake)
        yield fake


WINDOW = Window(NOW - dt.timedelta(minutes=30), NOW)


def test_request_signs_exactly_the_body_it_sends(douyin):
    connector = connector_for(make_channel("douyin", config={"sign_method": "hmac-sha256"}))

    connector.window_orders(WINDOW)

    path, query, body = douyin.calls[-1]
    assert path == "/order/searchList"
    assert query["access_token"] == "token-1" and query["v"] == "2"
    assert query["timestamp"] == cn_time(NOW) == "2026-11-20 12:00:00"
    assert query["sign"] == douyin_sign(app_key="7000000000000000000", secret="appsecret",
                                        method="order.searchList", param_json=body,
                                        timestamp=query["timestamp"], sign_method="hmac-sha256")
    params = json.loads(body)
    assert body == param_json(params)
    assert params[FIELDS["page"]] == 0  # Douyin pages start at 0
    assert params[FIELDS["update_start"]] == int(WINDOW.start.timestamp())


def test_self_use_token_is_created_once_and_cached(douyin):
    channel = make_channel("douyin")
    connector_for(channel).window_orders(WINDOW)
    connector_for(channel).window_orders(WINDOW)

    assert douyin.tokens == [{"code": "", "grant_type": "authorization_self", "shop_id": "1"}]
    # cached encrypted: the token is not readable in the cache value
    assert "token-1" not in str(cache.get(f"channels:douyin-token:{channel.pk}"))


def test_expired_token_is_refreshed_once_and_the_call_repeated(douyin):
    connector = connector_for(make_channel("douyin"))
    connector.window_orders(WINDOW)
    douyin.answers = [{"code": 30002, "msg": "access_token已过期",
                       "sub_code": "isv.access-token-expired"}]

    connector.window_orders(WINDOW)

    assert douyin.tokens[-1] == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert douyin.calls[-1][1]["access_token"] == "token-2"


def test_pages_from_zero_backwards(douyin):
    douyin.total = 150
    connector = connector_for(make_channel("douyin"))

    orders = connector.window_orders(WINDOW)

    pages = [json.loads(b)["page"] for p, q, b in douyin.calls if p == "/order/searchList"]
    assert pages == [0, 1, 0]
    assert len(orders) == 150


@pytest.mark.parametrize("code, expected", [
    (1, UNPAID), (105, UNPAID), (2, PAID), (3, PAID), (5, PAID), (4, CANCELLED),
])
def test_status_mapping(db, code, expected):
    assert STATUS[code] == expected
    assert DouyinConnector(make_channel("douyin")).normalize(
        douyin_order(order_status=code)).status == expected


def test_normalize_fen_amounts_gift_and_masks(db):
    norm = DouyinConnector(make_channel("douyin")).normalize(douyin_order())
    assert [(ln.platform_sku, ln.quantity, str(ln.unit_price), ln.is_gift) for ln in norm.lines] \
        == [("CUP-1", 2, "59.00", False), ("SLEEVE-1", 1, "0.00", True)]
    assert str(norm.total) == "128.00" and str(norm.shipping_fee) == "10.00"
    assert norm.ship_name == "张*" and norm.ship_phone == ""
    assert (norm.ship_province, norm.ship_city, norm.ship_district) == (
        "上海市", "上海市", "浦东新区")
    assert norm.placed_at == dt.datetime.fromtimestamp(1763604131, dt.UTC)


@pytest.mark.parametrize("answer, kind, retryable", [
    ({"code": 30002, "msg": "access_token已过期", "sub_code": "isv.access-token-expired"},
     AuthError, False),
    ({"code": 40004, "msg": "签名错误"}, AuthError, False),
    ({"code": 50002, "msg": "调用过于频繁", "sub_code": "isp.limit"}, ConnectorError, True),
    ({"code": 20000, "msg": "服务不可用"}, ConnectorError, True),
    ({"code": 40001, "msg": "参数错误", "sub_code": "isv.parameter-invalid"},
     PermanentError, False),
])
def test_code_other_than_10000(answer, kind, retryable):
    exc = douyin_error(answer)
    assert isinstance(exc, kind) and exc.retryable is retryable


def test_token_that_stays_invalid_pauses_the_channel(douyin):
    channel = make_channel("douyin")
    channel.cursor_at = NOW - dt.timedelta(minutes=20)
    channel.save()
    expired = {"code": 30002, "msg": "access_token已过期", "sub_code": "isv.access-token-expired"}
    douyin.answers = [expired, expired]

    outcome = channel_poll(channel=channel, connector=connector_for(channel))

    channel.refresh_from_db()
    assert outcome.status == "failed" and channel.paused
    assert "re-authorize" in channel.paused_reason


def test_access_token_in_the_url_never_reaches_the_log(douyin, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    connector_for(make_channel("douyin")).window_orders(WINDOW)

    assert "/order/searchList" in caplog.text  # the request was logged...
    assert "token-1" not in caplog.text  # ...without its token
    assert "access_token=***" in caplog.text
