"""Taobao/Tmall (TOP) connector: signing, windows, backward paging, errors, shipments."""

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
    NormalizationError,
    PermanentError,
)
from channels.connectors.cn import Window
from channels.connectors.taobao import STATUS, TaobaoConnector, top_error, top_sign
from channels.pipeline import ingest_items
from channels.services import channel_poll, shipment_push_deliver
from tests.channels.cn_support import NOW, TOP_GW, connector_for, load, make_channel

VECTOR = {"method": "taobao.trade.fullinfo.get", "app_key": "12345678", "session": "test",
          "timestamp": "2016-01-01 12:00:00", "format": "json", "v": "2.0",
          "fields": "tid,type,status,payment,orders", "tid": "11223344"}


@pytest.mark.parametrize("method, expected", [
    ("md5", "DAE4C765B6DC29FD8996BD5492075553"),
    ("hmac", "8DD569D003AE2F960E3BE1B5EE51B222"),
    ("hmac-sha256", "3C3A40EF0384793E43C7BB894BE05D0F37A191345F2E4723086472840785BB73"),
])
def test_sign_methods_reproduce_the_protocol_vectors(method, expected):
    assert top_sign({**VECTOR, "sign_method": method}, "helloworld", method) == expected


def test_sign_ignores_empty_values_and_the_sign_itself():
    base = top_sign({**VECTOR, "sign_method": "md5"}, "helloworld", "md5")
    assert top_sign({**VECTOR, "sign_method": "md5", "sign": "X", "empty": ""},
                    "helloworld", "md5") == base


def trade(tid=1, status="WAIT_SELLER_SEND_GOODS", modified="2026-11-20 11:00:00"):
    t = copy.deepcopy(load("taobao_trade_fullinfo.json")["trade_fullinfo_get_response"]["trade"])
    t.update(tid=tid, status=status, modified=modified)
    return t


class FakeTop:
    """A TOP gateway: ``total`` trades per window, sorted by modified descending."""

    def __init__(self, total=0, errors=None):
        self.total = total
        self.calls: list[dict] = []
        self.errors = list(errors or [])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.content.decode()))
        self.calls.append(params)
        if self.errors:
            return httpx.Response(200, json={"error_response": self.errors.pop(0)})
        method = params["method"]
        if method == "taobao.trades.sold.increment.get":
            page, size = int(params["page_no"]), int(params["page_size"])
            tids = list(range(self.total, 0, -1))[(page - 1) * size:page * size]
            body = {"trades": {"trade": [{"tid": t, "status": "WAIT_SELLER_SEND_GOODS"}
                                         for t in tids]}}
            if params["use_has_next"] == "true":
                body["has_next"] = page * size < self.total
            else:
                body["total_results"] = self.total
            return httpx.Response(200, json={"trades_sold_increment_get_response": body})
        if method == "taobao.trade.fullinfo.get":
            return httpx.Response(200, json={"trade_fullinfo_get_response": {
                "trade": trade(tid=int(params["tid"]))}})
        if method == "taobao.logistics.offline.send":
            return httpx.Response(200, json={"logistics_offline_send_response": {
                "shipping": {"is_success": True}}})
        return httpx.Response(200, json={"error_response": {"code": 22, "msg": "Invalid method"}})

    def pages(self):
        return [int(c["page_no"]) for c in self.calls
                if c["method"] == "taobao.trades.sold.increment.get"]


@pytest.fixture
def top(db):
    fake = FakeTop()
    with respx.mock(assert_all_called=False) as router:
        router.post(TOP_GW).mock(side_effect=fake)
        yield fake


WINDOW = Window(dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC),
                dt.datetime(2026, 11, 20, 2, 30, tzinfo=dt.UTC))


def test_request_carries_common_params_and_a_valid_signature(top):
    channel = make_channel("taobao", config={"sign_method": "hmac"})
    connector = connector_for(channel)

    connector.window_orders(WINDOW)

    params = top.calls[0]
    assert params["method"] == "taobao.trades.sold.increment.get"
    assert params["app_key"] == "12345678" and params["session"] == "sess-token-123"
    assert params["timestamp"] == "2026-11-20 12:00:00"  # Beijing time
    assert (params["v"], params["format"], params["sign_method"]) == ("2.0", "json", "hmac")
    # the window in Beijing time
    assert (params["start_modified"], params["end_modified"]) == (
        "2026-11-20 10:00:00", "2026-11-20 10:30:00")
    assert params["sign"] == top_sign(params, "top-secret", "hmac")
    assert "app_secret" not in params and "top-secret" not in str(params)


def test_pages_are_read_from_the_last_backwards_then_details_fetched(top):
    top.total = 250
    connector = connector_for(make_channel("taobao", config={"page_size": 100}))

    trades = connector.window_orders(WINDOW)

    assert top.pages() == [1, 3, 2, 1]
    assert sorted(t["tid"] for t in trades) == list(range(1, 251))  # each trade once
    fullinfo = [c for c in top.calls if c["method"] == "taobao.trade.fullinfo.get"]
    assert len(fullinfo) == 250
    assert "orders.outer_sku_id" in fullinfo[0]["fields"]


