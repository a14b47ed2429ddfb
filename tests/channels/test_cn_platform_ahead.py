"""CN connectors against their documented shapes: platform-shipped orders, Douyin address
objects, gifts, carrier codes, write-back that tells the truth, token error classes."""

import copy
import itertools
import json
from decimal import Decimal

import httpx
import pytest
import respx

from channels.connectors.base import (
    COMPLETED,
    DELIVERED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    AmbiguousReply,
    AuthError,
    ConnectorError,
    NormalizationError,
    PermanentError,
)
from tests.channels.cn_support import (
    CN_FIXTURES,
    DOUYIN_GW,
    PDD_GW,
    TOP_GW,
    YOUZAN,
    connector_for,
    load,
    make_channel,
)

SHIPPED_DIR = CN_FIXTURES.parent / "shipped"


def tb_trade(**overrides):
    trade = copy.deepcopy(load("taobao_trade_shipped.json")["trade_fullinfo_get_response"]["trade"])
    trade.update(overrides)
    return trade


def pdd_order(**overrides):
    order = copy.deepcopy(load("pdd_order_shipped.json")["order_info_get_response"]["order_info"])
    order.update(overrides)
    return order


def dy_order(**overrides):
    order = copy.deepcopy(load("douyin_order_detail_shipped.json")["data"]["shop_order_detail"])
    order.update(overrides)
    return order


def yz_order(status=None):
    order = copy.deepcopy(load("youzan_trade_shipped.json")["data"]["full_order_info"])
    if status:
        order["order_info"]["status"] = status
    return order


_codes = iter(range(1, 10_000))


def connector(platform, **config):
    credentials = None
    if platform == "douyin":
        credentials = {"app_key": "7000000000000000000", "app_secret": "appsecret",
                       "access_token": "dy-token"}
    return connector_for(make_channel(platform, code=f"{platform}-{next(_codes)}",
                                      config=config, credentials=credentials))


# --- already shipped on the platform ------------------------------------------------------

@pytest.mark.parametrize("status, fulfillment", [
    ("WAIT_BUYER_CONFIRM_GOODS", SHIPPED), ("TRADE_BUYER_SIGNED", DELIVERED),
    ("TRADE_FINISHED", COMPLETED), ("WAIT_SELLER_SEND_GOODS", NOT_SHIPPED),
])
def test_taobao_shipped_states_carry_the_parcel(db, status, fulfillment):
    trade = tb_trade(status=status)
    if fulfillment == NOT_SHIPPED:
        for line in trade["orders"]["order"]:
            line.update(status=status, consign_time="", invoice_no="", logistics_company="")
    norm = connector("taobao").normalize(trade)
    assert (norm.status, norm.fulfillment) == (PAID, fulfillment)
    if fulfillment:
        [parcel] = norm.shipments
        assert (parcel.carrier, parcel.tracking_number) == ("中通快递", "78812345678901")
        assert parcel.shipped_at.isoformat() == "2026-11-19T08:40:01+00:00"
        assert all(line.shipped_quantity == line.quantity for line in norm.lines)
    else:
        assert norm.shipments == [] and all(not x.shipped_quantity for x in norm.lines)


def test_taobao_partly_shipped_picks_only_what_is_left(db):
    trade = tb_trade(status="SELLER_CONSIGNED_PART")
    cup, sleeve = trade["orders"]["order"]
    sleeve.update(status="WAIT_SELLER_SEND_GOODS", consign_time="", invoice_no="",
                  logistics_company="")
    norm = connector("taobao").normalize(trade)
    assert norm.fulfillment == PARTIALLY_SHIPPED
    shipped = {line.external_line_id: line.shipped_quantity for line in norm.lines}
    assert shipped == {str(cup["oid"]): 2, str(sleeve["oid"]): 0}
    assert norm.shipments[0].lines == {str(cup["oid"]): 2}


def test_taobao_partly_shipped_without_line_detail_is_refused(db):
    trade = tb_trade(status="SELLER_CONSIGNED_PART")
    for line in trade["orders"]["order"]:
        line.update(status="WAIT_SELLER_SEND_GOODS", consign_time="", invoice_no="")
    with pytest.raises(NormalizationError, match="partly shipped"):
        connector("taobao").normalize(trade)


