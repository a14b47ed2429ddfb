"""Pinduoduo connector: MD5 sign, 30-minute epoch windows ending 3 minutes ago, errors."""

import copy
import datetime as dt
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from channels.connectors.base import (
    CANCELLED,
    PAID,
    UNPAID,
    AuthError,
    ConnectorError,
    PermanentError,
)
from channels.connectors.cn import epoch
from channels.connectors.pinduoduo import PinduoduoConnector, pdd_error, pdd_sign, pdd_status
from channels.services import channel_poll, shipment_push_deliver
from tests.channels.cn_support import NOW, PDD_GW, connector_for, load, make_channel


def test_sign_reproduces_the_protocol_vector():
    params = {"type": "pdd.order.number.list.increment.get", "client_id": "cid",
              "access_token": "tok", "timestamp": 1700000000, "data_type": "JSON",
              "is_lucky_flag": 0, "order_status": 5, "refund_status": 5,
              "start_updated_at": 1700000000, "end_updated_at": 1700001800, "page": 1,
              "page_size": 100}
    assert pdd_sign(params, "csecret") == "A03EDFBB973DC15B8971A62BDAF09A73"


def pdd_order(**overrides):
    order = copy.deepcopy(load("pdd_increment.json")["order_sn_increment_get_response"]
                          ["order_sn_list"][0])
    order.update(overrides)
    return order


class FakePdd:
    def __init__(self, total=0, errors=None):
        self.total, self.errors, self.calls = total, list(errors or []), []

    def __call__(self, request):
        params = dict(parse_qsl(request.content.decode()))
        self.calls.append(params)
        if self.errors:
            return httpx.Response(200, json={"error_response": self.errors.pop(0)})
        if params["type"] == "pdd.logistics.online.send":
            return httpx.Response(200, json={"logistics_online_send_response": {
                "is_success": True}})
        page, size = int(params["page"]), int(params["page_size"])
        sns = list(range(self.total, 0, -1))[(page - 1) * size:page * size]
        return httpx.Response(200, json={"order_sn_increment_get_response": {
            "total_count": self.total, "has_next": page * size < self.total,
            "order_sn_list": [pdd_order(order_sn=f"261120-{n:015d}") for n in sns]}})


@pytest.fixture
def pdd(db):
    fake = FakePdd()
    with respx.mock(assert_all_called=False) as router:
        router.post(PDD_GW).mock(side_effect=fake)
        yield fake


def test_poll_uses_epoch_windows_of_30_minutes_ending_3_minutes_before_now(pdd):
    # given a channel synced up to 80 minutes ago, with a 10-minute overlap
    channel = make_channel("pinduoduo")
    channel.cursor_at = NOW - dt.timedelta(minutes=80)
    channel.save()
    pdd.total = 1

    outcome = channel_poll(channel=channel, connector=connector_for(channel))

    assert outcome.status == "ok", outcome.error
    windows = [(int(c["start_updated_at"]), int(c["end_updated_at"])) for c in pdd.calls]
    start = epoch(NOW - dt.timedelta(minutes=90))
    assert windows == [(start, start + 1800), (start + 1800, start + 3600),
                       (start + 3600, epoch(NOW) - 180)]
    assert all(end - begin <= 1800 for begin, end in windows)
    params = pdd.calls[0]
    assert params["timestamp"] == str(epoch(NOW)) and params["data_type"] == "JSON"
    assert params["sign"] == pdd_sign(params, "csecret")
    channel.refresh_from_db()
    assert channel.cursor_at == NOW - dt.timedelta(minutes=3)
    assert outcome.result.created == 1


def test_pages_backwards_using_the_total_count(pdd):
    pdd.total = 230
    connector = connector_for(make_channel("pinduoduo"))
    from channels.connectors.cn import Window

    orders = connector.window_orders(Window(NOW - dt.timedelta(minutes=30), NOW))

    assert [int(c["page"]) for c in pdd.calls] == [1, 3, 2, 1]
    assert len({o["order_sn"] for o in orders}) == 230 == len(orders)


def test_has_next_paging(pdd):
    pdd.total = 120
    connector = connector_for(make_channel("pinduoduo", config={"paging": "has_next"}))
    from channels.connectors.cn import Window

    orders = connector.window_orders(Window(NOW - dt.timedelta(minutes=30), NOW))

    assert [int(c["page"]) for c in pdd.calls] == [1, 2]
    assert len(orders) == 120


