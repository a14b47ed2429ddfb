"""SF Express open platform (顺丰丰桥): create order / e-waybill, route query, cancel.

PROTOCOLS.md §6.1. Every call is a form POST to ``/std/service`` with
``partnerID``, ``requestID``, ``serviceCode``, ``timestamp``, ``msgData`` and
``msgDigest``; the answer's ``apiResultData`` is a JSON *string* to parse again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from urllib.parse import quote_plus

from fulfillment.shipping.carriers.base import (
    COLLECTED,
    DELIVERED,
    EXCEPTION,
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    Booking,
    CarrierAdapter,
    CarrierError,
    CarrierRefused,
    Parcel,
    TrackEvent,
    carrier_time,
)

CREATE_ORDER = "EXP_RECE_CREATE_ORDER"
SEARCH_ORDER = "EXP_RECE_SEARCH_ORDER_RESP"
UPDATE_ORDER = "EXP_RECE_UPDATE_ORDER"
SEARCH_ROUTES = "EXP_RECE_SEARCH_ROUTES"

# Gateway codes worth trying again later: flow control and SF's own system errors.
RETRYABLE_GATEWAY = {"A1005", "A1099"}
# "Duplicate orderId": an earlier try was booked though its answer was lost.
DUPLICATE_ORDER = "8016"

OPCODE_MILESTONES = {
    "50": COLLECTED, "54": COLLECTED, "43": COLLECTED,
    "44": OUT_FOR_DELIVERY, "204": OUT_FOR_DELIVERY,
    "80": DELIVERED, "8000": DELIVERED,
    "33": EXCEPTION, "70": EXCEPTION, "99": EXCEPTION, "648": EXCEPTION,
}


def sf_urlencode(text: str) -> str:
    """Java's ``URLEncoder.encode(text, "UTF-8")``: space → ``+``, ``*`` kept, ``~`` encoded."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """``base64(md5(urlencode(msgData + timestamp + checkWord)))`` (the raw digest, not hex)."""
    encoded = sf_urlencode(msg_data + timestamp + check_word)
    return base64.b64encode(hashlib.md5(encoded.encode("utf-8")).digest()).decode()  # noqa: S324


def dumps(data) -> str:
    # Signed and sent as exactly this string.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class SfAdapter(CarrierAdapter):
    kind = "sf"
    default_base_url = "https://bspgw.sf-express.com"

    def call(self, service_code: str, msg_data: dict) -> dict:
        """One signed call; returns the inner result (``success`` true) or raises."""
        body = dumps(msg_data)
        timestamp = str(int(time.time() * 1000))
        form = {
            "partnerID": self.credential("partner_id"),
            "requestID": str(uuid.uuid4()),
            "serviceCode": service_code,
            "timestamp": timestamp,
            "msgDigest": msg_digest(body, timestamp, self.credential("check_word")),
            "msgData": body,
        }
        response = self.post_form(f"{self.base_url}/std/service", form)
        envelope = self.json(response)
        code = str(envelope.get("apiResultCode", ""))
        if code != "A1000":
            message = f"sf: {code} {envelope.get('apiErrorMsg') or ''}".strip()
            if code in RETRYABLE_GATEWAY:
                raise CarrierError(message, status_code=response.status_code)
            raise CarrierRefused(message, status_code=response.status_code)
        try:
            result = json.loads(envelope.get("apiResultData") or "{}")
        except (TypeError, ValueError) as exc:
            raise CarrierError("sf: apiResultData is not JSON") from exc
        if not result.get("success"):
            error = CarrierRefused(
                f"sf: {result.get('errorCode')} {result.get('errorMsg') or ''}".strip(),
                status_code=response.status_code)
            error.code = str(result.get("errorCode") or "")
            raise error
        return result.get("msgData") or {}

    # --- booking --------------------------------------------------------------------------

    def create_order_data(self, parcel: Parcel) -> dict:
        def contact(party, contact_type):
            return {"contactType": contact_type, "contact": party.name, "mobile": party.phone,
                    "province": party.province, "city": party.city, "county": party.district,
                    "address": party.street, "company": party.company}

        return {
            "language": "zh-CN",
            "orderId": parcel.reference,
            "contactInfoList": [contact(parcel.sender, 1), contact(parcel.recipient, 2)],
            "cargoDetails": [{"name": name[:60], "count": qty, "unit": "件"}
                             for name, qty in parcel.items],
            "monthlyCard": parcel.monthly_account,
            "payMethod": 1,
            "expressTypeId": int(parcel.service) if parcel.service.isdigit() else 1,
            "parcelQty": 1,
            "totalWeight": parcel.weight_kg,
            "isDocall": 0,
            "isOneselfPickup": 0,
            "remark": parcel.remark[:100],
        }

    def book(self, parcel: Parcel) -> Booking:
        try:
            data = self.call(CREATE_ORDER, self.create_order_data(parcel))
        except CarrierRefused as exc:
            if getattr(exc, "code", "") != DUPLICATE_ORDER:
                raise
            # Booked by an earlier try whose answer never arrived: fetch that booking.
            data = self.call(SEARCH_ORDER, {"orderId": parcel.reference, "searchType": 1,
                                            "language": "zh-CN"})
        numbers = [w.get("waybillNo") for w in data.get("waybillNoInfoList") or []
                   if str(w.get("waybillType", 1)) == "1" and w.get("waybillNo")]
        if not numbers:
            raise CarrierError("sf: the answer has no waybill number")
        label = {k: data.get(k) for k in ("originCode", "destCode", "filterResult")
                 if data.get(k) not in (None, "")}
        return Booking(tracking_number=str(numbers[0]),
                       carrier_order_id=str(data.get("orderId") or parcel.reference),
                       label_data=label)

    def cancel(self, *, tracking_number: str, reference: str = "") -> None:
        self.call(UPDATE_ORDER, {"orderId": reference, "dealType": 2, "language": "zh-CN",
                                 "waybillNoInfoList": [{"waybillType": 1,
                                                        "waybillNo": tracking_number}]})

    # --- tracking -------------------------------------------------------------------------

    def track(self, *, tracking_number: str, phone: str = "") -> list[TrackEvent]:
        query = {"trackingType": 1, "trackingNumber": [tracking_number], "methodType": 1,
                 "language": "zh-CN"}
        if phone:
            query["checkPhoneNo"] = phone[-4:]
        data = self.call(SEARCH_ROUTES, query)
        events = []
        for resp in data.get("routeResps") or []:
            if str(resp.get("mailNo")) != tracking_number:
                continue
            for route in resp.get("routes") or []:
                when = carrier_time(str(route.get("acceptTime") or ""))
                text = str(route.get("remark") or "").strip()
                if when is None or not text:
                    continue
                events.append(TrackEvent(
                    occurred_at=when, description=text,
                    place=str(route.get("acceptAddress") or "")[:120],
                    milestone=OPCODE_MILESTONES.get(str(route.get("opCode")), IN_TRANSIT),
                    raw=route))
        return events
