"""Taobao / Tmall Open Platform (TOP) connector.

Settings (``Channel.config``): ``gateway`` (default the TOP router),
``sign_method`` (``md5`` | ``hmac`` | ``hmac-sha256``), ``window_minutes``
(≤ 1440, default 30), ``paging`` (``backward`` | ``has_next``),
``carrier_map`` (hub carrier company → TOP logistics company code, over
``CARRIER_NAMES``), ``gift_keywords``, ``decrypt_enabled``.
Credentials: ``app_key``, ``app_secret``, ``session``.

Fulfilment: the trade status says how far the seller shipped
(``WAIT_BUYER_CONFIRM_GOODS`` shipped, ``TRADE_BUYER_SIGNED`` signed for,
``TRADE_FINISHED`` finished, ``SELLER_CONSIGNED_PART`` partly); each
sub-order (``orders.order[]``) carries its own ``status``, ``consign_time``,
``logistics_company`` (the carrier's name) and ``invoice_no`` (the tracking
number of the parcel it is in), which give the parcels and what is left to ship.
"""

from __future__ import annotations

import hashlib
import json

from channels.connectors.base import (
    CANCELLED,
    COMPLETED,
    DELIVERED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    UNPAID,
    AuthError,
    ConnectorError,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    PermanentError,
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
    clear_phone,
    clear_region,
    cn_time,
    coded_error,
    error_message,
    group_parcels,
    hmac_hex,
    int_or_none,
    looks_encrypted,
    mark_gifts,
    masked_contact,
    md5_wrapped,
    parse_cn_time,
    retry_after_from_text,
    shipped_lines,
    sorted_concat,
)

GATEWAY = "https://gw.api.taobao.com/router/rest"
SIGN_METHODS = ("md5", "hmac", "hmac-sha256")

# Trade status → what the hub does with the order (pay / cancel / wait).
STATUS = {
    "TRADE_NO_CREATE_PAY": UNPAID,
    "WAIT_BUYER_PAY": UNPAID,
    "PAY_PENDING": UNPAID,
    "WAIT_PRE_AUTH_CONFIRM": UNPAID,
    "WAIT_SELLER_SEND_GOODS": PAID,
    "SELLER_CONSIGNED_PART": PAID,
    "WAIT_BUYER_CONFIRM_GOODS": PAID,
    "TRADE_BUYER_SIGNED": PAID,
    "TRADE_FINISHED": PAID,
    # Closed after payment (full refund) or before it (timeout, buyer/seller closed).
    "TRADE_CLOSED": CANCELLED,
    "TRADE_CLOSED_BY_TAOBAO": CANCELLED,
    # Paid, but the platform forbids shipping yet (group buy not formed).
    "PAID_FORBID_CONSIGN": UNPAID,
}
# How far the seller has shipped, by trade status (paid trades only).
FULFILLMENT = {
    "SELLER_CONSIGNED_PART": PARTIALLY_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": SHIPPED,
    "TRADE_BUYER_SIGNED": DELIVERED,
    "TRADE_FINISHED": COMPLETED,
}
# A sub-order in one of these has left the warehouse.
LINE_SHIPPED = ("WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED")
# A line whose refund went through is no longer to be shipped.
REFUNDED = "SUCCESS"

LIST_FIELDS = "tid,status,modified"
TRADE_FIELDS = (
    "tid,status,type,created,modified,pay_time,consign_time,end_time,payment,total_fee,"
    "post_fee,discount_fee,"
    "buyer_nick,buyer_message,receiver_name,receiver_state,receiver_city,receiver_district,"
    "receiver_town,receiver_address,receiver_zip,receiver_mobile,receiver_phone,oaid,"
    "orders.oid,orders.num_iid,orders.sku_id,orders.outer_iid,orders.outer_sku_id,"
    "orders.title,orders.num,orders.price,orders.payment,orders.total_fee,orders.status,"
    "orders.refund_status,orders.consign_time,orders.logistics_company,orders.invoice_no"
)

