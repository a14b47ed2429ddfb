"""Sandbox Taobao (TOP), Pinduoduo, Douyin shop and Youzan APIs under /sandbox/.

They serve the same orders as ``channels.sandbox`` (one per 15-minute slot),
turned into Chinese-domestic orders in each platform's shape: several lines,
a free gift now and then, some unpaid, some cancelled and some refunded
later. Signatures and tokens are checked the way each platform checks them,
and a wrong one gets the platform's error answer. Recipients are "encrypted"
(reversibly, this is a sandbox) and each platform's decrypt API returns them,
so the demo can print labels. About one call in fifteen is throttled.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import random
from decimal import Decimal

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from channels import sandbox
from channels.connectors.cn import CN_TIME_FORMAT, SHANGHAI, cn_time
from channels.connectors.douyin import douyin_sign
from channels.connectors.pinduoduo import pdd_sign
from channels.connectors.taobao import top_sign

# The demo's credentials: any other secret makes the signature check fail.
TOP_APP = {"app_key": "12345678", "app_secret": "sandbox-top-secret",
           "session": "sandbox-session"}
PDD_APP = {"client_id": "sandbox-pdd", "client_secret": "sandbox-pdd-secret",
           "access_token": "sandbox-pdd-token"}
DOUYIN_APP = {"app_key": "7000000000000000000", "app_secret": "sandbox-douyin-secret"}
DOUYIN_TOKEN = "sandbox-douyin-token"
YOUZAN_APP = {"client_id": "sandbox-youzan", "client_secret": "sandbox-youzan-secret"}
YOUZAN_TOKEN = "sandbox-youzan-token"
YOUZAN_KDT_ID = "90001"

CN_PEOPLE = [
    ("张伟", "13800138000", "上海市", "上海市", "浦东新区", "世纪大道100号", "200120"),
    ("王芳", "13912345678", "北京市", "北京市", "朝阳区", "建国路88号 SOHO 3期", "100022"),
    ("李娜", "15800001111", "广东省", "深圳市", "南山区", "科技园南区 8栋1201", "518057"),
    ("陈静", "13600002222", "浙江省", "杭州市", "西湖区", "文三路90号 东部软件园3号楼", "310012"),
    ("刘洋", "18600003333", "四川省", "成都市", "武侯区", "天府大道北段1480号", "610041"),
]
SIGN_TOLERANCE = dt.timedelta(minutes=10)


def _cipher(marker: str, value: str) -> str:
    # Shaped like the platforms' search-able ciphertexts: marker, opaque text, marker.
    return f"{marker}{base64.urlsafe_b64encode(value.encode()).decode()}{marker}"


def _plain(cipher: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(cipher[1:-1].encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def _mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def cn_orders(now: dt.datetime | None = None) -> list[dict]:
    """The sandbox orders as Chinese orders: CN recipient, refunds a while after payment."""
    now = now or timezone.now()
    orders = []
    for o in sandbox.generate(now):
        rnd = random.Random(o["slot"] * 7 + 1)  # noqa: S311 - demo data
        o = {**o, "person": CN_PEOPLE[o["slot"] % len(CN_PEOPLE)], "currency": "CNY"}
        if o["status"] == "paid" and rnd.random() < 0.08 \
                and now >= o["placed"] + dt.timedelta(hours=2):
            o["status"], o["updated"] = "refunded", o["placed"] + dt.timedelta(hours=2)
        # Some paid orders the seller already shipped on the platform (its own
        # backend, another tool): they arrive shipped, with carrier and tracking.
        shipped_at = o["placed"] + dt.timedelta(hours=6)
        if o["status"] == "paid" and o["slot"] % 9 == 4 and now >= shipped_at:
            o["shipped"] = {"at": shipped_at, "tracking": f"SF14{o['slot']:011d}"}
            o["updated"] = max(o["updated"], shipped_at)
        orders.append(o)
    return orders


def _throttled(request) -> bool:
    if request.GET.get("no429"):
        return False
    return random.random() < 1 / 15  # noqa: S311


def _fresh(stamp: dt.datetime | None) -> bool:
    return stamp is not None and abs(timezone.now() - stamp) <= SIGN_TOLERANCE


def _parse_cn(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, CN_TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except (TypeError, ValueError):
        return None


def _total(o: dict) -> Decimal:
    return sum((Decimal(ln["price"]) * ln["quantity"] for ln in o["lines"]), Decimal(0))


def _in(o: dict, start: dt.datetime, end: dt.datetime) -> bool:
    return start <= o["updated"] <= end


def _params(request) -> dict:
    data = request.POST.dict() if request.method == "POST" else {}
    return {**request.GET.dict(), **data}


# --- Taobao TOP ---------------------------------------------------------------------------

TOP_STATUS = {"paid": "WAIT_SELLER_SEND_GOODS", "unpaid": "WAIT_BUYER_PAY",
              "cancelled": "TRADE_CLOSED_BY_TAOBAO", "refunded": "TRADE_CLOSED"}


def top_tid(slot: int) -> int:
    return 3_100_000_000_000 + slot


def top_trade(o: dict) -> dict:
    name, phone, province, city, district, street, postcode = o["person"]
    total = _total(o)
    return {
        "tid": top_tid(o["slot"]),
        "status": "WAIT_BUYER_CONFIRM_GOODS" if o.get("shipped") else TOP_STATUS[o["status"]],
        "type": "fixed",
        "created": cn_time(o["placed"]), "modified": cn_time(o["updated"]),
        "pay_time": cn_time(o["placed"]) if o["status"] != "unpaid" else None,
        "payment": f"{total + 10:.2f}", "total_fee": f"{total:.2f}", "post_fee": "10.00",
        "discount_fee": "0.00", "buyer_nick": "t**" + str(o["slot"] % 10),
        "buyer_message": "请尽快发货" if o["slot"] % 4 == 0 else "",
        "oaid": f"oaid-{o['slot']}",
        # TOP sends desensitised values to ISVs; the OAID decrypts them.
        "receiver_name": _mask_name(name), "receiver_mobile": _mask_phone(phone),
        "receiver_state": province, "receiver_city": city, "receiver_district": district,
        "receiver_town": "", "receiver_address": "**" + street[-4:], "receiver_zip": postcode,
        "orders": {"order": [{
            "oid": top_tid(o["slot"]) * 10 + i, "num_iid": 600_000 + ln["id"] % 1000,
            "sku_id": 5_000_000 + ln["id"] % 1000, "outer_sku_id": ln["sku"],
            "title": ln["name"], "num": ln["quantity"], "price": ln["price"],
            "payment": f"{Decimal(ln['price']) * ln['quantity']:.2f}",
            "refund_status": "SUCCESS" if o["status"] == "refunded" else "NO_REFUND",
            **({"status": "WAIT_BUYER_CONFIRM_GOODS",
                "consign_time": cn_time(o["shipped"]["at"]), "logistics_company": "顺丰速运",
                "invoice_no": o["shipped"]["tracking"]} if o.get("shipped") else {}),
        } for i, ln in enumerate(o["lines"])]},
    }


def _top_error(code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> JsonResponse:
    return JsonResponse({"error_response": {"code": code, "msg": msg, "sub_code": sub_code,
                                            "sub_msg": sub_msg, "request_id": "sandbox"}})


def _top_refused(params: dict) -> JsonResponse | None:
    if params.get("app_key") != TOP_APP["app_key"]:
        return _top_error(29, "Invalid app Key", "isv.appkey-not-exists")
    method = params.get("sign_method", "md5")
    if method not in ("md5", "hmac", "hmac-sha256"):
        return _top_error(25, "Invalid signature", "isv.invalid-sign-method")
    expected = top_sign(params, TOP_APP["app_secret"], method)
    if not hmac.compare_digest(expected, params.get("sign", "")):
        return _top_error(25, "Invalid signature")
    if not _fresh(_parse_cn(params.get("timestamp", ""))):
        return _top_error(31, "Invalid timestamp")
    if params.get("session") != TOP_APP["session"]:
        return _top_error(27, "Invalid session", "invalid-sessionkey",
                          "SessionKey非法或已过期，请重新授权")
    return None


@csrf_exempt
def top_router(request):
    sandbox._enabled()
    params = _params(request)
    if params.get("format") != "json":
        return _xml_error(15, "Remote service error: only format=json is served here")
    refused = _top_refused(params)
    if refused:
        return refused
    if _throttled(request):
        return _top_error(7, "App Call Limited", "accesscontrol.limited-by-app-access-count",
                          "This ban will last for 1 more seconds")
    method = params.get("method", "")
    if method == "taobao.trades.sold.increment.get":
        return _top_increment(params)
    if method == "taobao.trade.fullinfo.get":
        found = [o for o in cn_orders() if str(top_tid(o["slot"])) == params.get("tid")]
        if not found:
            return _top_error(15, "Remote service error", "isv.trade-not-exist", "交易不存在")
        return JsonResponse({"trade_fullinfo_get_response": {"trade": top_trade(found[0])}})
    if method == "taobao.logistics.offline.send":
        if not params.get("out_sid") or not params.get("company_code"):
            return _top_error(41, "Invalid arguments", "isv.missing-parameter", "out_sid")
        return JsonResponse({"logistics_offline_send_response": {"shipping": {
            "is_success": True}}})
    if method == "taobao.top.oaid.decrypt":
        return _top_decrypt(params)
    return _top_error(22, "Invalid method", "isv.method-not-exist")


def _xml_error(code: int, msg: str):
    return HttpResponse(f"<?xml version=\"1.0\" encoding=\"utf-8\"?><error_response><code>"
                        f"{code}</code><msg>{msg}</msg></error_response>",
                        content_type="text/xml;charset=utf-8")


def _top_increment(params: dict) -> JsonResponse:
    start, end = _parse_cn(params.get("start_modified", "")), _parse_cn(
        params.get("end_modified", ""))
    if start is None or end is None or end < start or end - start > dt.timedelta(days=1):
        return _top_error(41, "Invalid arguments", "isv.invalid-parameter",
                          "start_modified/end_modified: span of at most one day")
    page_no, page_size = int(params.get("page_no", 1)), min(100, int(params.get("page_size",
                                                                                  40)))
    trades = sorted((o for o in cn_orders() if _in(o, start, end)),
                    key=lambda o: (o["updated"], o["slot"]), reverse=True)
    chunk = trades[(page_no - 1) * page_size:page_no * page_size]
    body = {"trades": {"trade": [{"tid": top_tid(o["slot"]),
                                  "status": top_trade(o)["status"],
                                  "modified": cn_time(o["updated"])} for o in chunk]}}
    if params.get("use_has_next") == "true":
        body["has_next"] = page_no * page_size < len(trades)
    else:
        body["total_results"] = len(trades)
    return JsonResponse({"trades_sold_increment_get_response": body})


def _top_decrypt(params: dict) -> JsonResponse:
    try:
        queries = json.loads(params.get("query_list", "[]"))
    except ValueError:
        queries = []
    by_oaid = {f"oaid-{o['slot']}": o for o in cn_orders()}
    receivers = []
    for query in queries:
        o = by_oaid.get(query.get("oaid")) if isinstance(query, dict) else None
        if o:
            name, phone, province, city, district, street, _zip = o["person"]
            receivers.append({"oaid": query["oaid"], "tid": query.get("tid"), "name": name,
                              "mobile": phone, "state": province, "city": city,
                              "district": district, "address_detail": street})
    return JsonResponse({"top_oaid_decrypt_response": {"receiver_list": {
        "receiver": receivers}}})


# --- Pinduoduo -----------------------------------------------------------------------------

def pdd_order_sn(o: dict) -> str:
    return f"{o['placed'].astimezone(SHANGHAI):%y%m%d}-{o['slot'] % 10**12:012d}"


def pdd_order(o: dict) -> dict:
    name, phone, province, city, district, street, _zip = o["person"]
    items = [ln for ln in o["lines"] if Decimal(ln["price"]) > 0]
    gifts = [ln for ln in o["lines"] if Decimal(ln["price"]) == 0]
    total = _total(o)

    def line(ln):
        return {"goods_id": 800_000 + ln["id"] % 1000, "goods_name": ln["name"],
                "sku_id": 9_000_000 + ln["id"] % 1000, "outer_id": ln["sku"],
                "outer_goods_id": "", "goods_count": ln["quantity"],
                "goods_price": float(ln["price"])}

    return {
        "order_sn": pdd_order_sn(o),
        "order_status": 2 if o.get("shipped") else 1,
        **({"logistics_id": 44, "tracking_number": o["shipped"]["tracking"],
            "shipping_time": cn_time(o["shipped"]["at"])} if o.get("shipped") else {}),
        "confirm_status": {"unpaid": 0, "cancelled": 2}.get(o["status"], 1),
        "refund_status": 4 if o["status"] == "refunded" else 1,
        "created_time": cn_time(o["placed"]), "updated_at": cn_time(o["updated"]),
        "confirm_time": cn_time(o["placed"]) if o["status"] != "unpaid" else "",
        "pay_amount": float(total + 10), "goods_amount": float(total), "postage": 10.0,
        "seller_discount": 0, "platform_discount": 0, "capital_free_discount": 0,
        "buyer_memo": "",
        "receiver_name": _cipher("~", name), "receiver_phone": _cipher("$", phone),
        "receiver_address": _cipher("~", street),
        "receiver_name_mask": _mask_name(name), "receiver_phone_mask": _mask_phone(phone),
        "address_mask": "**" + street[-4:],
        "province": province, "city": city, "town": district,
        "item_list": [line(ln) for ln in items] or [line(o["lines"][0])],
        "gift_list": [line(ln) for ln in gifts] if items else [],
    }


def _pdd_error(code: int, msg: str, sub_code: str = "") -> JsonResponse:
    return JsonResponse({"error_response": {"error_code": code, "error_msg": msg,
                                            "sub_code": sub_code, "sub_msg": "",
                                            "request_id": "sandbox"}})


@csrf_exempt
def pdd_router(request):
    sandbox._enabled()
    params = _params(request)
    if params.get("client_id") != PDD_APP["client_id"]:
        return _pdd_error(10017, "client_id不存在")
    if not hmac.compare_digest(pdd_sign(params, PDD_APP["client_secret"]),
                               params.get("sign", "")):
        return _pdd_error(10016, "签名错误")
    try:
        stamp = dt.datetime.fromtimestamp(int(params.get("timestamp", "")), dt.UTC)
    except ValueError:
        stamp = None
    if not _fresh(stamp):
        return _pdd_error(10014, "timestamp已过期")
    if params.get("access_token") != PDD_APP["access_token"]:
        return _pdd_error(10019, "access_token已过期")
    if _throttled(request):
        return _pdd_error(70031, "调用过于频繁，请调整调用频率")
    kind = params.get("type", "")
    if kind == "pdd.order.number.list.increment.get":
        return _pdd_increment(params)
    if kind == "pdd.logistics.online.send":
        if not params.get("tracking_number") or not params.get("logistics_id"):
            return _pdd_error(10000, "参数错误：tracking_number")
        return JsonResponse({"logistics_online_send_response": {"is_success": True}})
    if kind == "pdd.open.decrypt.batch":
        rows = json.loads(params.get("data_list", "[]"))
        return JsonResponse({"open_decrypt_batch_response": {"data_decrypt_list": [
            {"data_tag": r.get("data_tag"), "encrypted_data": r.get("encrypted_data"),
             "decrypted_data": _plain(r.get("encrypted_data", ""))} for r in rows]}})
    return _pdd_error(10002, "type不存在")


def _pdd_increment(params: dict) -> JsonResponse:
    try:
        start = dt.datetime.fromtimestamp(int(params["start_updated_at"]), dt.UTC)
        end = dt.datetime.fromtimestamp(int(params["end_updated_at"]), dt.UTC)
    except (KeyError, ValueError):
        return _pdd_error(10000, "参数错误：start_updated_at/end_updated_at")
    if end < start or end - start > dt.timedelta(minutes=30):
        return _pdd_error(10000, "参数错误：时间跨度不能超过30分钟")
    page, page_size = int(params.get("page", 1)), min(100, int(params.get("page_size", 100)))
    orders = sorted((o for o in cn_orders() if _in(o, start, end)),
                    key=lambda o: (o["updated"], o["slot"]), reverse=True)
    chunk = orders[(page - 1) * page_size:page * page_size]
    return JsonResponse({"order_sn_increment_get_response": {
        "total_count": len(orders), "has_next": page * page_size < len(orders),
        "order_sn_list": [pdd_order(o) for o in chunk]}})


# --- Douyin shop ---------------------------------------------------------------------------

DOUYIN_STATUS = {"unpaid": 1, "paid": 2, "cancelled": 4, "refunded": 4}


def douyin_order_id(slot: int) -> str:
    return f"69{slot:017d}"


def douyin_order(o: dict) -> dict:
    name, phone, province, city, district, street, _zip = o["person"]
    fen = lambda amount: int(Decimal(amount) * 100)  # noqa: E731
    return {
        "order_id": douyin_order_id(o["slot"]),
        "order_status": 3 if o.get("shipped") else DOUYIN_STATUS[o["status"]],
        "create_time": int(o["placed"].timestamp()), "update_time": int(o["updated"].timestamp()),
        "pay_time": int(o["placed"].timestamp()) if o["status"] != "unpaid" else 0,
        "pay_amount": fen(_total(o) + 10), "post_amount": 1000, "promotion_amount": 0,
        "buyer_words": "",
        "encrypt_post_receiver": _cipher("#", name), "encrypt_post_tel": _cipher("$", phone),
        "mask_post_receiver": _mask_name(name), "mask_post_tel": _mask_phone(phone),
        # The address is an object: region objects {name, id} and a detail string
        # (ciphertext in post_addr, masked in mask_post_addr).
        "mask_post_addr": {"province": {"name": province, "id": ""},
                           "city": {"name": city, "id": ""},
                           "town": {"name": district, "id": ""},
                           "street": {"name": "", "id": ""}, "detail": "**" + street[-4:]},
        "post_addr": {"province": {"name": province, "id": ""}, "city": {"name": city, "id": ""},
                      "town": {"name": district, "id": ""}, "street": {"name": "", "id": ""},
                      "detail": _cipher("~", street)},
        "logistics_info": [{
            "tracking_no": o["shipped"]["tracking"], "company": "shunfeng",
            "company_name": "顺丰速运", "ship_time": int(o["shipped"]["at"].timestamp()),
            "product_info": [{"sku_order_id": f"{douyin_order_id(o['slot'])}{i}",
                              "product_count": ln["quantity"]}
                             for i, ln in enumerate(o["lines"])],
        }] if o.get("shipped") else [],
        "sku_order_list": [{
            "order_id": f"{douyin_order_id(o['slot'])}{i}", "code": ln["sku"],
            "product_id": 3_500_000 + ln["id"] % 1000, "sku_id": 1_700_000 + ln["id"] % 1000,
            "product_name": ln["name"], "item_num": ln["quantity"],
            # origin_amount is the unit price; sum_amount the line's (documented).
            "origin_amount": fen(ln["price"]),
            "sum_amount": fen(Decimal(ln["price"]) * ln["quantity"]),
            "pay_amount": fen(Decimal(ln["price"]) * ln["quantity"]),
            "given_product_type": "FREE" if Decimal(ln["price"]) == 0 else "MASTER",
            **({"master_sku_order_id_list": [f"{douyin_order_id(o['slot'])}0"]}
               if Decimal(ln["price"]) == 0 and i else {}),
        } for i, ln in enumerate(o["lines"])],
    }


def _douyin_answer(data=None, *, code: int = 10000, msg: str = "success", sub_code: str = ""):
    return JsonResponse({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": "",
                         "data": data if data is not None else {}, "log_id": "sandbox"})


@csrf_exempt
def douyin_api(request, group: str, name: str):
    sandbox._enabled()
    query = request.GET
    method = f"{group}.{name}"
    body = request.body.decode("utf-8") or "{}"
    if query.get("app_key") != DOUYIN_APP["app_key"] or query.get("method") != method:
        return _douyin_answer(code=30003, msg="app_key或method不匹配", sub_code="isv.app-key")
    expected = douyin_sign(app_key=DOUYIN_APP["app_key"], secret=DOUYIN_APP["app_secret"],
                           method=method, param_json=body,
                           timestamp=query.get("timestamp", ""), v=query.get("v", ""),
                           sign_method=query.get("sign_method", "md5"))
    if not hmac.compare_digest(expected, query.get("sign", "")):
        return _douyin_answer(code=40004, msg="签名错误", sub_code="isv.sign-error")
    if not _fresh(_parse_cn(query.get("timestamp", ""))):
        return _douyin_answer(code=40005, msg="timestamp已过期", sub_code="isv.timestamp")
    params = json.loads(body)
    if method in ("token.create", "token.refresh"):
        grant = params.get("grant_type")
        if grant not in ("authorization_self", "refresh_token"):
            return _douyin_answer(code=30004, msg="grant_type错误")
        return _douyin_answer({"access_token": DOUYIN_TOKEN, "expires_in": 7 * 86400,
                               "refresh_token": "sandbox-douyin-refresh", "shop_id": 1})
    if query.get("access_token") != DOUYIN_TOKEN:
        return _douyin_answer(code=30002, msg="access_token已过期",
                              sub_code="isv.access-token-expired")
    if _throttled(request):
        return _douyin_answer(code=50002, msg="调用过于频繁", sub_code="isp.limit")
    if method == "order.searchList":
        start = dt.datetime.fromtimestamp(int(params.get("update_time_start", 0)), dt.UTC)
        end = dt.datetime.fromtimestamp(int(params.get("update_time_end", 0)), dt.UTC)
        page, size = int(params.get("page", 0)), min(100, int(params.get("size", 10)))
        orders = sorted((o for o in cn_orders() if _in(o, start, end)),
                        key=lambda o: (o["updated"], o["slot"]),
                        reverse=not params.get("order_asc"))
        chunk = orders[page * size:(page + 1) * size]
        return _douyin_answer({"shop_order_list": [douyin_order(o) for o in chunk],
                               "total": len(orders), "page": page, "size": size})
    if method == "order.orderDetail":
        wanted = text_id = str(params.get("shop_order_id", ""))
        for o in cn_orders():
            if douyin_order_id(o["slot"]) == wanted:
                return _douyin_answer({"shop_order_detail": douyin_order(o)})
        return _douyin_answer(code=40001, msg=f"订单不存在 {text_id}")
    if method == "order.logisticsAdd":
        if not params.get("logistics_code"):
            return _douyin_answer(code=40001, msg="缺少logistics_code")
        return _douyin_answer({})
    if method == "order.batchDecrypt":
        return _douyin_answer({"decrypt_infos": [
            {"auth_id": c.get("auth_id"), "cipher_text": c.get("cipher_text"),
             "decrypt_text": _plain(c.get("cipher_text", "")), "err_no": 0}
            for c in params.get("cipher_infos", [])]})
    return _douyin_answer(code=40002, msg="method不存在")


# --- Youzan --------------------------------------------------------------------------------

YOUZAN_STATUS = {"unpaid": "WAIT_BUYER_PAY", "paid": "WAIT_SELLER_SEND_GOODS",
                 "cancelled": "TRADE_CLOSED", "refunded": "TRADE_CLOSED"}


def youzan_tid(o: dict) -> str:
    return f"E{o['placed'].astimezone(SHANGHAI):%Y%m%d%H%M%S}{o['slot'] % 10**8:08d}"


def youzan_order(o: dict) -> dict:
    name, phone, province, city, district, street, postcode = o["person"]
    return {"full_order_info": {
        "order_info": {"tid": youzan_tid(o),
                       "status": ("WAIT_BUYER_CONFIRM_GOODS" if o.get("shipped")
                                  else YOUZAN_STATUS[o["status"]]),
                       "created": cn_time(o["placed"]), "update_time": cn_time(o["updated"]),
                       "pay_time": cn_time(o["placed"]) if o["status"] != "unpaid" else "",
                       "close_type": "refund" if o["status"] == "refunded" else ""},
        "buyer_info": {"fans_nickname": "有赞买家" + str(o["slot"] % 100)},
        "address_info": {"receiver_name": _cipher("$", name),
                         "receiver_tel": _cipher("$", phone),
                         "delivery_province": province, "delivery_city": city,
                         "delivery_district": district,
                         "delivery_address": _cipher("$", street),
                         "delivery_postal_code": postcode},
        "pay_info": {"payment": f"{_total(o) + 10:.2f}", "post_fee": "10.00"},
        "remark_info": {"buyer_message": ""},
        "orders": [{"oid": f"{youzan_tid(o)}{i}", "outer_sku_id": ln["sku"],
                    "outer_item_id": "", "title": ln["name"], "num": ln["quantity"],
                    "price": ln["price"], "payment": f"{Decimal(ln['price']) * ln['quantity']:.2f}",
                    "is_present": Decimal(ln["price"]) == 0}
                   for i, ln in enumerate(o["lines"])],
        "delivery_order": [{
            "express_state": 1, "oids": [{"oid": f"{youzan_tid(o)}{i}"}
                                         for i in range(len(o["lines"]))],
            "dists": [{"express_info": {"express_id": 7,
                                        "express_no": o["shipped"]["tracking"]}}],
        }] if o.get("shipped") else [],
    }}


def _youzan_error(code: int, msg: str) -> JsonResponse:
    return JsonResponse({"gw_err_resp": {"err_code": code, "err_msg": msg,
                                         "trace_id": "sandbox"}})


@csrf_exempt
def youzan_token(request):
    sandbox._enabled()
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    if (request.method != "POST" or body.get("client_id") != YOUZAN_APP["client_id"]
            or body.get("client_secret") != YOUZAN_APP["client_secret"]
            or body.get("authorize_type") != "silent"
            or str(body.get("grant_id")) != YOUZAN_KDT_ID):
        return JsonResponse({"success": False, "code": 4001, "message": "client或授权不正确"})
    expires = int((timezone.now() + dt.timedelta(days=7)).timestamp() * 1000)
    return JsonResponse({"success": True, "code": 200, "data": {
        "access_token": YOUZAN_TOKEN, "expires": expires, "scope": "trade",
        "authority_id": YOUZAN_KDT_ID}})


@csrf_exempt
def youzan_api(request, name: str, version: str):
    sandbox._enabled()
    if request.GET.get("access_token") != YOUZAN_TOKEN:
        return _youzan_error(4203, "access_token不存在或已过期")
    if _throttled(request):
        return _youzan_error(4601, "请求过于频繁")
    params = json.loads(request.body or b"{}")
    ok = lambda data: JsonResponse({"trace_id": "sandbox", "code": 200,  # noqa: E731
                                    "success": True, "message": None, "data": data})
    if name == "youzan.trades.sold.get":
        start, end = _parse_cn(params.get("start_update", "")), _parse_cn(
            params.get("end_update", ""))
        if start is None or end is None:
            return JsonResponse({"success": False, "code": 141500101,
                                 "message": "start_update/end_update 格式错误"})
        page, size = int(params.get("page_no", 1)), min(100, int(params.get("page_size", 20)))
        orders = sorted((o for o in cn_orders() if _in(o, start, end)),
                        key=lambda o: (o["updated"], o["slot"]), reverse=True)
        chunk = orders[(page - 1) * size:page * size]
        return ok({"total_results": len(orders),
                   "full_order_info_list": [youzan_order(o) for o in chunk]})
    if name == "youzan.trade.get":
        for o in cn_orders():
            if youzan_tid(o) == params.get("tid"):
                return ok(youzan_order(o))
        return JsonResponse({"success": False, "code": 101300001, "message": "订单不存在"})
    if name == "youzan.logistics.online.confirm":
        if not params.get("out_sid"):
            return JsonResponse({"success": False, "code": 101500001, "message": "缺少运单号"})
        return ok({"is_success": True})
    if name == "youzan.cloud.secret.decrypt.batch":
        return ok({c: _plain(c) for c in params.get("sources", [])})
    return _youzan_error(4004, "API不存在")