@pytest.mark.parametrize("order_status, fulfillment", [
    (1, NOT_SHIPPED), (2, SHIPPED), (3, DELIVERED),
])
def test_pdd_order_status_maps_to_fulfilment_with_logistics_id(db, order_status, fulfillment):
    order = pdd_order(order_status=order_status)
    if order_status == 1:
        order.update(tracking_number="", logistics_id=0, shipping_time="")
    norm = connector("pinduoduo").normalize(order)
    assert (norm.status, norm.fulfillment) == (PAID, fulfillment)
    if fulfillment:
        [parcel] = norm.shipments
        assert (parcel.carrier, parcel.tracking_number) == ("44", "SF1400012345678")
        assert all(line.shipped_quantity == line.quantity for line in norm.lines)
    else:
        assert norm.shipments == []


def test_pdd_unknown_order_status_says_what_is_known(db):
    with pytest.raises(NormalizationError, match="unknown order_status “7”.*1 .*2 .*3"):
        connector("pinduoduo").normalize(pdd_order(order_status=7))


@pytest.mark.parametrize("order_status, fulfillment", [(3, SHIPPED), (5, COMPLETED)])
def test_douyin_shipped_and_completed_carry_logistics_info(db, order_status, fulfillment):
    norm = connector("douyin").normalize(dy_order(order_status=order_status))
    assert (norm.status, norm.fulfillment) == (PAID, fulfillment)
    [parcel] = norm.shipments
    assert (parcel.carrier, parcel.tracking_number) == ("yuantong", "YT7512345678901")
    assert parcel.lines == {"6912345678901234601": 2, "6912345678901234602": 1}


def test_douyin_partly_shipped_from_the_parcels_lines(db):
    order = dy_order(order_status=101)
    order["logistics_info"][0]["product_info"] = order["logistics_info"][0]["product_info"][:1]
    order["sku_order_list"][1]["order_status"] = 2
    norm = connector("douyin").normalize(order)
    assert norm.fulfillment == PARTIALLY_SHIPPED
    assert [(x.external_line_id, x.shipped_quantity) for x in norm.lines] == [
        ("6912345678901234601", 2), ("6912345678901234602", 0)]


def test_douyin_unknown_status_is_explained(db):
    with pytest.raises(NormalizationError, match="unknown order_status “77” .*新状态"):
        connector("douyin").normalize(dy_order(order_status=77, order_status_desc="新状态"))


@pytest.mark.parametrize("status, fulfillment", [
    ("WAIT_BUYER_CONFIRM_GOODS", SHIPPED), ("TRADE_SUCCESS", COMPLETED),
])
def test_youzan_shipped_states_carry_the_express(db, status, fulfillment):
    norm = connector("youzan").normalize(yz_order(status))
    assert (norm.status, norm.fulfillment) == (PAID, fulfillment)
    [parcel] = norm.shipments
    assert (parcel.carrier, parcel.tracking_number) == ("7", "SF1400012345679")


def test_youzan_parcel_for_some_lines_while_waiting_is_partial(db):
    order = yz_order("WAIT_SELLER_SEND_GOODS")
    order["delivery_order"][0]["oids"] = [{"oid": "1563210987654401"}]
    norm = connector("youzan").normalize(order)
    assert norm.fulfillment == PARTIALLY_SHIPPED
    assert [x.shipped_quantity for x in norm.lines] == [2, 0]


def test_youzan_unknown_status_is_refused(db):
    with pytest.raises(NormalizationError, match="unknown status “NEW_THING”"):
        connector("youzan").normalize(yz_order("NEW_THING"))


@pytest.mark.parametrize("platform", ["taobao", "pinduoduo", "douyin", "youzan"])
def test_saved_shipped_order_imports_as_shipped(db, platform):
    conn = connector(platform)
    data = json.loads((SHIPPED_DIR / f"{platform}.json").read_text())
    [raw] = conn.orders_from_file(data)
    norm = conn.normalize(raw)
    assert norm.status == PAID and norm.fulfillment == SHIPPED
    assert norm.shipments and norm.shipments[0].tracking_number


# --- Douyin's address object ----------------------------------------------------------------

