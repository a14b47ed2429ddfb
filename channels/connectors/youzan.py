"""Youzan Cloud (有赞云) connector: silent-authorisation token, ``youzan.trades.sold.get``.

Settings: ``base_url`` (default the Youzan Cloud host), ``kdt_id`` (the shop,
the ``grant_id`` of silent authorisation), ``window_minutes``,
``carrier_map`` (hub carrier company → Youzan express id, ``out_stype``, over
``CARRIER_NAMES``), ``gift_keywords``, ``decrypt_enabled``.
Credentials: ``client_id``, ``client_secret``.

Fulfilment: ``WAIT_BUYER_CONFIRM_GOODS`` (shipped, waiting for the buyer) and
``TRADE_SUCCESS`` (done); the parcels are in ``delivery_order[]``: each with
``oids`` (the lines in it) and ``dists[].express_info`` (``express_id``,
``express_no``). Lines in a parcel while the trade still waits for shipping
make it partly shipped.
"""

from __future__ import annotations

import datetime as dt
import json

from channels.connectors.base import (
    CANCELLED,
    COMPLETED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    UNPAID,
    AmbiguousReply,
    AuthError,
    ConnectorError,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    PermanentError,
    line_items,
    money,
    quantity,
    require,
    required_time,
    text,
)
from channels.connectors.cn import (
    ListPage,
    WindowedConnector,
    WriteMixin,
    as_sent,
    cache_secret,
    cached_secret,
    check_json_response,
    clear_phone,
    clear_region,
    cn_time,
    coded_error,
    error_message,
    group_parcels,
    int_or_none,
    looks_encrypted,
    mark_gifts,
    parse_cn_time,
    shipped_lines,
    token_error,
)

BASE_URL = "https://open.youzanyun.com"
LIST_API = ("youzan.trades.sold.get", "4.0.4")
SHIP_API = ("youzan.logistics.online.confirm", "3.0.0")
TRADE_API = ("youzan.trade.get", "4.0.0")
DECRYPT_API = ("youzan.cloud.secret.decrypt.batch", "1.0.0")

STATUS = {
    "WAIT_BUYER_PAY": UNPAID,
    "TRADE_NO_CREATE_PAY": UNPAID,
    # Group buy not formed yet: paid, but not to be shipped.
    "WAIT_CONFIRM": UNPAID,
    "WAIT_GROUP": UNPAID,
    "TRADE_PAID": PAID,
    "WAIT_SELLER_SEND_GOODS": PAID,
    "WAIT_BUYER_CONFIRM_GOODS": PAID,
    "TRADE_SUCCESS": PAID,
    "TRADE_CLOSED": CANCELLED,
}
FULFILLMENT = {"WAIT_BUYER_CONFIRM_GOODS": SHIPPED, "TRADE_SUCCESS": COMPLETED}

# Gateway error codes (gw_err_resp.err_code): low-medium confidence.
TOKEN_CODES = {4201, 4202, 4203}  # token missing / invalid / expired → get a new one once
AUTH_CODES = {4001, 4002, 4003, 4004, 4301}  # client, grant or API permission problems
THROTTLE_CODES = {4005, 4601, 429}
PLATFORM_CODES = {5000, 5001, 5002, 500}


class TokenInvalid(AuthError):
    pass


def youzan_error(data: dict) -> ConnectorError:
    gateway = data.get("gw_err_resp") if isinstance(data.get("gw_err_resp"), dict) else None
    if gateway:
        code, msg = gateway.get("err_code"), text(gateway.get("err_msg"))
    else:
        error = data.get("error_response") if isinstance(data.get("error_response"),
                                                         dict) else data
        code, msg = error.get("code"), text(error.get("message") or error.get("msg"))
    code = int_or_none(code)
    message = error_message("youzan", code, msg)
    if code in TOKEN_CODES:
        return TokenInvalid(message)
    if code in AUTH_CODES:
        return AuthError(message + " — check the app's authorisation for this shop")
    return coded_error(message, code, retry=THROTTLE_CODES | PLATFORM_CODES)


def _answer(data: dict) -> dict | None:
    """The ``data`` of a successful answer, None for an error answer."""
    if data.get("success") is True or (data.get("code") == 200 and "data" in data):
        return data.get("data") or {}
    return None


