"""Orders edited and created while a CN poll pages through a window are neither lost nor
duplicated (each platform pages by modified time, newest first)."""

import datetime as dt
import json
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from channels.connectors.cn import SHANGHAI, cn_time
from channels.services import channel_poll
from orderhub.models import Order
from tests.channels.cn_support import DOUYIN_GW, NOW, PDD_GW, TOP_GW, YOUZAN, connector_for
from tests.channels.test_cn_platform_ahead import (
    dy_order,
    make_channel,
    pdd_order,
    tb_trade,
    yz_order,
)


def _cn(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


def _epoch(value) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(value), dt.UTC)


# Per platform: build one raw order (id, modified, message) as its API returns it.
def tb(oid, modified, message):
    trade = tb_trade(tid=oid, status="WAIT_SELLER_SEND_GOODS", modified=cn_time(modified),
                     buyer_message=message)
    for line in trade["orders"]["order"]:
        line.update(status="WAIT_SELLER_SEND_GOODS", consign_time="", invoice_no="")
    return trade


def pdd(oid, modified, message):
    return pdd_order(order_sn=str(oid), order_status=1, tracking_number="", logistics_id=0,
                     shipping_time="", updated_at=cn_time(modified), buyer_memo=message)


def dy(oid, modified, message):
    return dy_order(order_id=str(oid), order_status=2, logistics_info=[],
                    update_time=int(modified.timestamp()), buyer_words=message)


def yz(oid, modified, message):
    order = yz_order("WAIT_SELLER_SEND_GOODS")
    order["delivery_order"] = []
    order["order_info"].update(tid=str(oid), update_time=cn_time(modified))
    order["remark_info"]["buyer_message"] = message
    return order


class Shop:
    """A platform's order index: a window lists orders by modified time, newest first.

    ``hooks[n]`` runs after the n-th list call: the shop changes between page reads.
    """

    def __init__(self, platform, build, count=150):
        self.platform, self.build = platform, build
        self.orders = {}
        self.list_calls = 0
        self.hooks = {}
        base = NOW - dt.timedelta(minutes=10)
        for i in range(count):
            self.put(1000 + i, base + dt.timedelta(seconds=i), "")

    def put(self, oid, modified, message):
        self.orders[oid] = (modified, message)

    def page(self, start, end, number, size):
        inside = sorted(((m, oid) for oid, (m, _msg) in self.orders.items() if start <= m < end),
                        reverse=True)
        chosen = inside[(number - 1) * size:number * size]
        self.list_calls += 1
        result = [self.build(oid, m, self.orders[oid][1]) for m, oid in chosen], len(inside)
        hook = self.hooks.pop(self.list_calls, None)
        if hook:
            hook()
        return result

    # --- the four wire formats ---

    def taobao(self, request):
        params = dict(parse_qsl(request.content.decode()))
        if params["method"] == "taobao.trade.fullinfo.get":
            oid = int(params["tid"])
            modified, message = self.orders[oid]
            return httpx.Response(200, json={"trade_fullinfo_get_response": {
                "trade": tb(oid, modified, message)}})
        orders, total = self.page(_cn(params["start_modified"]), _cn(params["end_modified"]),
                                  int(params["page_no"]), int(params["page_size"]))
        return httpx.Response(200, json={"trades_sold_increment_get_response": {
            "total_results": total, "trades": {"trade": [
                {"tid": o["tid"], "status": o["status"], "modified": o["modified"]}
                for o in orders]}}})

    def pinduoduo(self, request):
        params = dict(parse_qsl(request.content.decode()))
        orders, total = self.page(_epoch(params["start_updated_at"]),
                                  _epoch(params["end_updated_at"]), int(params["page"]),
                                  int(params["page_size"]))
        return httpx.Response(200, json={"order_sn_increment_get_response": {
            "total_count": total, "has_next": False, "order_sn_list": orders}})

    def douyin(self, request):
        params = json.loads(request.content)
        orders, total = self.page(_epoch(params["update_time_start"]),
                                  _epoch(params["update_time_end"]), params["page"] + 1,
                                  params["size"])
        return httpx.Response(200, json={"code": 10000, "msg": "success", "data": {
            "shop_order_list": orders, "total": total, "page": params["page"],
            "size": params["size"]}})

    def youzan(self, request):
        params = json.loads(request.content)
        orders, total = self.page(_cn(params["start_update"]), _cn(params["end_update"]),
                                  params["page_no"], params["page_size"])
        return httpx.Response(200, json={"success": True, "code": 200, "data": {
            "total_results": total,
            "full_order_info_list": [{"full_order_info": o} for o in orders]}})


PLATFORMS = {
    "taobao": (tb, TOP_GW),
    "pinduoduo": (pdd, PDD_GW),
    "douyin": (dy, f"{DOUYIN_GW}/order/searchList"),
    "youzan": (yz, f"{YOUZAN}/api/youzan.trades.sold.get/4.0.4"),
}


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_orders_edited_and_created_between_page_reads_are_not_lost(db, platform):
    build, url = PLATFORMS[platform]
    credentials = None
    if platform == "douyin":
        credentials = {"app_key": "7000000000000000000", "app_secret": "appsecret",
                       "access_token": "dy-token"}
    channel = make_channel(platform, code=f"{platform}-midscan", credentials=credentials,
                           config={"window_lag_seconds": 0, "window_minutes": 30})
    channel.cursor_at = NOW - dt.timedelta(minutes=20)
    channel.overlap_seconds = 0
    channel.save()
    shop = Shop(platform, build)
    newest = max(shop.orders, key=lambda oid: shop.orders[oid][0])
    # given: after the first list call the newest order is edited (it leaves the
    # window: its modified time is now after it), and after the second a late order
    # shows up inside the window (the index lagged), pushing the others down a place
    shop.hooks[1] = lambda: shop.put(newest, NOW + dt.timedelta(seconds=1), "edited")
    shop.hooks[2] = lambda: shop.put(5000, NOW - dt.timedelta(minutes=4), "late")

    with respx.mock(assert_all_called=False) as router:
        router.post(f"{YOUZAN}/auth/token").respond(200, json={
            "success": True, "code": 200, "data": {"access_token": "yz-token",
                                                   "expires": 4102444800000}})
        router.post(url).mock(side_effect=getattr(shop, platform))
        # when the shop is polled, and again ten minutes later
        first = channel_poll(channel=channel, connector=connector_for(channel))
        channel.refresh_from_db()
        after_first = set(Order.objects.filter(channel=channel)
                          .values_list("external_id", flat=True))
        second = channel_poll(channel=channel,
                              connector=connector_for(channel,
                                                      now=NOW + dt.timedelta(minutes=10)))

    # then the first poll stored every order still in the window, the late one too,
    # and its cursor did not pass the edited order; the second poll got the edit
    assert first.status == second.status == "ok"
    originals = {str(oid) for oid in range(1000, 1150)}
    assert after_first == (originals - {str(newest)}) | {"5000"}
    stored = list(Order.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert len(stored) == len(set(stored)) == 151
    assert set(stored) == originals | {"5000"}
    edited = Order.objects.get(channel=channel, external_id=str(newest))
    assert edited.buyer_message == "edited"
    # the shifted pages were noticed and the window read again (2 pages + a re-read)
    assert shop.list_calls > 3
