"""Kuaidi100 (快递100): e-waybills for ZTO/YTO/STO/Yunda/JD, tracking query and push.

PROTOCOLS.md §6.2. Three signing schemes, all upper-case MD5 hex:
- real-time query: ``MD5(param + key + customer)``;
- e-waybill (``/label/order``): ``MD5(param + t + key + secret)``;
- push callback: ``MD5(param + salt)``, the salt we gave when subscribing.
Each is computed over the exact ``param`` string sent or received.

Phones (``query_phone`` / ``label_phone``): Kuaidi100 refuses ``+86…``. Its real-time
query document (https://api.kuaidi100.com/document/5f0ffb5ebc8da837cbd8aefc, ``param.phone``)
asks for the recipient's or sender's number, mobile or landline, one only; required for
SF (顺丰速运/顺丰快运) and ZTO (中通快递); a landline's extension is not sent; an
e-commerce virtual number (``138…-1234``) is sent as the four digits after the ``-``.
The subscription (``/poll`` ``parameters.phone``) takes the same value. The e-waybill
order's ``recMan``/``sendMan`` carry ``mobile`` (mobile number) or ``tel`` (landline).

E-waybill order (``/label/order?method=order``, Kuaidi100's PHP/Java demos
``print_order.php`` / ``labelV2.OrderResult``): ``printType=IMAGE`` makes the
answer's ``data.label`` a short link to the label image; we download it with the
same client right after booking so the waybill stores the carrier's own label
(like SF's stored PDF). A failed download never fails the booking: the link is
kept and ``label_image`` is tried again when the label is stored or opened.

One Kuaidi100 account books for one carrier (``carrier_code``: shunfeng, zhongtong,
yuantong...). Each carrier's e-waybill account travels in ``partnerId`` /
``partnerKey`` / ``partnerSecret`` / ``partnerName`` / ``net`` / ``code`` /
``checkMan``, with the meaning Kuaidi100's parameter dictionary
(https://api.kuaidi100.com/document/5f0ff6e82977d50a94e10237) gives per carrier:
SF 月结账号 in ``partnerId``; ZTO 电子面单账号 + 打单密钥 (``partnerId`` +
``partnerKey``); YTO 商家代码 + 商家密钥. ``PARTNER_CREDENTIALS`` maps our credential
keys to those fields; ``REQUIRED_PARTNER_FIELDS`` refuses a booking the carrier would
refuse anyway, before any call. Error answers come as labelV2's ``{"success": false,
"code": 30002, "message": …}`` or the older ``{"result": false, "returnCode": …}``;
both map to the carrier base's errors (30002, the signature, is an auth error).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections.abc import Mapping

import httpx
import phonenumbers
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fulfillment.shipping.carriers.base import (
    COLLECTED,
    DELIVERED,
    EXCEPTION,
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    Booking,
    CarrierAdapter,
    CarrierAuthError,
    CarrierError,
    CarrierRefused,
    Parcel,
    TrackEvent,
    carrier_time,
    md5_hex,
)

# ``state`` of a query result / push: 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签, 5 派件,
# 6 退回, 7 转投, 8 清关, 14 拒签.
STATE_MILESTONES = {
    "0": IN_TRANSIT, "1": COLLECTED, "2": EXCEPTION, "3": DELIVERED, "4": EXCEPTION,
    "5": OUT_FOR_DELIVERY, "6": EXCEPTION, "7": IN_TRANSIT, "8": IN_TRANSIT,
    "14": EXCEPTION,
}
# Per-event ``status`` text (with resultv2).
STATUS_MILESTONES = {
    "揽收": COLLECTED, "在途": IN_TRANSIT, "派件": OUT_FOR_DELIVERY, "签收": DELIVERED,
    "疑难": EXCEPTION, "退签": EXCEPTION, "退回": EXCEPTION, "拒签": EXCEPTION,
    "转投": IN_TRANSIT, "清关": IN_TRANSIT,
}
# Query return codes worth trying later (server busy); others need a person.
RETRYABLE_CODES = {"500", "502", "503"}
# E-waybill: the signature (key/secret) was refused.
SIGNATURE_ERROR = "30002"

# Credential key (the account's JSON) -> e-waybill ``param`` field. ``partner_id`` falls
# back to the account's monthly account number (SF's 月结账号).
PARTNER_CREDENTIALS = {
    "partner_id": "partnerId", "partner_key": "partnerKey", "partner_secret": "partnerSecret",
    "partner_name": "partnerName", "net": "net", "code": "code", "check_man": "checkMan",
    "tb_net": "tbNet",
}
# The fields the parameter dictionary marks required ("*") for each carrier.
REQUIRED_PARTNER_FIELDS = {
    "shunfeng": ("partnerId",),
    "shunfengkuaiyun": ("partnerId",),
    "zhongtong": ("partnerId", "partnerKey"),
    "yuantong": ("partnerId", "partnerKey"),
    "yunda": ("partnerId", "partnerKey"),
    "jd": ("partnerId",),
    "ems": ("partnerId", "partnerKey"),
    "jtexpress": ("partnerId", "partnerKey"),
}

# E-waybill return codes -> what a person should do, shown in the UI language.
# 30002 / 30001 are the documented signature and parameter errors; 5xx is Kuaidi100 busy.
LABEL_ERROR_HINTS = {
    "30001": _("Kuaidi100 rejected the waybill data. Check the recipient's name, phone and "
               "address on the order, then retry the waybill."),
    "30002": _("Kuaidi100 could not verify the request signature. Check the key and secret "
               "of the carrier account under Shipping settings."),
    "400": _("Kuaidi100 rejected the waybill data. Check the recipient's name, phone and "
             "address on the order, then retry the waybill."),
    "500": _("Kuaidi100 is busy. Open the label again in a few minutes."),
    "502": _("Kuaidi100 is busy. Open the label again in a few minutes."),
    "503": _("Kuaidi100 is busy. Open the label again in a few minutes."),
}
DEFAULT_HINT = _("Kuaidi100 did not return the label. Open it again in a few minutes; if it "
                 "keeps failing, print the label from the Kuaidi100 console.")
# The label image bytes travel in ``label_data`` from booking to storage only.
IMAGE_KEY = "label_image"
IMAGE_TYPE_KEY = "label_content_type"
LABEL_TYPES = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}


def label_error_hint(code: str | int | None):
    """What to do about an e-waybill error code (lazy: rendered in the reader's language)."""
    return LABEL_ERROR_HINTS.get(str(code or ""), DEFAULT_HINT)


# A platform's virtual number: a mobile, then "-" (or 转) and the extension to dial.
VIRTUAL_NUMBER = re.compile(r"^(?P<main>.+?)\s*[-转#]\s*(?P<extension>\d{1,8})$")


def _parse(raw: str) -> tuple[phonenumbers.PhoneNumber | None, str]:
    """(the parsed number, a virtual number's extension or "") of what the order holds."""
    text = (raw or "").strip()
    if not text:
        return None, ""
    match = VIRTUAL_NUMBER.match(text)
    if match:
        main = _parse_one(match["main"])
        # Only a whole valid number before the dash makes the rest an extension
        # (``021-69580000`` is one landline, not 021 extension 69580000).
        if main is not None and phonenumbers.is_valid_number(main):
            if main.country_code == 86 and phonenumbers.number_type(main) in MOBILE_TYPES:
                return main, match["extension"]
            return main, ""  # a landline's extension: Kuaidi100 wants it left off
    return _parse_one(text), ""


def _parse_one(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _mainland(number: phonenumbers.PhoneNumber) -> str:
    """A mainland number as dialled at home: ``13800138000``, ``02169580000`` (area code)."""
    national = str(number.national_number)
    if phonenumbers.number_type(number) in MOBILE_TYPES:
        return national
    return "0" + national  # landlines keep their trunk 0 + area code, no extension


def query_phone(raw: str) -> str:
    """The ``phone`` of a tracking query or subscription (see the module docstring).

    Mainland numbers in their home form; a virtual number's extension's last four digits
    (as documented); a number from outside the mainland by its last four digits, the part
    the carriers check (their full form is not documented); unreadable input is left out.
    """
    number, extension = _parse(raw)
    if number is None:
        return ""
    if extension:
        return extension[-4:]
    if number.country_code == 86:
        return _mainland(number)
    return str(number.national_number)[-4:]


def label_phone(raw: str) -> dict[str, str]:
    """``{"mobile": …}`` or ``{"tel": …}`` for an e-waybill party (one of them is required).

    Virtual numbers are kept whole (``13800138000-1234``): the courier dials the extension.
    Numbers outside the mainland go in ``tel`` in international digits (``00852…``).
    """
    number, extension = _parse(raw)
    if number is None:
        return {"mobile": ""}
    if number.country_code != 86:
        return {"tel": f"00{number.country_code}{number.national_number}"}
    if phonenumbers.number_type(number) in MOBILE_TYPES:
        return {"mobile": _mainland(number) + (f"-{extension}" if extension else "")}
    return {"tel": _mainland(number)}


def query_sign(param: str, key: str, customer: str) -> str:
    return md5_hex(param + key + customer).upper()


def label_sign(param: str, t: str, key: str, secret: str) -> str:
    return md5_hex(param + t + key + secret).upper()


def callback_sign(param: str, salt: str) -> str:
    return md5_hex(param + salt).upper()


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def parse_result(result: Mapping) -> list[TrackEvent]:
    """Events of a query result (or a push's ``lastResult``), newest first as sent."""
    state_milestone = STATE_MILESTONES.get(str(result.get("state", "")), IN_TRANSIT)
    events = []
    for i, item in enumerate(result.get("data") or []):
        if not isinstance(item, Mapping):
            continue
        when = carrier_time(str(item.get("ftime") or item.get("time") or ""))
        text = str(item.get("context") or "").strip()
        if when is None or not text:
            continue
        milestone = STATUS_MILESTONES.get(str(item.get("status") or ""))
        if milestone is None:
            # Without per-event status only the newest event's stage is known.
            milestone = state_milestone if i == 0 else IN_TRANSIT
        events.append(TrackEvent(occurred_at=when, description=text,
                                 place=str(item.get("areaName") or "")[:120],
                                 milestone=milestone, raw=dict(item)))
    return events


class Kuaidi100Adapter(CarrierAdapter):
    kind = "kuaidi100"
    poll_base_url = "https://poll.kuaidi100.com"
    api_base_url = "https://api.kuaidi100.com"
    supports_push = True

    def _poll_url(self, path: str) -> str:
        return f"{(self.account.base_url or self.poll_base_url).rstrip('/')}{path}"

    def _api_url(self, path: str) -> str:
        return f"{(self.account.base_url or self.api_base_url).rstrip('/')}{path}"

    @property
    def company(self) -> str:
        if not self.account.carrier_code:
            raise CarrierRefused("kuaidi100: the account has no carrier code (e.g. zhongtong).")
        return self.account.carrier_code

    # --- e-waybill ----------------------------------------------------------------------

    def partner_fields(self) -> dict:
        """The carrier's e-waybill account fields for ``param`` (only those set).

        Raises ``CarrierRefused`` naming the missing credentials when the parameter
        dictionary requires more for this carrier: no call is made.
        """
        fields = {}
        for key, name in PARTNER_CREDENTIALS.items():
            value = str(self.credentials.get(key) or "").strip()
            if value:
                fields[name] = value
        if self.account.monthly_account:
            fields["partnerId"] = self.account.monthly_account
        required = REQUIRED_PARTNER_FIELDS.get(self.company, ("partnerId",))
        missing = [name for name in required if not fields.get(name)]
        if missing:
            keys = {v: k for k, v in PARTNER_CREDENTIALS.items()}
            raise CarrierRefused(gettext(
                "Kuaidi100: %(carrier)s e-waybills need %(fields)s in the carrier account's "
                "credentials (partner_id may instead be the monthly account no.).") % {
                "carrier": self.company, "fields": ", ".join(keys[n] for n in missing)})
        return fields

    def _label_call(self, method: str, param: dict) -> dict:
        body = dumps(param)
        t = str(int(time.time() * 1000))
        key = self.credential("key")
        form = {"method": method, "key": key, "t": t, "param": body,
                "sign": label_sign(body, t, key, self.credential("secret"))}
        data = self.json(self.post_form(self._api_url(f"/label/order?method={method}"), form))
        if not isinstance(data, Mapping):
            raise CarrierError("kuaidi100: the answer is not a JSON object")
        # labelV2 answers carry ``success`` + ``code`` (200 = ok); the older e-waybill
        # answers ``result`` + ``returnCode``.
        ok = data.get("success", data.get("result"))
        code = str(data.get("code") or data.get("returnCode") or "")
        if ok is False or code != "200":
            message = f"kuaidi100: {code} {data.get('message') or ''}".strip()
            if code in RETRYABLE_CODES:
                error = CarrierError(message)
            elif code == SIGNATURE_ERROR:
                error = CarrierAuthError(message)
            else:
                error = CarrierRefused(message)
            error.code = code
            raise error
        result = data.get("data") or {}
        if isinstance(result, list):  # some carriers answer a list of one
            result = result[0] if result and isinstance(result[0], Mapping) else {}
        return result if isinstance(result, Mapping) else {}

    def label_image(self, url: str) -> tuple[bytes, str]:
        """(bytes, content type) of the label behind ``data.label``'s short link."""
        try:
            response = self.client.get(url, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise CarrierError(f"kuaidi100: cannot download the label ({type(exc).__name__})"
                               ) from exc
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.status_code != 200 or content_type not in LABEL_TYPES:
            error = (CarrierError if response.status_code >= 500 else CarrierRefused)(
                f"kuaidi100: the label link answered {response.status_code} {content_type}")
            error.code = str(response.status_code)
            raise error
        return response.content, content_type

    def book(self, parcel: Parcel) -> Booking:
        def man(party):
            return {"name": party.name, **label_phone(party.phone),
                    "printAddr": party.full_address, "company": party.company}

        param = {
            **self.partner_fields(),
            "kuaidicom": self.company,
            "recMan": man(parcel.recipient),
            "sendMan": man(parcel.sender),
            "cargo": "、".join(name for name, _q in parcel.items)[:60],
            "count": parcel.count,
            "weight": parcel.weight_kg,
            "payType": "SHIPPER",
            "expType": parcel.service or "标准快递",
            "remark": parcel.remark[:100],
            "orderId": parcel.reference,
            # IMAGE: the answer's ``label`` is a short link to the printed label.
            "printType": "IMAGE",
        }
        if self.credentials.get("temp_id"):
            param["tempId"] = self.credentials["temp_id"]
        data = self._label_call("order", param)
        number = data.get("kuaidinum")
        if not number:
            raise CarrierError("kuaidi100: the answer has no tracking number")
        label = {k: data.get(k) for k in ("bulkpen", "orgCode", "destCode", "taskId", "label")
                 if data.get(k) not in (None, "")}
        if label.get("label"):
            try:
                content, content_type = self.label_image(str(label["label"]))
            except CarrierError:
                pass  # booked all the same; the link is tried again when the label is stored
            else:
                label[IMAGE_KEY] = base64.b64encode(content).decode()
                label[IMAGE_TYPE_KEY] = content_type
        return Booking(tracking_number=str(number),
                       carrier_order_id=str(data.get("kdComOrderNum") or ""),
                       label_data=label)

    def cancel(self, *, tracking_number: str, reference: str = "") -> None:
        # ``orderId``: the kdComOrderNum the order answer gave (required when it gave one).
        self._label_call("cancel", {
            **self.partner_fields(), "kuaidicom": self.company, "kuaidinum": tracking_number,
            "orderId": reference, "reason": "order intercepted"})

    # --- tracking -------------------------------------------------------------------------

    def _tracking_phone(self, phone: str) -> str:
        """The recipient's phone, else the sender's: the query takes either (and SF/ZTO need
        one), so an order whose buyer phone is hidden or unreadable still gets tracked."""
        return query_phone(phone) or query_phone(self.account.sender_phone)

    def track(self, *, tracking_number: str, phone: str = "") -> list[TrackEvent]:
        param = dumps({"com": self.company, "num": tracking_number,
                       "phone": self._tracking_phone(phone),
                       "resultv2": "1", "show": "0", "order": "desc"})
        key, customer = self.credential("key"), self.credential("customer")
        data = self.json(self.post_form(self._poll_url("/poll/query.do"), {
            "customer": customer, "param": param, "sign": query_sign(param, key, customer)}))
        if data.get("result") is False or (data.get("returnCode")
                                            and str(data.get("status")) != "200"):
            code = str(data.get("returnCode") or "")
            message = f"kuaidi100: {code} {data.get('message') or ''}".strip()
            if code in RETRYABLE_CODES:
                raise CarrierError(message)
            raise CarrierRefused(message)
        return parse_result(data)

    def subscribe(self, *, tracking_number: str, callback_url: str, salt: str,
                  phone: str = "") -> None:
        param = dumps({"company": self.company, "number": tracking_number, "from": "", "to": "",
                       "key": self.credential("key"),
                       "parameters": {"callbackurl": callback_url, "salt": salt,
                                      "resultv2": "1", "autoCom": "0", "interCom": "0",
                                      "phone": self._tracking_phone(phone)}})
        data = self.json(self.post_form(self._poll_url("/poll"),
                                        {"schema": "json", "param": param}))
        # 501: already subscribed, which is what we wanted.
        if not data.get("result") and str(data.get("returnCode")) != "501":
            raise CarrierRefused(
                f"kuaidi100: {data.get('returnCode')} {data.get('message') or ''}".strip())

    def verify_callback(self, *, form: Mapping[str, str], salt: str) -> bool:
        param, sign = form.get("param") or "", form.get("sign") or ""
        if not param or not sign or not salt:
            return False
        return hmac.compare_digest(callback_sign(param, salt), sign.upper())

    def parse_callback(self, *, form: Mapping[str, str]) -> tuple[str, list[TrackEvent]]:
        try:
            data = json.loads(form.get("param") or "")
        except ValueError as exc:
            raise CarrierRefused("kuaidi100: the pushed param is not JSON") from exc
        result = data.get("lastResult") if isinstance(data, Mapping) else None
        if not isinstance(result, Mapping) or not result.get("nu"):
            raise CarrierRefused("kuaidi100: the push has no lastResult")
        return str(result["nu"]), parse_result(result)
