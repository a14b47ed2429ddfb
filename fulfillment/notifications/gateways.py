"""Gateway adapters: one class per kind of outside system, each with ``send``.

Domain code never calls a vendor directly: it asks ``adapter_for(gateway)`` and
calls ``send(OutgoingMessage)``. Signing, request shape and error mapping stay
inside the adapter; the caller only sees ``SendResult`` or ``GatewayError``
(``retryable`` says whether a later try may help).

Protocols: Aliyun SendSms with the RPC V1 signature, WeCom group robot,
DingTalk custom robot with the HMAC-SHA256 ``sign``, a configurable HTTP SMS
gateway, and Django e-mail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import smtplib
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

import httpx
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.crypto import CredentialsUnreadable
from fulfillment.notifications.models import Gateway
from orderhub.adapters import AdapterError, http_status_error

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
WECOM_ENDPOINT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
DINGTALK_ENDPOINT = "https://oapi.dingtalk.com/robot/send"

WECOM_TEXT_LIMIT = 2048  # bytes
# Vendor error codes that mean "later may work" (rate limits, clock skew, busy).
ALIYUN_RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "InvalidTimeStamp.Expired",
                    "SignatureNonceUsed", "Throttling", "Throttling.User", "ServiceUnavailable",
                    "InternalError", "isp.SYSTEM_ERROR", "isv.DAY_LIMIT_CONTROL"}
# Aliyun codes that mean "the template and our parameters do not match": the admin
# must fix the mapping, so they get a message that says where (never retried).
ALIYUN_TEMPLATE_MISMATCH = {"isv.TEMPLATE_MISSING_PARAMETERS", "isv.SMS_TEMPLATE_ILLEGAL",
                            "isv.INVALID_JSON_PARAM"}
WECOM_RETRYABLE = {-1, 45009}
DINGTALK_RETRYABLE = {-1, 130101, 130102, 410100}


class GatewayError(AdapterError):
    """A gateway call failed; ``retryable`` (given per error: vendors' codes decide) says
    whether a later try may help."""

    def __init__(self, message: str, *, retryable: bool = True, status_code: int | None = None):
        super().__init__(message, status_code=status_code)
        self.retryable = retryable


def gateway_http_error(status: int, detail: str, *, vendor: str) -> GatewayError | None:
    """``orderhub.adapters.http_status_error`` as a ``GatewayError`` (None for 2xx/3xx)."""
    error = http_status_error(status, detail, vendor=vendor)
    if error is None:
        return None
    return GatewayError(error.message, retryable=error.retryable, status_code=status)


@dataclass
class OutgoingMessage:
    recipient: str
    body: str
    subject: str = ""
    template_code: str = ""
    sign_name: str = ""
    template_params: dict = field(default_factory=dict)
    reference: str = ""  # our id, echoed back by gateways that support it (Aliyun OutId)


@dataclass
class SendResult:
    provider_id: str = ""
    status_code: int | None = None


# --- signatures (pure functions, pinned by the documented examples) ---------------------

def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as Aliyun's RPC signature wants it (space → %20, * → %2A)."""
    return quote(str(value), safe="~")


def aliyun_rpc_signature(params: dict, secret: str, method: str = "POST") -> str:
    """Aliyun RPC signature V1 (HMAC-SHA1) of ``params`` (everything but ``Signature``)."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items(), key=lambda kv: percent_encode(kv[0])))
    string_to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def dingtalk_sign(timestamp_ms: int | str, secret: str) -> str:
    """DingTalk robot ``sign`` before URL encoding: base64(HMAC-SHA256(secret, ts\\nsecret))."""
    string_to_sign = f"{timestamp_ms}\n{secret}"
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_sign_urlencoded(timestamp_ms: int | str, secret: str) -> str:
    return quote_plus(dingtalk_sign(timestamp_ms, secret))


# --- adapters ------------------------------------------------------------------------------

class GatewayAdapter:
    """Base: holds the gateway, its decrypted credentials and an httpx client."""

    def __init__(self, gateway: Gateway, *, client: httpx.Client | None = None):
        self.gateway = gateway
        try:
            self.credentials = gateway.credentials
        except CredentialsUnreadable as exc:
            raise GatewayError(str(exc), retryable=False) from exc
        self.config = gateway.config or {}
        self._client = client

    def client(self) -> httpx.Client:
        if self._client is None:
            seconds = self.gateway.timeout_seconds or 10
            self._client = httpx.Client(timeout=httpx.Timeout(seconds, connect=min(5, seconds)))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(self, message: OutgoingMessage) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError

    def _need(self, *names: str) -> list[str]:
        missing = [n for n in names if not self.credentials.get(n)]
        if missing:
            raise GatewayError(f"gateway {self.gateway.name}: credentials lack "
                               f"{', '.join(missing)}", retryable=False)
        return [self.credentials[n] for n in names]

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            response = self.client().request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise GatewayError(f"timeout calling {self.gateway.kind}: "
                               f"{type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise GatewayError(f"network error calling {self.gateway.kind}: "
                               f"{type(exc).__name__}") from exc
        # Only "later may work" statuses here: a vendor's 4xx carries its own error
        # envelope, which its adapter maps (e.g. Aliyun's codes).
        error = gateway_http_error(response.status_code, response.text[:200],
                                   vendor=self.gateway.kind)
        if error is not None and error.retryable:
            raise error
        return response

    @staticmethod
    def _json(response: httpx.Response) -> dict:
        try:
            data = response.json()
        except ValueError as exc:
            raise GatewayError(f"HTTP {response.status_code}: the answer is not JSON",
                               status_code=response.status_code) from exc
        if not isinstance(data, dict):
            raise GatewayError(f"HTTP {response.status_code}: unexpected answer",
                               status_code=response.status_code)
        return data


def aliyun_phone(recipient: str) -> str:
    """Aliyun wants mainland numbers bare (138…) and others with the country code, no +."""
    phone = recipient.strip().replace(" ", "")
    if phone.startswith("+86"):
        return phone[3:]
    return phone.lstrip("+")


class AliyunSms(GatewayAdapter):
    """Dysmsapi 2017-05-25 SendSms, RPC style, signature V1, POSTed as a form."""

    def build_params(self, message: OutgoingMessage, *, nonce: str | None = None,
                     timestamp: dt.datetime | None = None) -> dict:
        access_key_id, secret = self._need("access_key_id", "access_key_secret")
        sign_name = message.sign_name or self.config.get("sign_name", "")
        if not message.template_code:
            raise GatewayError("no Aliyun template code on the message template", retryable=False)
        if not sign_name:
            raise GatewayError("no Aliyun sign name (template or gateway)", retryable=False)
        when = (timestamp or timezone.now()).astimezone(dt.UTC)
        params = {
            "AccessKeyId": access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": aliyun_phone(message.recipient),
            "RegionId": self.config.get("region", "cn-hangzhou"),
            "SignName": sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": message.template_code,
            "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        if message.template_params:
            params["TemplateParam"] = json.dumps(message.template_params, ensure_ascii=False,
                                                 separators=(",", ":"))
        if message.reference:
            params["OutId"] = message.reference
        params["Signature"] = aliyun_rpc_signature(params, secret, "POST")
        return params

    def send(self, message: OutgoingMessage) -> SendResult:
        params = self.build_params(message)
        # Encode the form ourselves with the same percent-encoding the signature used.
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
        response = self._request(
            "POST", self.gateway.endpoint or ALIYUN_ENDPOINT, content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        data = self._json(response)
        code = str(data.get("Code", ""))
        if code == "OK":
            return SendResult(provider_id=str(data.get("BizId", "")),
                              status_code=response.status_code)
        if code in ALIYUN_TEMPLATE_MISMATCH:
            raise GatewayError(
                _("Aliyun %(code)s: %(detail)s — the approved SMS template %(template)s expects "
                  "parameters the hub did not send (sent: %(sent)s). Map the hub's variables to "
                  "the template's parameter names on the message template.") % {
                    "code": code, "detail": str(data.get("Message", ""))[:200],
                    "template": message.template_code,
                    "sent": ", ".join(message.template_params) or "—"},
                retryable=False, status_code=response.status_code)
        retryable = code in ALIYUN_RETRYABLE or code.startswith("Throttling")
        raise GatewayError(f"Aliyun {code or response.status_code}: "
                           f"{str(data.get('Message', ''))[:300]}",
                           retryable=retryable, status_code=response.status_code)


class HttpSms(GatewayAdapter):
    """A generic HTTP SMS gateway: URL, method, JSON body template, one auth header.

    ``config``: ``method`` (POST/GET), ``body_template`` (JSON; ``{phone}``,
    ``{text}``, ``{template_code}``, ``{reference}`` inside its strings are
    replaced), ``auth_header`` (e.g. ``Authorization``), ``ok_field`` /
    ``ok_value`` (optional: a JSON field of the answer that must equal the value).
    ``credentials``: ``auth_value`` (the header's value).
    """

    DEFAULT_BODY = '{"to": "{phone}", "text": "{text}"}'

    def payload(self, message: OutgoingMessage):
        values = {"{phone}": message.recipient, "{text}": message.body,
                  "{template_code}": message.template_code, "{reference}": message.reference}

        def fill(node):
            if isinstance(node, str):
                for key, value in values.items():
                    node = node.replace(key, value)
                return node
            if isinstance(node, list):
                return [fill(item) for item in node]
            if isinstance(node, dict):
                return {k: fill(v) for k, v in node.items()}
            return node

        try:
            template = json.loads(self.config.get("body_template") or self.DEFAULT_BODY)
        except ValueError as exc:
            raise GatewayError("the gateway's body_template is not JSON", retryable=False) from exc
        return fill(template)

    def send(self, message: OutgoingMessage) -> SendResult:
        method = str(self.config.get("method", "POST")).upper()
        headers = {}
        header_name = self.config.get("auth_header", "")
        if header_name:
            (auth_value,) = self._need("auth_value")
            headers[header_name] = auth_value
        payload = self.payload(message)
        if method == "GET":
            if not isinstance(payload, dict):
                raise GatewayError("GET needs a JSON object body_template", retryable=False)
            response = self._request("GET", self.gateway.endpoint, params=payload,
                                     headers=headers)
        else:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
            response = self._request("POST", self.gateway.endpoint, content=body,
                                     headers=headers)
        error = gateway_http_error(response.status_code, response.text[:200],
                                   vendor=self.gateway.kind)
        if error is not None:
            raise error
        provider_id = ""
        ok_field = self.config.get("ok_field")
        if ok_field or self.config.get("id_field"):
            data = self._json(response)
            if ok_field and str(data.get(ok_field)) != str(self.config.get("ok_value", "")):
                raise GatewayError(f"gateway refused: {json.dumps(data, ensure_ascii=False)[:200]}",
                                   retryable=False, status_code=response.status_code)
            provider_id = str(data.get(self.config.get("id_field", ""), "") or "")
        return SendResult(provider_id=provider_id, status_code=response.status_code)


def _mentions(recipient: str) -> list[str]:
    return [p.strip() for p in recipient.replace("，", ",").split(",") if p.strip()]


def _text(message: OutgoingMessage) -> str:
    return f"{message.subject}\n{message.body}" if message.subject else message.body


def _truncate_bytes(text: str, limit: int) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


class WeComRobot(GatewayAdapter):
    """WeCom group robot: POST JSON to the webhook URL; the ``key`` is the secret."""

    def send(self, message: OutgoingMessage) -> SendResult:
        (key,) = self._need("key")
        text = {"content": _truncate_bytes(_text(message), WECOM_TEXT_LIMIT)}
        mentions = _mentions(message.recipient)
        if mentions:
            text["mentioned_mobile_list"] = mentions
        body = json.dumps({"msgtype": "text", "text": text}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        response = self._request("POST", self.gateway.endpoint or WECOM_ENDPOINT,
                                 params={"key": key}, content=body,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
        data = self._json(response)
        errcode = data.get("errcode")
        if errcode == 0:
            return SendResult(status_code=response.status_code)
        raise GatewayError(f"WeCom {errcode}: {str(data.get('errmsg', ''))[:200]}",
                           retryable=errcode in WECOM_RETRYABLE, status_code=response.status_code)


class DingTalkRobot(GatewayAdapter):
    """DingTalk custom robot with 加签: access_token, timestamp (ms) and sign in the URL."""

    def send(self, message: OutgoingMessage, *, now_ms: int | None = None) -> SendResult:
        token, secret = self._need("access_token", "secret")
        timestamp = now_ms if now_ms is not None else int(timezone.now().timestamp() * 1000)
        mentions = _mentions(message.recipient)
        payload = {"msgtype": "text", "text": {"content": _text(message)},
                   "at": {"atMobiles": mentions, "atUserIds": [], "isAtAll": False}}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        # httpx percent-encodes query values itself, so the raw base64 goes in here.
        response = self._request(
            "POST", self.gateway.endpoint or DINGTALK_ENDPOINT,
            params={"access_token": token, "timestamp": str(timestamp),
                    "sign": dingtalk_sign(timestamp, secret)},
            content=body, headers={"Content-Type": "application/json; charset=utf-8"},
        )
        data = self._json(response)
        errcode = data.get("errcode")
        if errcode == 0:
            return SendResult(status_code=response.status_code)
        raise GatewayError(f"DingTalk {errcode}: {str(data.get('errmsg', ''))[:200]}",
                           retryable=errcode in DINGTALK_RETRYABLE,
                           status_code=response.status_code)


class EmailGateway(GatewayAdapter):
    """Django's configured mail backend; ``config.from_email`` overrides the sender."""

    def send(self, message: OutgoingMessage) -> SendResult:
        recipients = _mentions(message.recipient)
        if not recipients:
            raise GatewayError("no e-mail address", retryable=False)
        mail = EmailMessage(subject=message.subject or message.body.splitlines()[0][:80],
                            body=message.body, from_email=self.config.get("from_email") or None,
                            to=recipients)
        try:
            mail.send(fail_silently=False)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise GatewayError(f"mail refused: {type(exc).__name__}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise GatewayError(f"mail server: {type(exc).__name__}: {exc}"[:300]) from exc
        return SendResult()


ADAPTERS: dict[str, type[GatewayAdapter]] = {
    Gateway.Kind.ALIYUN_SMS: AliyunSms,
    Gateway.Kind.HTTP_SMS: HttpSms,
    Gateway.Kind.WECOM: WeComRobot,
    Gateway.Kind.DINGTALK: DingTalkRobot,
    Gateway.Kind.EMAIL: EmailGateway,
}


def adapter_for(gateway: Gateway, *, client: httpx.Client | None = None) -> GatewayAdapter:
    try:
        cls = ADAPTERS[gateway.kind]
    except KeyError as exc:
        raise GatewayError(f"unknown gateway kind {gateway.kind!r}", retryable=False) from exc
    return cls(gateway, client=client)