@pytest.mark.parametrize("fields, expected", [
    ({"order_status": 1, "confirm_status": 1, "refund_status": 1}, PAID),
    ({"order_status": 2, "confirm_status": 1, "refund_status": 1}, PAID),
    ({"order_status": 3, "confirm_status": 1, "refund_status": 2}, PAID),
    ({"order_status": 1, "confirm_status": 1, "refund_status": 3}, PAID),
    ({"order_status": 1, "confirm_status": 1, "refund_status": 4}, CANCELLED),
    ({"order_status": 1, "confirm_status": 0, "refund_status": 1}, UNPAID),
    ({"order_status": 1, "confirm_status": 2, "refund_status": 1}, CANCELLED),
])
def test_status_and_refund_status_mapping(fields, expected):
    assert pdd_status(pdd_order(**fields)) == expected


def test_normalize_gifts_outer_id_and_masked_recipient(db):
    norm = PinduoduoConnector(make_channel("pinduoduo")).normalize(pdd_order())
    assert [(ln.platform_sku, ln.quantity, str(ln.unit_price), ln.is_gift) for ln in norm.lines] \
        == [("CUP-1", 2, "59.00", False), ("SLEEVE-1", 1, "0.00", True)]
    assert norm.ship_name == "张*" and norm.ship_street == "世纪大道****"
    assert norm.ship_phone == ""
    assert (norm.ship_province, norm.ship_city, norm.ship_district) == (
        "上海市", "上海市", "浦东新区")
    assert norm.placed_at == dt.datetime(2026, 11, 20, 2, 2, 11, tzinfo=dt.UTC)
    assert str(norm.total) == "128.00"


@pytest.mark.parametrize("error, kind, retryable", [
    ({"error_code": 10019, "error_msg": "access_token已过期"}, AuthError, False),
    ({"error_code": 10016, "error_msg": "签名错误"}, AuthError, False),
    ({"error_code": 70031, "error_msg": "调用过于频繁"}, ConnectorError, True),
    ({"error_code": 50001, "error_msg": "服务不可用"}, ConnectorError, True),
    ({"error_code": 10000, "error_msg": "参数错误"}, PermanentError, False),
])
def test_error_codes(error, kind, retryable):
    exc = pdd_error(error)
    assert type(exc) is kind and exc.retryable is retryable


def test_throttle_is_retried_then_succeeds(pdd):
    pdd.errors = [{"error_code": 70031, "error_msg": "调用过于频繁"}]
    pdd.total = 1
    connector = connector_for(make_channel("pinduoduo"))
    from channels.connectors.cn import Window

    assert len(connector.window_orders(Window(NOW - dt.timedelta(minutes=30), NOW))) == 1
    assert len(pdd.calls) == 2 and connector.sleep


def test_expired_token_pauses_the_channel(pdd):
    pdd.errors = [{"error_code": 10019, "error_msg": "access_token已过期"}]
    channel = make_channel("pinduoduo")
    channel.cursor_at = NOW - dt.timedelta(minutes=40)
    channel.save()

    outcome = channel_poll(channel=channel, connector=connector_for(channel))

    channel.refresh_from_db()
    assert outcome.status == "failed" and channel.paused
    assert "re-authorize" in channel.paused_reason
    assert "pdd-token-123" not in channel.paused_reason + channel.last_error


def test_shipment_push(pdd, make_order):
    from channels.models import ShipmentPush

    channel = make_channel("pinduoduo")
    order = make_order("shipped", channel=channel, external_id="261120-000000000000001",
                       carrier="SF", tracking_number="SF1400000000001")
    push = ShipmentPush.objects.create(order=order, channel=channel, carrier="SF",
                                       tracking_number="SF1400000000001")
    assert shipment_push_deliver(push_id=push.pk, connector=connector_for(channel)) == "sent"
    sent = pdd.calls[-1]
    assert (sent["type"], sent["order_sn"], sent["logistics_id"], sent["tracking_number"]) == (
        "pdd.logistics.online.send", "261120-000000000000001", "44", "SF1400000000001")


def test_unknown_carrier_fails_the_push_clearly(pdd, make_order):
    from channels.models import ShipmentPush

    channel = make_channel("pinduoduo")
    order = make_order("shipped", channel=channel, carrier="XYZ", tracking_number="1")
    push = ShipmentPush.objects.create(order=order, channel=channel, carrier="XYZ",
                                       tracking_number="1")
    assert shipment_push_deliver(push_id=push.pk, connector=connector_for(channel)) == "failed"
    push.refresh_from_db()
    assert "carrier_map" in push.last_error


def test_windows_always_end_3_minutes_before_now_whatever_the_setting(pdd):
    channel = make_channel("pinduoduo", config={"window_lag_seconds": 0})
    channel.cursor_at = NOW - dt.timedelta(minutes=5)
    channel.overlap_seconds = 0
    channel.save()

    channel_poll(channel=channel, connector=connector_for(channel))

    assert [int(c["end_updated_at"]) for c in pdd.calls] == [epoch(NOW) - 180]