def test_has_next_mode_pages_forward(top):
    top.total = 150
    connector = connector_for(make_channel("taobao", config={"paging": "has_next"}))

    trades = connector.window_orders(WINDOW)

    assert top.pages() == [1, 2]
    assert {c["use_has_next"] for c in top.calls if "page_no" in c} == {"true"}
    assert len(trades) == 150


def test_a_window_with_more_than_the_page_limit_is_split(top):
    # given a platform that holds 300 orders in any window, and at most 200 may be paged
    top.total = 300
    connector = connector_for(make_channel("taobao", config={"max_window_results": 200}))
    connector.min_split_seconds = 15 * 60

    with pytest.raises(PermanentError, match="cannot be split further"):
        connector.window_orders(WINDOW)

    windows = [(c["start_modified"], c["end_modified"]) for c in top.calls]
    # the 30-minute window was split into two 15-minute halves, no gap between them
    assert ("2026-11-20 10:00:00", "2026-11-20 10:15:00") in windows
    assert ("2026-11-20 10:15:00", "2026-11-20 10:30:00") not in windows  # first half failed


def test_split_halves_cover_the_window_exactly(db):
    calls = []

    def counting(request):
        params = dict(parse_qsl(request.content.decode()))
        calls.append((params["start_modified"], params["end_modified"]))
        span = (dt.datetime.fromisoformat(params["end_modified"])
                - dt.datetime.fromisoformat(params["start_modified"]))
        total = 150 if span > dt.timedelta(minutes=10) else 40
        return httpx.Response(200, json={"trades_sold_increment_get_response": {
            "total_results": total, "trades": {"trade": []}}})

    with respx.mock() as router:
        router.post(TOP_GW).mock(side_effect=counting)
        connector = connector_for(make_channel("taobao", config={"max_window_results": 100}))
        connector.window_orders(WINDOW)
    leaves = [w for w in calls if dt.datetime.fromisoformat(w[1])
              - dt.datetime.fromisoformat(w[0]) <= dt.timedelta(minutes=10)]
    assert leaves == sorted(leaves)
    assert leaves[0][0] == "2026-11-20 10:00:00" and leaves[-1][1] == "2026-11-20 10:30:00"
    assert all(a[1] == b[0] for a, b in zip(leaves, leaves[1:], strict=False))


@pytest.mark.parametrize("status, expected", [
    ("WAIT_BUYER_PAY", UNPAID), ("TRADE_NO_CREATE_PAY", UNPAID), ("PAY_PENDING", UNPAID),
    ("PAID_FORBID_CONSIGN", UNPAID),  # paid, but the platform forbids shipping yet
    ("WAIT_SELLER_SEND_GOODS", PAID),
    ("WAIT_BUYER_CONFIRM_GOODS", PAID), ("TRADE_FINISHED", PAID),
    ("TRADE_CLOSED", CANCELLED), ("TRADE_CLOSED_BY_TAOBAO", CANCELLED),
])
def test_status_mapping(db, status, expected):
    connector = TaobaoConnector(make_channel("taobao"))
    assert connector.normalize(trade(status=status)).status == expected
    assert STATUS[status] == expected


def test_unknown_status_is_refused(db):
    with pytest.raises(NormalizationError, match="unknown trade status"):
        TaobaoConnector(make_channel("taobao")).normalize(trade(status="SOMETHING_NEW"))


def test_normalize_keeps_masked_values_and_clear_regions(db):
    norm = TaobaoConnector(make_channel("taobao")).normalize(trade(tid=42))
    assert norm.external_id == "42"
    assert [(ln.platform_sku, ln.quantity, str(ln.unit_price), ln.is_gift) for ln in norm.lines] \
        == [("CUP-1", 2, "59.00", False), ("SLEEVE-1", 1, "0.00", True)]
    assert (norm.ship_province, norm.ship_city, norm.ship_district) == (
        "上海", "上海市", "浦东新区")
    assert norm.ship_name == "张*" and "**" in norm.ship_street
    assert norm.ship_phone == ""  # "*******8000" is not a phone number
    assert norm.updated_at == dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
    assert str(norm.total) == "128.00" and str(norm.shipping_fee) == "10.00"


def test_refunded_lines_are_dropped_and_all_refunded_cancels(db):
    connector = TaobaoConnector(make_channel("taobao"))
    partly = trade()
    partly["orders"]["order"][1]["refund_status"] = "SUCCESS"
    assert [ln.platform_sku for ln in connector.normalize(partly).lines] == ["CUP-1"]
    for line in partly["orders"]["order"]:
        line["refund_status"] = "SUCCESS"
    assert connector.normalize(partly).status == CANCELLED


def test_ciphertext_in_the_province_is_quarantined_not_lost(db):
    channel = make_channel("taobao")
    bad = trade(tid=7)
    bad["receiver_state"] = "~AgAAAAGe4bzDGk3fBPKmqb8m~0~"

    result = ingest_items(channel=channel, items=[bad], source="poll",
                          normalizer=TaobaoConnector(channel))

    assert result.rejected == 1
    raw = channel.raw_payloads.get()
    assert raw.status == "quarantined" and "must arrive in clear" in raw.error