def test_douyin_address_objects_give_regions_street_and_the_masked_detail(db):
    norm = connector("douyin").normalize(dy_order())
    regions = (norm.ship_province, norm.ship_city, norm.ship_district)
    assert regions == ("浙江省", "杭州市", "西湖区")
    assert norm.ship_street == "西溪街道 文三路****"  # masked detail, never the ciphertext
    assert (norm.ship_name, norm.ship_phone) == ("李*", "")


def test_douyin_address_with_only_encrypted_detail_keeps_it_as_sent(db):
    order = dy_order()
    del order["mask_post_addr"]
    norm = connector("douyin").normalize(order)
    assert norm.ship_province == "浙江省"
    assert norm.ship_street.startswith("西溪街道 ~PQ7n1b6D7s0x~")


def test_douyin_plain_text_address_forms_are_accepted(db):
    order = dy_order(mask_post_addr="文三路****")
    order["post_addr"] = {"province": "浙江省", "city": "杭州市", "town": "西湖区",
                          "street": "西溪街道", "detail": "文三路****"}
    norm = connector("douyin").normalize(order)
    assert (norm.ship_province, norm.ship_district, norm.ship_street) == (
        "浙江省", "西湖区", "西溪街道 文三路****")


def test_douyin_address_of_another_type_is_refused_clearly(db):
    with pytest.raises(NormalizationError, match="post_addr is neither"):
        connector("douyin").normalize(dy_order(post_addr=[1, 2]))


# --- gifts ----------------------------------------------------------------------------------

def test_taobao_zero_price_gift_keyword_line_is_bound_to_the_main_item(db):
    norm = connector("taobao").normalize(tb_trade())
    cup, sleeve = norm.lines
    assert (cup.is_gift, sleeve.is_gift) == (False, True)
    assert sleeve.gift_for == cup.external_line_id


def test_full_discount_is_not_a_gift_but_a_channel_keyword_is(db):
    trade = tb_trade()
    cup, sleeve = trade["orders"]["order"]
    cup.update(payment="0.00")  # a 100 % discount keeps its list price
    sleeve.update(title="杯套 加购礼", price="3.00", payment="3.00")
    plain = connector("taobao").normalize(copy.deepcopy(trade))
    assert [x.is_gift for x in plain.lines] == [False, False]
    custom = connector("taobao", gift_keywords="加购礼").normalize(trade)
    assert [x.is_gift for x in custom.lines] == [False, True]


@pytest.mark.parametrize("platform, make", [
    ("pinduoduo", pdd_order), ("douyin", dy_order), ("youzan", lambda: yz_order()),
])
def test_platform_gift_flags_bind_to_the_first_item(db, platform, make):
    main, gift = connector(platform).normalize(make()).lines
    assert (main.is_gift, gift.is_gift, gift.unit_price) == (False, True, Decimal("0.00"))
    assert gift.gift_for == main.external_line_id


# --- carrier codes --------------------------------------------------------------------------

@pytest.mark.parametrize("platform, expected", [
    ("taobao", {"SF": "SF", "ZTO": "ZTO", "YTO": "YTO", "STO": "STO", "YUNDA": "YUNDA",
                "JD": "JD", "EMS": "EMS", "JTSD": "LB", "DEPPON": "DBKD", "BEST": "HTKY"}),
    ("pinduoduo", {"SF": "44", "ZTO": "115", "YTO": "85", "STO": "1", "YUNDA": "121",
                   "JD": "120", "EMS": "118", "JTSD": "384", "DEPPON": "131", "BEST": "3"}),
    ("douyin", {"SF": "shunfeng", "ZTO": "zhongtong", "YTO": "yuantong", "STO": "shentong",
                "YUNDA": "yunda", "JD": "jd", "EMS": "ems", "JTSD": "jtexpress",
                "DEPPON": "debangwuliu", "BEST": "huitongkuaidi"}),
    ("youzan", {"SF": "7", "STO": "1", "YTO": "2", "ZTO": "3", "YUNDA": "4", "BEST": "6",
                "EMS": "11"}),
])
def test_carrier_codes_per_platform_and_channel_override(db, platform, expected):
    conn = connector(platform)
    assert {k: conn.carrier_name(k) for k in expected} == expected
    assert connector(platform, carrier_map={"SF": "X1"}).carrier_name("SF") == "X1"


# --- write-back -----------------------------------------------------------------------------