class YouzanConnector(WriteMixin, WindowedConnector):
    platform = "youzan"
    window_minutes = 60
    max_window_minutes = 24 * 60
    legacy_carrier_setting = "express_ids"
    # Youzan express ids (the ``out_stype`` of logistics.online.confirm). JD, J&T and
    # Deppon have ids too, but not ones we could confirm: map them in carrier_map.
    CARRIER_NAMES = {
        "STO": "1", "YTO": "2", "ZTO": "3", "YUNDA": "4", "BEST": "6", "SF": "7",
        "EMS": "11",
    }

    @property
    def base_url(self) -> str:
        return str(self.config.get("base_url", BASE_URL)).rstrip("/")

    # --- token -----------------------------------------------------------------------

    def _token_key(self) -> str:
        return f"channels:youzan-token:{self.channel.pk}"

    def access_token(self, *, renew: bool = False) -> str:
        """A token from silent authorisation, cached (encrypted) until shortly before expiry."""
        cached = None if renew else cached_secret(self._token_key())
        if cached:
            return cached
        kdt_id = text(self.config.get("kdt_id", ""))
        if not kdt_id:
            raise AuthError("youzan: the channel has no kdt_id (shop id) setting")
        body = {"client_id": self.credential("client_id"),
                "client_secret": self.credential("client_secret"),
                "authorize_type": "silent", "grant_id": kdt_id, "refresh": renew}
        data = self.call_with_retries(lambda: self._token_answer(body))
        token = text((data.get("data") or {}).get("access_token"))
        expires_ms = (data.get("data") or {}).get("expires")
        now = self.now()
        try:
            expires = dt.datetime.fromtimestamp(int(expires_ms) / 1000, dt.UTC)
        except (TypeError, ValueError):
            expires = now + dt.timedelta(days=1)
        ttl = int((expires - now).total_seconds()) - 300
        if ttl > 0:
            cache_secret(self._token_key(), token, ttl)
        return token

    def _token_answer(self, body: dict) -> dict:
        """/auth/token. Only a definite refusal of the credentials is an AuthError;
        HTTP 5xx, timeouts and throttling are retried and end as a retryable
        ConnectorError, so a platform hiccup never pauses the channel."""
        response = self.request("POST", f"{self.base_url}/auth/token",
                                content=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json"})
        data = check_json_response(self.platform, response)
        if data.get("success") and text((data.get("data") or {}).get("access_token")):
            return data
        raise token_error(youzan_error(data), refused="youzan: silent authorisation refused",
                          failed="youzan: no access token")

    # --- API calls ---------------------------------------------------------------------

    def _send(self, api: tuple[str, str], params: dict, token: str,
              write: bool = False) -> dict:
        name, version = api
        url = f"{self.base_url}/api/{name}/{version}"
        kwargs = {"params": {"access_token": token},
                  "content": json.dumps(params, ensure_ascii=False,
                                        separators=(",", ":")).encode(),
                  "headers": {"Content-Type": "application/json"}}
        data = self.post_json(url, write=write, **kwargs)
        if write and "success" not in data and "code" not in data and "gw_err_resp" not in data:
            raise AmbiguousReply(f"youzan: the answer to {name} does not say whether "
                                 f"it succeeded")
        return data

    def call(self, api: tuple[str, str], params: dict, *, write: bool = False) -> dict:
        """One Youzan API call (``token_call``): the answer's ``data``."""
        return self.token_call(
            lambda token: self._send(api, params, token, write), answer=_answer,
            error=youzan_error, expired=TokenInvalid, write=write,
            hint=" — re-authorize the app for this shop")

    # --- orders --------------------------------------------------------------------

    def list_page(self, window, page, page_size, *, use_has_next) -> ListPage:
        data = self.call(LIST_API, {"page_no": page, "page_size": page_size,
                                    "start_update": cn_time(window.start),
                                    "end_update": cn_time(window.end)})
        rows = data.get("full_order_info_list") or []
        if not isinstance(rows, list):
            raise PermanentError("youzan: full_order_info_list is not a list")
        # Each row wraps the order in "full_order_info"; the hub stores the order itself.
        orders = [row.get("full_order_info", row) if isinstance(row, dict) else row
                  for row in rows]
        total = data.get("total_results")
        total = int(total) if total is not None else None
        return ListPage(orders=orders, total=total,
                        has_next=total is not None and page * page_size < total)

    def external_id(self, raw: dict) -> str:
        if isinstance(raw, dict) and isinstance(raw.get("full_order_info"), dict):
            raw = raw["full_order_info"]
        return text(require(require(raw, "order_info"), "tid", "order_info"))

    def normalize(self, raw: dict) -> NormalizedOrder:
        if isinstance(raw, dict) and isinstance(raw.get("full_order_info"), dict):
            raw = raw["full_order_info"]
        tid = self.external_id(raw)
        info = raw["order_info"]
        status_text = text(info.get("status"))
        if status_text not in STATUS:
            raise NormalizationError(f"unknown status “{status_text}”: not a status Youzan "
                                     f"documents, so it is not known whether to ship")
        status = STATUS[status_text]
        lines = []
        for what, item in line_items(raw, "orders", missing="order has no orders (lines)"):
            price = money(item.get("price"), f"{what}.price")
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "oid", what)),
                platform_sku=text(item.get("outer_sku_id") or item.get("outer_item_id")),
                listing_id=text(item.get("sku_id") or item.get("item_id")),
                name=text(item.get("title")),
                quantity=quantity(item.get("num"), f"{what}.num"),
                unit_price=price,
                is_gift=item.get("is_present") in (True, 1, "1", "true"),
            ))
        mark_gifts(lines, self.gift_keywords())
        fulfillment, shipments = NOT_SHIPPED, []
        if status == PAID:
            shipments = self._parcels(raw)
            if status_text in FULFILLMENT:
                fulfillment = FULFILLMENT[status_text]
                shipped_lines(lines, shipments, whole=True)
            elif shipped_lines(lines, shipments, whole=False):
                fulfillment = PARTIALLY_SHIPPED
            else:
                shipments = []
        address = raw.get("address_info") or {}
        pay = raw.get("pay_info") or {}
        remark = raw.get("remark_info") or {}
        buyer = raw.get("buyer_info") or {}
        if not all(isinstance(x, dict) for x in (address, pay, remark, buyer)):
            raise NormalizationError("address_info / pay_info / remark_info is not an object")
        placed = required_time(parse_cn_time(info.get("created"), "order_info.created"),
                               "created", "order_info")
        return NormalizedOrder(
            external_id=tid,
            status=status,
            updated_at=parse_cn_time(info.get("update_time"), "order_info.update_time"),
            placed_at=placed,
            paid_at=(parse_cn_time(info.get("pay_time"), "order_info.pay_time")
                     if status == PAID else None),
            lines=lines,
            currency="CNY",
            total=money(pay.get("payment"), "pay_info.payment"),
            shipping_fee=money(pay.get("post_fee"), "pay_info.post_fee"),
            buyer_name=as_sent(buyer.get("fans_nickname"), 120),
            buyer_message=text(remark.get("buyer_message")),
            ship_name=as_sent(address.get("receiver_name"), 120),
            ship_phone=clear_phone(address.get("receiver_tel")),
            ship_country="CN",
            ship_province=clear_region(address.get("delivery_province"), "delivery_province"),
            ship_city=clear_region(address.get("delivery_city"), "delivery_city"),
            ship_district=clear_region(address.get("delivery_district"), "delivery_district"),
            ship_street=as_sent(address.get("delivery_address"), 255),
            ship_postcode=text(address.get("delivery_postal_code"))[:16],
            cancel_reason=text(info.get("close_type") or "") if status == CANCELLED else "",
            fulfillment=fulfillment,
            shipments=shipments,
        )

    def _parcels(self, raw: dict) -> list:
        """Parcels from ``delivery_order[]`` (lines in ``oids``, carrier and tracking
        number in ``dists[].express_info``)."""
        deliveries = raw.get("delivery_order") or []
        if not isinstance(deliveries, list):
            raise NormalizationError("delivery_order is not a list")
        quantities = {text(item.get("oid")): item.get("num") for item in raw.get("orders") or []
                      if isinstance(item, dict)}
        rows = []
        for i, delivery in enumerate(deliveries):
            if not isinstance(delivery, dict):
                raise NormalizationError(f"delivery_order[{i}] is not an object")
            oids = [text(o.get("oid") if isinstance(o, dict) else o)
                    for o in delivery.get("oids") or []]
            for dist in delivery.get("dists") or []:
                express = dist.get("express_info") if isinstance(dist, dict) else None
                if not isinstance(express, dict):
                    continue
                carrier, tracking = text(express.get("express_id")), express.get("express_no")
                rows.append((carrier, tracking, None, "", 0))
                for oid in oids:
                    qty = quantities.get(oid)
                    rows.append((carrier, tracking, None, oid,
                                 int(qty) if str(qty).isdigit() else 0))
        return group_parcels(rows)

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict):
            rows = (data.get("data") or {}).get("full_order_info_list")
            if isinstance(rows, list):
                return [r.get("full_order_info", r) if isinstance(r, dict) else r
                        for r in rows]
        return super().orders_from_file(data)

    # --- shipments ---------------------------------------------------------------------

    def carrier_problem(self, code: str, carrier: str) -> str:
        if code.isdigit():
            return ""
        return (f"no express id for carrier “{carrier}”: map it in the channel's "
                f"carrier_map setting")

    def send_shipment(self, *, external_id: str, carrier: str, tracking_number: str) -> str:
        """``youzan.logistics.online.confirm``: ``carrier`` is a Youzan express id."""
        self.call(SHIP_API, {"tid": external_id, "out_stype": carrier,
                             "out_sid": tracking_number, "is_no_express": 0}, write=True)
        return f"sent with express {carrier}"

    def read_order(self, external_id: str) -> dict | None:
        """``youzan.trade.get``."""
        data = self.call(TRADE_API, {"tid": external_id})
        return data.get("full_order_info") or data

    # --- recipient ---------------------------------------------------------------------

    FIELDS = {"name": "receiver_name", "phone": "receiver_tel", "street": "delivery_address"}

    def recipient_ciphertexts(self, raw: dict) -> dict[str, str]:
        if isinstance(raw, dict) and isinstance(raw.get("full_order_info"), dict):
            raw = raw["full_order_info"]
        address = raw.get("address_info") if isinstance(raw.get("address_info"), dict) else {}
        return {k: text(address.get(field)) for k, field in self.FIELDS.items()
                if looks_encrypted(text(address.get(field)))}

    decrypt_api = "decrypt.batch"

    def decrypt_values(self, raw: dict, ciphertexts: list[str]) -> dict[str, str]:
        """``youzan.cloud.secret.decrypt.batch``: {ciphertext: plain text}."""
        data = self.call(DECRYPT_API, {"sources": ciphertexts})
        return data if isinstance(data, dict) else {}
