"""Youzan connector: silent-authorisation token with expiry caching, trades.sold.get, errors."""

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
from channels.connectors.cn import Window
from channels.connectors.youzan import STATUS, YouzanConnector, youzan_error
from channels.services import channel_poll
from tests.channels.cn_support import NOW, YOUZAN, connector_for, load, make_channel

LIST_URL = f"{YOUZAN}/api/youzan.trades.sold.get/4.0.4"


def youzan_order(**info):
    order = copy.deepcopy(load("youzan_trades_sold_get.json")["data"]["full_order_info_list"][0]
                          ["full_order_info"])
    order["order_info"].update(info)
    return order


class FakeYouzan:
    def __init__(self, total=0):
        self.total, self.tokens, self.calls, self.answers = total, [], [], []
        self.expires = NOW + dt.timedelta(days=7)

    def token(self, request):
        self.tokens.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True, "code": 200, "data": {
            "access_token": f"yz-token-{len(self.tokens)}",
            "expires": int(self.expires.timestamp() * 1000), "scope": "trade"}})

    def api(self, request):
        body = json.loads(request.content)
        self.calls.append((request.url.params["access_token"], body))
        if self.answers:
            return httpx.Response(200, json=self.answers.pop(0))
        page, size = body["page_no"], body["page_size"]
        tids = list(range(self.total, 0, -1))[(page - 1) * size:page * size]
        return httpx.Response(200, json={"code": 200, "success": True, "data": {
            "total_results": self.total, "full_order_info_list": [
                {"full_order_info": youzan_order(tid=f"E{n:020d}")} for n in tids]}})


@pytest.fixture
def youzan(db):
    fake = FakeYouzan()
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{YOUZAN}/auth/token").mock(side_effect=fake.token)
        router.post(url__startswith=f"{YOUZAN}/api/").mock(side_effect=fake.api)
        yield fake


WINDOW = Window(NOW - dt.timedelta(minutes=30), NOW)


def test_token_by_silent_authorisation_is_cached_until_expiry(youzan):
    channel = make_channel("youzan")
    connector_for(channel).window_orders(WINDOW)
    connector_for(channel).window_orders(WINDOW)

    assert youzan.tokens == [{"client_id": "yz-client", "client_secret": "yz-secret",
                              "authorize_type": "silent", "grant_id": "90001",
                              "refresh": False}]
    assert [token for token, _body in youzan.calls] == ["yz-token-1", "yz-token-1"]
    assert "yz-token-1" not in str(cache.get(f"channels:youzan-token:{channel.pk}"))


def test_a_token_about_to_expire_is_not_cached(youzan):
    youzan.expires = NOW + dt.timedelta(minutes=2)
    channel = make_channel("youzan")
    connector_for(channel).window_orders(WINDOW)
    connector_for(channel).window_orders(WINDOW)
    assert len(youzan.tokens) == 2


def test_invalid_token_gets_a_new_one_once(youzan):
    connector = connector_for(make_channel("youzan"))
    youzan.answers = [{"gw_err_resp": {"err_code": 4203, "err_msg": "access_token不存在或已过期"}}]

    connector.window_orders(WINDOW)

    assert youzan.tokens[-1]["refresh"] is True
    assert [token for token, _body in youzan.calls] == ["yz-token-1", "yz-token-2"]


def test_lists_by_update_time_in_beijing_time_and_pages(youzan):
    youzan.total = 130
    connector = connector_for(make_channel("youzan"))

    orders = connector.window_orders(WINDOW)

    bodies = [body for _t, body in youzan.calls]
    assert bodies[0]["start_update"] == "2026-11-20 11:30:00"
    assert bodies[0]["end_update"] == "2026-11-20 12:00:00"
    assert [b["page_no"] for b in bodies] == [1, 2, 1]
    assert len(orders) == 130 and "order_info" in orders[0]


@pytest.mark.parametrize("status, expected", [
    ("WAIT_BUYER_PAY", UNPAID), ("WAIT_CONFIRM", UNPAID), ("WAIT_SELLER_SEND_GOODS", PAID),
    ("WAIT_BUYER_CONFIRM_GOODS", PAID), ("TRADE_SUCCESS", PAID), ("TRADE_CLOSED", CANCELLED),
])
def test_status_mapping(db, status, expected):
    assert STATUS[status] == expected
    assert YouzanConnector(make_channel("youzan")).normalize(
        youzan_order(status=status)).status == expected


def test_encrypted_receiver_is_kept_as_sent_regions_clear(db):
    norm = YouzanConnector(make_channel("youzan")).normalize(youzan_order())
    assert norm.ship_name == "$Ymq1aHdQ9cQ=$1$"  # ciphertext, as the platform sent it
    assert norm.ship_phone == ""  # never ciphertext in a phone field
    assert (norm.ship_province, norm.ship_city, norm.ship_district) == (
        "上海市", "上海市", "浦东新区")
    assert [(ln.platform_sku, ln.is_gift) for ln in norm.lines] == [("CUP-1", False),
                                                                    ("SLEEVE-1", True)]
    assert norm.buyer_message == "周末送货"


@pytest.mark.parametrize("answer, kind, retryable", [
    ({"gw_err_resp": {"err_code": 4001, "err_msg": "client_id无效"}}, AuthError, False),
    ({"gw_err_resp": {"err_code": 4601, "err_msg": "请求过于频繁"}}, ConnectorError, True),
    ({"success": False, "code": 106000001, "message": "每次可搜索一年订单记录"}, PermanentError,
     False),
])
def test_error_codes(answer, kind, retryable):
    exc = youzan_error(answer)
    assert isinstance(exc, kind) and exc.retryable is retryable


def test_token_refused_pauses_the_channel(db):
    channel = make_channel("youzan")
    channel.cursor_at = NOW - dt.timedelta(minutes=20)
    channel.save()
    with respx.mock() as router:
        router.post(f"{YOUZAN}/auth/token").respond(200, json={
            "success": False, "code": 4001, "message": "client_secret不正确"})
        outcome = channel_poll(channel=channel, connector=connector_for(channel))
    channel.refresh_from_db()
    assert outcome.status == "failed" and channel.paused
    assert "yz-secret" not in channel.paused_reason + channel.last_error