def ship(platform, answer, **config):
    conn = connector(platform, **config)
    url = {"taobao": TOP_GW, "pinduoduo": PDD_GW, "douyin": f"{DOUYIN_GW}/order/logisticsAdd",
           "youzan": f"{YOUZAN}/api/youzan.logistics.online.confirm/3.0.0"}[platform]
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{YOUZAN}/auth/token").respond(200, json={
            "success": True, "code": 200, "data": {"access_token": "yz-token",
                                                   "expires": 4102444800000}})
        route = router.post(url).mock(side_effect=answer)
        try:
            return conn.push_shipment(external_id="T1", carrier="SF",
                                      tracking_number="SF1400000000001"), route
        finally:
            conn.close()


GOOD = {
    "taobao": {"logistics_offline_send_response": {"shipping": {"is_success": True}}},
    "pinduoduo": {"logistics_online_send_response": {"is_success": True}},
    "douyin": {"code": 10000, "msg": "success", "data": {}},
    "youzan": {"success": True, "code": 200, "data": {"is_success": True}},
}


@pytest.mark.parametrize("platform, code_field, code", [
    ("taobao", "company_code", "SF"), ("pinduoduo", "logistics_id", "44"),
    ("douyin", "company_code", "shunfeng"), ("youzan", "out_stype", "7"),
])
def test_push_sends_the_platforms_carrier_code(db, platform, code_field, code):
    result, route = ship(platform, lambda request: httpx.Response(200, json=GOOD[platform]))
    assert result.ok
    request = route.calls.last.request
    body = request.content.decode()
    sent = (dict(httpx.QueryParams(body)) if platform in ("taobao", "pinduoduo")
            else json.loads(body))
    assert str(sent[code_field]) == code


@pytest.mark.parametrize("platform", ["taobao", "pinduoduo", "douyin", "youzan"])
@pytest.mark.parametrize("answer", [
    lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)),
    lambda request: httpx.Response(200, content=b'{"logistics_offline_send_response": {"shi'),
    lambda request: httpx.Response(502, text="Bad Gateway"),
], ids=["timeout", "cut-off", "502"])
def test_an_unclear_answer_to_a_push_is_ambiguous_and_sent_once(db, platform, answer):
    with pytest.raises(AmbiguousReply):
        ship(platform, answer)


@pytest.mark.parametrize("platform", ["taobao", "pinduoduo", "douyin", "youzan"])
def test_a_connect_failure_is_retryable_not_ambiguous(db, platform):
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)
    with pytest.raises(ConnectorError) as caught:
        ship(platform, refuse)
    assert not isinstance(caught.value, AmbiguousReply) and caught.value.retryable


def test_pdd_push_without_a_logistics_id_is_refused_before_sending(db):
    conn = connector("pinduoduo")
    with pytest.raises(PermanentError, match="carrier_map"):
        conn.push_shipment(external_id="T1", carrier="XYZ", tracking_number="1")


READ_BACK = {
    "taobao": (TOP_GW, lambda: {"trade_fullinfo_get_response": {"trade": tb_trade()}},
               "78812345678901"),
    "pinduoduo": (PDD_GW, lambda: {"order_info_get_response": {"order_info": pdd_order()}},
                  "SF1400012345678"),
    "douyin": (f"{DOUYIN_GW}/order/orderDetail",
               lambda: {"code": 10000, "data": {"shop_order_detail": dy_order()}},
               "YT7512345678901"),
    "youzan": (f"{YOUZAN}/api/youzan.trade.get/4.0.0",
               lambda: {"success": True, "code": 200, "data": {"full_order_info": yz_order()}},
               "SF1400012345679"),
}


@pytest.mark.parametrize("platform", ["taobao", "pinduoduo", "douyin", "youzan"])
def test_confirm_shipment_reads_the_order_back(db, platform):
    url, body, tracking = READ_BACK[platform]
    conn = connector(platform)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{YOUZAN}/auth/token").respond(200, json={
            "success": True, "code": 200, "data": {"access_token": "yz-token",
                                                   "expires": 4102444800000}})
        router.post(url).mock(side_effect=lambda request: httpx.Response(200, json=body()))
        assert conn.confirm_shipment(external_id="T1", tracking_number=tracking) is True
        assert conn.confirm_shipment(external_id="T1", tracking_number="OTHER1") is False
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{YOUZAN}/auth/token").respond(200, json={
            "success": True, "code": 200, "data": {"access_token": "yz-token",
                                                   "expires": 4102444800000}})
        router.post(url).respond(200, text="<html>down</html>")
        assert conn.confirm_shipment(external_id="T1", tracking_number=tracking) is None