@pytest.mark.parametrize("error, kind, retryable", [
    ({"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}, AuthError, False),
    ({"code": 26, "msg": "Missing session"}, AuthError, False),
    ({"code": 25, "msg": "Invalid signature"}, AuthError, False),
    ({"code": 15, "msg": "Remote service error", "sub_code": "isp.top-remote-connection-timeout"},
     ConnectorError, True),
    ({"code": 15, "msg": "Remote service error", "sub_code": "isv.trade-not-exist"},
     PermanentError, False),
    ({"code": 41, "msg": "Invalid arguments", "sub_code": "isv.invalid-parameter"},
     PermanentError, False),
    ({"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-app-access-count",
      "sub_msg": "This ban will last for 12 more seconds"}, ConnectorError, True),
])
def test_error_codes_map_to_retry_report_or_pause(error, kind, retryable):
    exc = top_error(error)
    assert type(exc) is kind
    assert exc.retryable is retryable


def test_invalid_session_says_re_authorize():
    assert "re-authorize" in top_error({"code": 27, "msg": "Invalid session"}).message


def test_throttled_call_waits_as_told_then_succeeds(top):
    top.errors = [{"code": 7, "msg": "App Call Limited",
                   "sub_code": "accesscontrol.limited-by-app-access-count",
                   "sub_msg": "This ban will last for 12 more seconds"}]
    connector = connector_for(make_channel("taobao"))

    assert connector.window_orders(WINDOW) == []

    assert 12 in connector.sleep
    assert len(top.calls) == 2


def test_platform_fault_is_retried_a_bounded_number_of_times(top):
    top.errors = [{"code": 15, "msg": "Remote service error", "sub_code": "isp.unknown-error"}] * 9
    connector = connector_for(make_channel("taobao"))

    with pytest.raises(ConnectorError) as caught:
        connector.window_orders(WINDOW)

    assert caught.value.retryable and len(top.calls) == connector.max_call_attempts


def test_expired_session_pauses_the_channel_with_re_authorize(top):
    top.errors = [{"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}]
    channel = make_channel("taobao")
    channel.cursor_at = NOW - dt.timedelta(hours=1)
    channel.save()

    outcome = channel_poll(channel=channel, connector=connector_for(channel))

    channel.refresh_from_db()
    assert outcome.status == "failed"
    assert channel.paused and "re-authorize" in channel.paused_reason
    assert channel.cursor_at == NOW - dt.timedelta(hours=1)  # nothing skipped


def test_xml_answer_is_a_clear_error_and_moves_nothing(db):
    channel = make_channel("taobao")
    channel.cursor_at = NOW - dt.timedelta(hours=1)
    channel.save()
    xml = ('<?xml version="1.0" encoding="utf-8"?><error_response><code>15</code>'
           '<msg>Remote service error</msg></error_response>')
    with respx.mock() as router:
        router.post(TOP_GW).respond(200, text=xml, headers={"Content-Type": "text/xml"})
        outcome = channel_poll(channel=channel, connector=connector_for(channel))

    channel.refresh_from_db()
    assert outcome.status == "failed"
    assert "XML although JSON was asked" in channel.last_error
    assert "Remote service error" in channel.last_error
    assert channel.cursor_at == NOW - dt.timedelta(hours=1)


def test_poll_walks_windows_and_moves_the_cursor_to_the_last_window_end(top):
    top.total = 2
    channel = make_channel("taobao", config={"window_lag_seconds": 0})
    channel.overlap_seconds = 600
    channel.cursor_at = NOW - dt.timedelta(hours=1)
    channel.save()

    outcome = channel_poll(channel=channel, connector=connector_for(channel))

    assert outcome.status == "ok", outcome.error
    windows = [(c["start_modified"], c["end_modified"]) for c in top.calls
               if c["method"] == "taobao.trades.sold.increment.get"]
    # from the cursor minus the overlap, in 30-minute windows, up to now
    assert windows == [("2026-11-20 10:50:00", "2026-11-20 11:20:00"),
                       ("2026-11-20 11:20:00", "2026-11-20 11:50:00"),
                       ("2026-11-20 11:50:00", "2026-11-20 12:00:00")]
    channel.refresh_from_db()
    assert channel.cursor_at == NOW
    assert outcome.result.created == 2  # the same two trades in each window: one order each


def test_shipment_push_uses_logistics_offline_send(top, make_order):
    channel = make_channel("taobao", config={"company_codes": {"SF": "SF"}})
    order = make_order("shipped", channel=channel, external_id="2231958349530568001",
                       carrier="SF", tracking_number="SF1400000000001")
    from channels.models import ShipmentPush

    push = ShipmentPush.objects.create(order=order, channel=channel, carrier="SF",
                                       tracking_number="SF1400000000001")
    assert shipment_push_deliver(push_id=push.pk, connector=connector_for(channel)) == "sent"
    sent = top.calls[-1]
    assert (sent["method"], sent["tid"], sent["out_sid"], sent["company_code"]) == (
        "taobao.logistics.offline.send", "2231958349530568001", "SF1400000000001", "SF")