# error_response ``code`` values (TOP's documented common errors).
AUTH_CODES = {11, 12, 25, 26, 27, 28, 29, 53}
THROTTLE_CODES = {7}
PLATFORM_CODES = {15}  # remote service error: the sub_code says whose fault
SESSION_SUB_CODES = ("invalid-sessionkey", "isv.invalid-session", "sessionkey-expired",
                     "isv.session-expired")


def top_sign(params: dict, secret: str, method: str) -> str:
    """The TOP ``sign`` of ``params`` (uppercase hex) for ``method``."""
    message = sorted_concat(params)
    if method == "md5":
        return md5_wrapped(secret, message)
    if method == "hmac":
        return hmac_hex(secret, message, hashlib.md5).upper()
    if method == "hmac-sha256":
        return hmac_hex(secret, message, hashlib.sha256).upper()
    raise PermanentError(f"taobao: unknown sign_method “{method}” (use one of "
                         f"{', '.join(SIGN_METHODS)})")


def response_key(method: str) -> str:
    """``taobao.trades.sold.increment.get`` → ``trades_sold_increment_get_response``."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def top_error(error: dict) -> ConnectorError:
    """Map a TOP ``error_response`` to retry (isp, limits) / report (isv) / pause (auth)."""
    code = int_or_none(error.get("code"))
    sub_code = text(error.get("sub_code"))
    message = error_message("taobao", code, error.get("msg"), sub_code, error.get("sub_msg"))
    if code in (26, 27) or any(s in sub_code for s in SESSION_SUB_CODES):
        return AuthError(message + " — the seller must re-authorize the app (new session key)")
    # Error 15 (remote service error) is the platform's fault unless the sub_code blames us.
    return coded_error(message, code, auth=AUTH_CODES, retry=THROTTLE_CODES,
                       retryable=("limited" in sub_code or sub_code.startswith("isp.")
                                  or (code in PLATFORM_CODES and not sub_code.startswith("isv."))),
                       retry_after=retry_after_from_text(text(error.get("msg"))
                                                         + text(error.get("sub_msg"))))


class TaobaoConnector(WriteMixin, WindowedConnector):
    platform = "taobao"
    window_minutes = 30
    max_window_minutes = 24 * 60
    legacy_carrier_setting = "company_codes"
    # TOP logistics company codes (taobao.logistics.companies.get ``code``). J&T
    # came to Taobao on the code it took over, ``LB``; Deppon Express is ``DBKD``.
    CARRIER_NAMES = {
        "SF": "SF", "ZTO": "ZTO", "YTO": "YTO", "STO": "STO", "YUNDA": "YUNDA",
        "JD": "JD", "EMS": "EMS", "JTSD": "LB", "DEPPON": "DBKD", "BEST": "HTKY",
    }

    @property
    def gateway(self) -> str:
        return str(self.config.get("gateway", GATEWAY))

    @property
    def sign_method(self) -> str:
        return str(self.config.get("sign_method", "hmac-sha256"))

    # --- the gateway ---------------------------------------------------------------

    def signed_params(self, method: str, business: dict) -> dict:
        params = {
            "method": method, "app_key": self.credential("app_key"),
            "session": self.credential("session"),
            "timestamp": cn_time(self.now()), "format": "json", "v": "2.0",
            "sign_method": self.sign_method,
            **{k: v for k, v in business.items() if v is not None and v != ""},
        }
        params["sign"] = top_sign(params, self.credential("app_secret"), self.sign_method)
        return params

    def call(self, method: str, *, write: bool = False, **business) -> dict:
        """One TOP call; returns the inside of ``<method>_response`` (``router_call``)."""
        return self.router_call(method, response_key(method), business, write=write)

    router_error = staticmethod(top_error)

    # --- orders --------------------------------------------------------------------

    def list_page(self, window, page, page_size, *, use_has_next) -> ListPage:
        body = self.call("taobao.trades.sold.increment.get", fields=LIST_FIELDS,
                         start_modified=cn_time(window.start), end_modified=cn_time(window.end),
                         page_no=page, page_size=page_size,
                         use_has_next="true" if use_has_next else "false")
        trades = (body.get("trades") or {}).get("trade") or []
        if not isinstance(trades, list):
            raise PermanentError("taobao: trades.trade is not a list")
        total = body.get("total_results")
        return ListPage(orders=trades, total=int(total) if total is not None else None,
                        has_next=bool(body.get("has_next")))

    def list_key(self, order: dict) -> str:
        return text(require(order, "tid", "trade"))

    def complete(self, orders: list[dict]) -> list[dict]:
        """The increment list is partial: fetch each trade's full info."""
        full = []
        for order in orders:
            tid = self.list_key(order)
            body = self.call("taobao.trade.fullinfo.get", fields=TRADE_FIELDS, tid=tid)
            trade = body.get("trade")
            if not isinstance(trade, dict):
                raise PermanentError(f"taobao: trade.fullinfo.get for {tid} has no trade")
            full.append(trade)
        return full

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "tid", "trade"))

    def normalize(self, raw: dict) -> NormalizedOrder:
        if isinstance(raw, dict) and isinstance(raw.get("trade"), dict) and len(raw) == 1:
            raw = raw["trade"]
        tid = self.external_id(raw)
        status_text = text(raw.get("status"))
        if status_text not in STATUS:
            raise NormalizationError(f"unknown trade status “{status_text}”: not a status "
                                     f"Taobao documents, so it is not known whether to ship")
        items = (raw.get("orders") or {}).get("order") if isinstance(raw.get("orders"),
                                                                      dict) else None
        if not isinstance(items, list) or not items:
            raise NormalizationError("trade has no orders.order (sub-orders)")
        lines, refunded, parcels, shipped_ids = [], 0, [], set()
        for i, item in enumerate(items):
            what = f"orders.order[{i}]"
            if not isinstance(item, dict):
                raise NormalizationError(f"{what} is not an object")
            if text(item.get("refund_status")) == REFUNDED:
                refunded += 1
                continue
            line = self._line(item, what)
            lines.append(line)
            consigned = parse_cn_time(item.get("consign_time"), f"{what}.consign_time")
            if text(item.get("status")) in LINE_SHIPPED or consigned:
                shipped_ids.add(line.external_line_id)
            parcels.append((item.get("logistics_company"), item.get("invoice_no"), consigned,
                            line.external_line_id, line.quantity))
        status = STATUS[status_text]
        if not lines:  # every line refunded: nothing left to ship
            status, lines = CANCELLED, [self._line(items[0], "orders.order[0]")]
        mark_gifts(lines, self.gift_keywords())
        fulfillment, shipments = NOT_SHIPPED, []
        if status == PAID and status_text in FULFILLMENT:
            shipments = group_parcels(parcels)
            whole = FULFILLMENT[status_text] != PARTIALLY_SHIPPED
            shipped_lines(lines, shipments, whole=whole, shipped_ids=shipped_ids)
            fulfillment = FULFILLMENT[status_text]
            if not whole and not any(x.shipped_quantity for x in lines):
                raise NormalizationError(
                    "the trade is SELLER_CONSIGNED_PART (partly shipped) but no sub-order "
                    "says which items left; without that the rest cannot be picked safely")
        placed = required_time(parse_cn_time(raw.get("created"), "created"), "created", "trade")
        return NormalizedOrder(
            external_id=tid,
            status=status,
            updated_at=parse_cn_time(raw.get("modified"), "modified"),
            placed_at=placed,
            paid_at=parse_cn_time(raw.get("pay_time"), "pay_time") if status == PAID else None,
            lines=lines,
            currency="CNY",
            total=money(raw.get("payment"), "payment"),
            shipping_fee=money(raw.get("post_fee"), "post_fee"),
            discount=money(raw.get("discount_fee"), "discount_fee"),
            buyer_name=as_sent(raw.get("buyer_nick"), 120),
            buyer_message=text(raw.get("buyer_message")),
            ship_name=as_sent(raw.get("receiver_name"), 120),
            ship_phone=clear_phone(raw.get("receiver_mobile") or raw.get("receiver_phone")),
            platform_data=masked_contact(raw.get("receiver_mobile") or raw.get("receiver_phone")),
            ship_country="CN",
            ship_province=clear_region(raw.get("receiver_state"), "receiver_state"),
            ship_city=clear_region(raw.get("receiver_city"), "receiver_city"),
            ship_district=clear_region(raw.get("receiver_district"), "receiver_district"),
            ship_street=as_sent(" ".join(p for p in (text(raw.get("receiver_town")),
                                                     text(raw.get("receiver_address"))) if p),
                                255),
            ship_postcode=text(raw.get("receiver_zip"))[:16],
            cancel_reason="refunded" if refunded and status == CANCELLED else "",
            extra={"type": text(raw.get("type")), "refunded_lines": refunded},
            fulfillment=fulfillment,
            shipments=shipments,
        )

    def _line(self, item: dict, what: str) -> NormalizedLine:
        return NormalizedLine(
            external_line_id=text(require(item, "oid", what)), name=text(item.get("title")),
            platform_sku=text(item.get("outer_sku_id") or item.get("outer_iid")),
            listing_id=text(item.get("sku_id") or item.get("num_iid")),
            quantity=quantity(item.get("num"), f"{what}.num"),
            unit_price=money(item.get("price"), f"{what}.price"))

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict):
            body = data.get("trades_sold_get_response") or data.get(
                "trades_sold_increment_get_response") or data
            trades = (body.get("trades") or {}).get("trade") if isinstance(body, dict) else None
            if isinstance(trades, list):
                return trades
            if isinstance(data.get("trade_fullinfo_get_response"), dict):
                return [data["trade_fullinfo_get_response"].get("trade")]
        return super().orders_from_file(data)

    # --- shipments ---------------------------------------------------------------------

    def send_shipment(self, *, external_id: str, carrier: str, tracking_number: str) -> str:
        """``taobao.logistics.offline.send``: ``carrier`` is a TOP company code."""
        body = self.call("taobao.logistics.offline.send", write=True, tid=external_id,
                         out_sid=tracking_number, company_code=carrier)
        self.require_success(body.get("shipping"), "logistics.offline.send", external_id)
        return f"sent with {carrier}"

    def read_order(self, external_id: str) -> dict | None:
        """``trade.fullinfo.get``."""
        return self.call("taobao.trade.fullinfo.get", fields=TRADE_FIELDS,
                         tid=external_id).get("trade")

    # --- recipient ---------------------------------------------------------------------

    def recipient_ciphertexts(self, raw: dict) -> dict[str, str]:
        values = {"name": text(raw.get("receiver_name")),
                  "phone": text(raw.get("receiver_mobile") or raw.get("receiver_phone")),
                  "street": text(raw.get("receiver_address"))}
        return {k: v for k, v in values.items() if v and (looks_encrypted(v) or "*" in v)}

    def decrypt_recipient(self, raw: dict) -> dict[str, str]:
        """``taobao.top.oaid.decrypt``: the receiver behind the trade's OAID."""
        oaid = text(raw.get("oaid"))
        if not oaid:
            raise PermanentError("taobao: the trade has no oaid to decrypt")
        body = self.call("taobao.top.oaid.decrypt", query_list=json.dumps(
            [{"oaid": oaid, "tid": self.external_id(raw), "scene": "1001"}],
            separators=(",", ":")))
        receivers = (body.get("receiver_list") or {}).get("receiver") or []
        if not receivers or not isinstance(receivers[0], dict):
            raise PermanentError("taobao: oaid.decrypt returned no receiver")
        found = receivers[0]
        return {"name": text(found.get("name")),
                "phone": text(found.get("mobile") or found.get("phone")),
                "street": " ".join(p for p in (text(found.get("town")),
                                               text(found.get("address_detail"))) if p)}