# --- token endpoints ------------------------------------------------------------------------

def douyin_self_use():
    return connector_for(make_channel("douyin"))


@pytest.mark.parametrize("answers, error, retryable", [
    ([httpx.Response(503)] * 5, ConnectorError, True),
    ([httpx.Response(200, json={"code": 50002, "msg": "限流"})] * 4, ConnectorError, True),
    ([httpx.Response(200, json={"code": 30004, "msg": "app_secret 不正确"})], AuthError, False),
], ids=["5xx", "throttled", "rejected"])
def test_douyin_token_errors_pause_only_on_a_definite_rejection(db, answers, error, retryable):
    conn = douyin_self_use()
    replies = itertools.cycle(answers)
    with respx.mock() as router:
        route = router.post(f"{DOUYIN_GW}/token/create").mock(
            side_effect=lambda r: next(replies))
        with pytest.raises(error) as caught:
            conn.access_token()
    assert caught.value.retryable is retryable
    assert isinstance(caught.value, AuthError) is (error is AuthError)
    # retried with backoff, or refused at the first definite answer
    assert (route.call_count > 1 and conn.sleep) if retryable else route.call_count == 1


@pytest.mark.parametrize("answers, error", [
    ([httpx.Response(500)] * 5, ConnectorError),
    ([httpx.Response(200, json={"success": False, "code": 4005, "message": "limit"})] * 4,
     ConnectorError),
    ([httpx.Response(200, json={"success": False, "code": 4001, "message": "client 无效"})],
     AuthError),
], ids=["5xx", "throttled", "rejected"])
def test_youzan_token_errors_pause_only_on_a_definite_rejection(db, answers, error):
    conn = connector("youzan")
    replies = itertools.cycle(answers)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{YOUZAN}/auth/token").mock(side_effect=lambda r: next(replies))
        with pytest.raises(error) as caught:
            conn.access_token()
    assert isinstance(caught.value, AuthError) is (error is AuthError)
    assert caught.value.retryable is (error is not AuthError)


def test_douyin_free_gift_binds_to_the_master_it_names(db):
    # given a gift (given_product_type FREE) whose master is the second item
    order = dy_order()
    cup, sleeve = order["sku_order_list"]
    lid = dict(cup, order_id="6912345678901234603", code="LID-1", product_name="杯盖",
               item_num=1, origin_amount=900, sum_amount=900, pay_amount=900)
    sleeve["master_sku_order_id_list"] = ["6912345678901234603"]
    order["sku_order_list"] = [cup, lid, sleeve]
    # when it is normalized
    lines = connector("douyin").normalize(order).lines
    # then the documented unit price (origin_amount, fen) and binding are kept
    assert [(x.platform_sku, str(x.unit_price), x.is_gift, x.gift_for) for x in lines] == [
        ("CUP-1", "59.00", False, ""), ("LID-1", "9.00", False, ""),
        ("SLEEVE-1", "0.00", True, "6912345678901234603")]


def test_douyin_token_refresh_outage_is_retryable_and_keeps_the_refresh_token(db):
    # given a cached token with its refresh token
    from django.core.cache import cache

    from channels.crypto import encrypt_text

    conn = douyin_self_use()
    cache.set(conn._token_key(), encrypt_text(json.dumps(
        {"access_token": "old", "refresh_token": "refresh-1"})), 600)
    with respx.mock(assert_all_called=False) as router:
        refresh = router.post(f"{DOUYIN_GW}/token/refresh").respond(503)
        create = router.post(f"{DOUYIN_GW}/token/create").respond(200, json={
            "code": 10000, "data": {"access_token": "new"}})
        # when renewing it meets a platform outage
        with pytest.raises(ConnectorError) as caught:
            conn.access_token(renew=True)
    # then the poll fails retryably: no pause, and no new grant replaces the refresh
    assert caught.value.retryable and not isinstance(caught.value, AuthError)
    assert refresh.call_count > 1 and create.call_count == 0
    cache.delete(conn._token_key())
