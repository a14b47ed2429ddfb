"""Sandbox carrier APIs under /sandbox/carriers/ (only when settings.SANDBOX_ENABLED).

SF- and Kuaidi100-shaped endpoints that check signatures like the real ones
and book "waybills" whose number encodes the booking minute, so tracking
events appear as time passes without the sandbox storing anything: collected
after 20 minutes, in transit, out for delivery after 20 hours, delivered
after 25 hours. About one parcel in ten stalls after leaving the hub.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
import time
import zlib

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from fulfillment.shipping.carriers.base import SHANGHAI
from fulfillment.shipping.carriers.kuaidi100 import (
    REQUIRED_PARTNER_FIELDS,
    label_sign,
    query_sign,
)
from fulfillment.shipping.carriers.sf import msg_digest

# The demo accounts' credentials (public by design, like the demo logins).
SF_PARTNERS = {"SANDBOX_SF": "sandbox-check-word"}
KUAIDI100_KEYS = {"sandbox-key": {"secret": "sandbox-secret", "customer": "SANDBOXCUSTOMER"}}
# Kuaidi100's query document: these companies need the recipient's or sender's phone.
KUAIDI100_PHONE_REQUIRED = {"shunfeng", "shunfengkuaiyun", "zhongtong"}
# What Kuaidi100 takes as ``phone``: home-form digits, or four digits (see carriers.kuaidi100).
KUAIDI100_PHONE = re.compile(r"^\d{4}$|^1\d{10}$|^0\d{9,11}$")
PREFIXES = {"shunfeng": "SF1", "zhongtong": "75", "yuantong": "YT", "shentong": "77",
            "yunda": "43", "jd": "JDX"}
# minutes after booking, milestone (SF opCode, Kuaidi100 state), text, place
ROUTE = [
    (20, "50", "1", "快递员已揽收", "上海市嘉定区"),
    (180, "30", "0", "快件已从【上海嘉定集散中心】发出", "上海市"),
    (600, "31", "0", "快件已到达【目的地转运中心】", ""),
    (1200, "44", "5", "快件已交给快递员，正在派送途中", ""),
    (1500, "80", "3", "已签收，签收人：本人，感谢使用", ""),
]


def _enabled():
    if not getattr(settings, "SANDBOX_ENABLED", False):
        raise Http404("sandbox disabled")


def _number(company: str, reference: str) -> str:
    minute = int(time.time() // 60)
    tail = zlib.crc32(reference.encode()) % 10000
    return f"{PREFIXES.get(company, 'KD')}{minute:08d}{tail:04d}"


def _events(number: str, now: dt.datetime | None = None) -> list[tuple]:
    """(time, step) of the events a parcel has had by now, oldest first."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 12:
        return []
    booked = dt.datetime.fromtimestamp(int(digits[-12:-4]) * 60, dt.UTC)
    stalls = int(digits[-4:]) % 10 == 0
    now = now or dt.datetime.now(dt.UTC)
    out = []
    for i, step in enumerate(ROUTE):
        at = booked + dt.timedelta(minutes=step[0])
        if at > now or (stalls and i >= 2):
            break
        out.append((at, step))
    return out


