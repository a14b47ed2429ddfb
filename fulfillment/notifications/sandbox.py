"""Sandbox gateways under /sandbox/notify/ (only when settings.SANDBOX_ENABLED).

They check requests the way the vendors do (Aliyun's RPC signature, DingTalk's
``sign`` and timestamp, the WeCom robot key, the generic gateway's auth
header) and answer in the vendors' shapes, so the demo's gateways run the real
adapters over HTTP. What they receive is kept in the cache (last 50) so the
demo can show it; nothing leaves the machine.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fulfillment.notifications.gateways import aliyun_rpc_signature, dingtalk_sign

# The demo gateways' credentials (public by design: sandbox only).
ALIYUN_KEY_ID = "sandbox-access-key"
ALIYUN_KEY_SECRET = "sandbox-access-secret"
WECOM_KEY = "sandbox-wecom-key"
DINGTALK_TOKEN = "sandbox-dingtalk-token"
DINGTALK_SECRET = "SECsandbox-dingtalk-secret"
HTTP_SMS_TOKEN = "Bearer sandbox-sms-token"
INBOX_KEY = "notifications:sandbox:inbox"
# The sandbox's "approved" templates and the ${parameters} each declares. As on
# Aliyun, a TemplateParam lacking one of them is refused with
# isv.TEMPLATE_MISSING_PARAMETERS; codes not listed here accept any parameters.
SANDBOX_TEMPLATES: dict[str, tuple[str, ...]] = {
    "SMS_SANDBOX_SHIPPED": ("order_number", "carrier", "tracking_number"),
    "SMS_SANDBOX_DELAYED": ("order_number", "carrier", "tracking_number"),
    # Approved with its own names: the hub's variables must be mapped to these.
    "SMS_SANDBOX_MAPPED": ("order", "waybill"),
}


def _enabled():
    if not getattr(settings, "SANDBOX_ENABLED", False):
        raise Http404("sandbox disabled")


def _keep(kind: str, data: dict) -> None:
    inbox = cache.get(INBOX_KEY) or []
    inbox.append({"kind": kind, "at": time.time(), **data})
    cache.set(INBOX_KEY, inbox[-50:], 24 * 3600)


def inbox() -> list[dict]:
    return cache.get(INBOX_KEY) or []


@csrf_exempt
@require_POST
def aliyun_sms(request):
    _enabled()
    params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    request_id = str(uuid.uuid4()).upper()
    signature = params.pop("Signature", "")
    if params.get("AccessKeyId") != ALIYUN_KEY_ID:
        return JsonResponse({"Code": "InvalidAccessKeyId.NotFound",
                             "Message": "Specified access key is not found.",
                             "RequestId": request_id}, status=404)
    expected = aliyun_rpc_signature(params, ALIYUN_KEY_SECRET, request.method)
    if not hmac.compare_digest(signature, expected):
        return JsonResponse({"Code": "SignatureDoesNotMatch",
                             "Message": "Specified signature is not matched with our "
                                        "calculation.", "RequestId": request_id}, status=400)
    if params.get("Action") != "SendSms" or not params.get("TemplateCode"):
        return JsonResponse({"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "template illegal",
                             "RequestId": request_id})
    phone = params.get("PhoneNumbers", "")
    if not phone.isdigit():
        return JsonResponse({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "invalid number",
                             "RequestId": request_id})
    try:
        template_param = json.loads(params.get("TemplateParam") or "{}")
    except ValueError:
        template_param = None
    if not isinstance(template_param, dict):
        return JsonResponse({"Code": "isv.INVALID_JSON_PARAM",
                             "Message": "JSON参数不合法，只接受字符串值", "RequestId": request_id})
    declared = SANDBOX_TEMPLATES.get(params["TemplateCode"], ())
    if any(name not in template_param for name in declared):
        return JsonResponse({"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "模板缺少变量",
                             "RequestId": request_id})
    biz_id = f"{int(time.time())}^{uuid.uuid4().int % 10**10}"
    _keep("aliyun", {"phone": phone[-4:], "template": params.get("TemplateCode"),
                     "params": params.get("TemplateParam", "")})
    return JsonResponse({"Code": "OK", "Message": "OK", "BizId": biz_id,
                         "RequestId": request_id})


@csrf_exempt
@require_POST
def wecom_robot(request):
    _enabled()
    if request.GET.get("key") != WECOM_KEY:
        return JsonResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"errcode": 40035, "errmsg": "invalid json"})
    if body.get("msgtype") not in ("text", "markdown"):
        return JsonResponse({"errcode": 40008, "errmsg": "invalid message type"})
    _keep("wecom", {"content": (body.get(body["msgtype"]) or {}).get("content", "")[:500]})
    return JsonResponse({"errcode": 0, "errmsg": "ok"})


@csrf_exempt
@require_POST
def dingtalk_robot(request):
    _enabled()
    if request.GET.get("access_token") != DINGTALK_TOKEN:
        return JsonResponse({"errcode": 300001, "errmsg": "token is not exist"})
    timestamp = request.GET.get("timestamp", "")
    try:
        skew = abs(time.time() * 1000 - int(timestamp))
    except ValueError:
        skew = float("inf")
    expected = dingtalk_sign(timestamp, DINGTALK_SECRET)
    if skew > 3600 * 1000 or not hmac.compare_digest(request.GET.get("sign", ""), expected):
        return JsonResponse({"errcode": 310000, "errmsg": "sign not match"})
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"errcode": 43004, "errmsg": "invalid json"})
    _keep("dingtalk", {"content": (body.get("text") or {}).get("content", "")[:500]})
    return JsonResponse({"errcode": 0, "errmsg": "ok"})


@csrf_exempt
@require_POST
def http_sms(request):
    _enabled()
    if request.headers.get("Authorization") != HTTP_SMS_TOKEN:
        return JsonResponse({"ok": False, "error": "unauthorized"}, status=401)
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"ok": False, "error": "invalid json"}, status=400)
    if not body.get("to") or not body.get("text"):
        return JsonResponse({"ok": False, "error": "to and text are required"}, status=422)
    _keep("http_sms", {"phone": str(body["to"])[-4:], "text": str(body["text"])[:300]})
    return JsonResponse({"ok": True, "id": uuid.uuid4().hex})