def _local(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


# --- SF -------------------------------------------------------------------------------------

def _sf(code: str, message: str = "", data: dict | None = None) -> JsonResponse:
    body = {"apiResultCode": code, "apiErrorMsg": message, "apiResponseID": "SANDBOX"}
    if data is not None:
        body["apiResultData"] = json.dumps(data, ensure_ascii=False)
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


@csrf_exempt
@require_POST
def sf_service(request):
    _enabled()
    form = request.POST
    check_word = SF_PARTNERS.get(form.get("partnerID", ""))
    if check_word is None:
        return _sf("A1001", "partnerID 不存在")
    body, timestamp = form.get("msgData", ""), form.get("timestamp", "")
    if form.get("msgDigest") != msg_digest(body, timestamp, check_word):
        return _sf("A1006", "数字签名无效")
    try:
        data = json.loads(body)
    except ValueError:
        return _sf("A1001", "msgData 不是 JSON")
    service = form.get("serviceCode")
    ok = {"success": True, "errorCode": "S0000", "errorMsg": None}
    if service in ("EXP_RECE_CREATE_ORDER", "EXP_RECE_SEARCH_ORDER_RESP"):
        reference = str(data.get("orderId") or "")
        if not reference:
            return _sf("A1000", data={"success": False, "errorCode": "8013",
                                      "errorMsg": "订单号不能为空", "msgData": None})
        number = _number("shunfeng", reference)
        return _sf("A1000", data={**ok, "msgData": {
            "orderId": reference, "originCode": "021", "destCode": "010",
            "filterResult": 2, "waybillNoInfoList": [{"waybillType": 1, "waybillNo": number}]}})
    if service == "EXP_RECE_UPDATE_ORDER":
        return _sf("A1000", data={**ok, "msgData": {"orderId": data.get("orderId"),
                                                    "resStatus": 2}})
    if service == "EXP_RECE_SEARCH_ROUTES":
        resps = []
        for number in data.get("trackingNumber") or []:
            routes = [{"acceptTime": _local(at), "acceptAddress": step[4],
                       "remark": step[3], "opCode": step[1]} for at, step in _events(number)]
            resps.append({"mailNo": number, "routes": routes})
        return _sf("A1000", data={**ok, "msgData": {"routeResps": resps}})
    return _sf("A1003", f"未开通服务 {service}")


# --- Kuaidi100 ---------------------------------------------------------------------------------

@csrf_exempt
@require_POST
def kuaidi100_label(request):
    _enabled()
    form = request.POST
    account = KUAIDI100_KEYS.get(form.get("key", ""))
    param, t = form.get("param", ""), form.get("t", "")
    if account is None or form.get("sign") != label_sign(param, t, form.get("key", ""),
                                                         account["secret"]):
        return JsonResponse({"success": False, "code": 30002, "message": "验证签名失败"})
    try:
        data = json.loads(param)
    except ValueError:
        return JsonResponse({"success": False, "code": 30001, "message": "参数错误"})
    method = request.GET.get("method") or form.get("method")
    if method == "cancel":
        return JsonResponse({"success": True, "code": 200, "message": "success"})
    company = str(data.get("kuaidicom") or "")
    if not company:
        return JsonResponse({"success": False, "code": 30001, "message": "kuaidicom 不能为空"})
    for name in REQUIRED_PARTNER_FIELDS.get(company, ("partnerId",)):
        if not data.get(name):
            return JsonResponse({"success": False, "code": 30001,
                                 "message": f"{name} 不能为空"},
                                json_dumps_params={"ensure_ascii": False})
    if not (data.get("recMan") or {}).get("printAddr"):
        return JsonResponse({"success": False, "code": 30001, "message": "收件人地址不能为空"})
    for party in ("recMan", "sendMan"):
        man = data.get(party) or {}
        if not (man.get("mobile") or man.get("tel")):
            return JsonResponse({"success": False, "code": 30001,
                                 "message": f"{party} 的 mobile 和 tel 不能都为空"})
        if str(man.get("mobile") or "").startswith("+"):
            return JsonResponse({"success": False, "code": 30001,
                                 "message": f"{party}.mobile 格式错误"})
    number = _number(str(data.get("kuaidicom")), str(data.get("orderId") or param))
    answer = {"kuaidinum": number, "kdComOrderNum": f"K{number}", "bulkpen": "沪A 021-01",
              "taskId": f"T{number}"}
    # Like the real API: printType IMAGE/HTML adds ``label``, a short link to the label.
    if data.get("printType") == "IMAGE":
        answer["label"] = request.build_absolute_uri(
            reverse("shipping:sandbox-kuaidi100-label-image", args=[number]))
    return JsonResponse({"success": True, "code": 200, "message": "success", "data": answer},
                        json_dumps_params={"ensure_ascii": False})


def _png(number: str, width: int = 400, height: int = 600) -> bytes:
    """A 1-bit 100×150 mm label stand-in: a border and a bar pattern from the number."""
    bars = [(int(ch) + 1) % 3 for ch in number if ch.isdigit()] or [1]
    pattern = [bit for bar in bars for bit in ([1] * (bar + 1) + [0] * 2)]
    rows = []
    for y in range(height):
        bits = []
        for x in range(width):
            border = x < 4 or y < 4 or x >= width - 4 or y >= height - 4
            bar = 60 <= y < 160 and 20 <= x < 380 and pattern[(x - 20) // 3 % len(pattern)]
            bits.append(0 if border or bar else 1)  # 0 = black
        packed = bytes(int("".join(map(str, bits[i:i + 8])).ljust(8, "1"), 2)
                       for i in range(0, width, 8))
        rows.append(b"\x00" + packed)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@require_GET
def kuaidi100_label_image(request, number: str):
    """The label image behind the order answer's ``label`` link."""
    _enabled()
    return HttpResponse(_png(number), content_type="image/png")


@csrf_exempt
@require_POST
def kuaidi100_query(request):
    _enabled()
    form = request.POST
    param, customer = form.get("param", ""), form.get("customer", "")
    key = next((k for k, v in KUAIDI100_KEYS.items() if v["customer"] == customer), None)
    if key is None or form.get("sign") != query_sign(param, key, customer):
        return JsonResponse({"result": False, "returnCode": "601",
                             "message": "key已过期或验证失败"})
    data = json.loads(param)
    # Like the real query: +86… is refused, and SF/ZTO numbers need a phone.
    phone = str(data.get("phone") or "")
    if (phone and not KUAIDI100_PHONE.match(phone)) or (
            not phone and data.get("com") in KUAIDI100_PHONE_REQUIRED):
        return JsonResponse({"result": False, "returnCode": "400",
                             "message": "phone 参数错误：请传收、寄件人的电话号码或后四位"})
    events = _events(str(data.get("num", "")))
    if not events:
        return JsonResponse({"result": False, "returnCode": "500",
                             "message": "查询无结果，请隔段时间再查"})
    items = [{"context": step[3], "time": _local(at), "ftime": _local(at),
              "areaName": step[4]} for at, step in reversed(events)]
    state = events[-1][1][2]
    return JsonResponse({"message": "ok", "state": state, "status": "200", "condition": "F00",
                         "ischeck": "1" if state == "3" else "0", "com": data.get("com"),
                         "nu": data.get("num"), "data": items},
                        json_dumps_params={"ensure_ascii": False})


@csrf_exempt
@require_POST
def kuaidi100_subscribe(request):
    _enabled()
    try:
        data = json.loads(request.POST.get("param", ""))
    except ValueError:
        return JsonResponse({"result": False, "returnCode": "700", "message": "参数错误"})
    if data.get("key") not in KUAIDI100_KEYS:
        return JsonResponse({"result": False, "returnCode": "600", "message": "key无效"})
    phone = str((data.get("parameters") or {}).get("phone") or "")
    if phone and not KUAIDI100_PHONE.match(phone):
        return JsonResponse({"result": False, "returnCode": "700",
                             "message": "phone 参数错误：请传收、寄件人的电话号码或后四位"})
    return JsonResponse({"result": True, "returnCode": "200", "message": "提交成功"})
