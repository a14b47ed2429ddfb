"""Pinduoduo open platform connector (``pdd.order.number.list.increment.get``).

Settings: ``gateway``, ``window_minutes`` (≤ 30), ``window_lag_seconds``
(≥ 180: PDD's index lags), ``paging``, ``carrier_map`` (hub carrier company →
PDD ``logistics_id``, over ``CARRIER_NAMES``), ``gift_keywords``,
``decrypt_enabled``. Credentials: ``client_id``, ``client_secret``, ``access_token``.

Fulfilment: ``order_status`` 1 待发货 (to ship), 2 已发货待签收 (shipped),
3 已签收 (signed for); a shipped order carries ``logistics_id`` (PDD's carrier
number), ``tracking_number`` and ``shipping_time``.
"""

from __future__ import annotations

import json

from channels.connectors.base import (
    CANCELLED,
    DELIVERED,
    NOT_SHIPPED,
    PAID,
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
    coded_error,
    epoch,
    error_message,
    group_parcels,
    int_or_none,
    looks_encrypted,
    mark_gifts,
    masked_contact,
    md5_wrapped,
    parse_cn_time,
    shipped_lines,
    sorted_concat,
)
from channels.connectors.presale import promised_ship

GATEWAY = "https://gw-api.pinduoduo.com/api/router"
LIST_METHOD = "pdd.order.number.list.increment.get"
LIST_RESPONSE = "order_sn_increment_get_response"

# order_status: 1 待发货, 2 已发货待签收, 3 已签收.
ORDER_STATUS = {1: PAID, 2: PAID, 3: PAID}
FULFILLMENT = {1: NOT_SHIPPED, 2: SHIPPED, 3: DELIVERED}
# confirm_status: 0 未成交 (group not formed yet: do not ship), 1 已成交, 2 已取消.
CONFIRM_STATUS = {0: UNPAID, 1: None, 2: CANCELLED}
# refund_status: 1 无售后/售后关闭, 2 售后处理中, 3 退款中, 4 退款成功.
# Only a refund that went through cancels; the others may still be refused.
REFUND_STATUS = {1: None, 2: None, 3: None, 4: CANCELLED}

# error_response error_code values. Confidence medium: from SDK code and mirrored docs.
AUTH_CODES = {10019, 20031, 20032, 20033}  # token expired/invalid, app not authorised
SIGN_CODES = {10016}  # sign check failed: the client secret is wrong
THROTTLE_CODES = {70031, 70032, 70033, 70034}
PLATFORM_CODES = {50000, 50001, 50002}


def pdd_sign(params: dict, secret: str) -> str:
    return md5_wrapped(secret, sorted_concat(params))


def pdd_error(error: dict) -> ConnectorError:
    code = int_or_none(error.get("error_code"))
    sub_code = text(error.get("sub_code"))
    message = error_message("pinduoduo", code, error.get("error_msg"), sub_code,
                            error.get("sub_msg"))
    if code in AUTH_CODES or "access_token" in message.lower():
        return AuthError(message + " — the shop must re-authorize the app (new access token)")
    return coded_error(message, code, auth=SIGN_CODES, retry=THROTTLE_CODES | PLATFORM_CODES,
                       retryable=sub_code.startswith("isp."))


def _int(value, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise NormalizationError(f"{what} is not a number: {value!r}"[:200]) from exc


def pdd_status(raw: dict) -> str:
    """The hub status of a PDD order (see the three tables above)."""
    refund = REFUND_STATUS.get(_int(raw.get("refund_status"), "refund_status") or 1)
    if refund:
        return refund
    confirm = _int(raw.get("confirm_status"), "confirm_status")
    if confirm is not None:
        if confirm not in CONFIRM_STATUS:
            raise NormalizationError(f"unknown confirm_status “{confirm}”")
        if CONFIRM_STATUS[confirm]:
            return CONFIRM_STATUS[confirm]
    status = _int(raw.get("order_status"), "order_status")
    if status not in ORDER_STATUS:
        raise NormalizationError(f"unknown order_status “{status}”: PDD documents 1 (to "
                                 f"ship), 2 (shipped) and 3 (signed for) only")
    return ORDER_STATUS[status]


class PinduoduoConnector(WriteMixin, WindowedConnector):
    platform = "pinduoduo"
    window_minutes = 30
    max_window_minutes = 30
    window_lag_seconds = 180
    min_lag_seconds = 180
    legacy_carrier_setting = "logistics_ids"
    # PDD logistics company ids (pdd.logistics.companies.get ``id``; J&T is 384,
    # "JTKD 极兔快递", in the same list).
    CARRIER_NAMES = {
        "SF": "44", "ZTO": "115", "YTO": "85", "STO": "1", "YUNDA": "121",
        "JD": "120", "EMS": "118", "JTSD": "384", "DEPPON": "131", "BEST": "3",
    }

    @property
    def gateway(self) -> str:
        return str(self.config.get("gateway", GATEWAY))

    def signed_params(self, method: str, business: dict) -> dict:
        params = {"type": method, "client_id": self.credential("client_id"),
                  "access_token": self.credential("access_token"),
                  "timestamp": str(epoch(self.now())), "data_type": "JSON",
                  **{k: v for k, v in business.items() if v is not None and v != ""}}
        params["sign"] = pdd_sign(params, self.credential("client_secret"))
        return params

    def call(self, method: str, response_key: str, *, write: bool = False,
             **business) -> dict:
        """One PDD call (``router_call``): the inside of ``response_key``."""
        return self.router_call(method, response_key, business, write=write)

    router_error = staticmethod(pdd_error)

    # --- orders --------------------------------------------------------------------

    def list_page(self, window, page, page_size, *, use_has_next) -> ListPage:
        body = self.call(LIST_METHOD, LIST_RESPONSE, start_updated_at=epoch(window.start),
                         end_updated_at=epoch(window.end), order_status=5, refund_status=5,
                         is_lucky_flag=0, page=page, page_size=page_size,
                         use_has_next="true" if use_has_next else "false")
        orders = body.get("order_sn_list") or []
        if not isinstance(orders, list):
            raise PermanentError("pinduoduo: order_sn_list is not a list")
        total = body.get("total_count")
        return ListPage(orders=orders, total=int(total) if total is not None else None,
                        has_next=bool(body.get("has_next")))

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "order_sn"))

    def normalize(self, raw: dict) -> NormalizedOrder:
        order_sn = self.external_id(raw)
        status = pdd_status(raw)
        items = raw.get("item_list")
        if not isinstance(items, list) or not items:
            raise NormalizationError("order has no item_list")
        gifts = raw.get("gift_list") or []
        if not isinstance(gifts, list):
            raise NormalizationError("gift_list is not a list")
        lines, seen = [], set()
        for kind, rows in (("item_list", items), ("gift_list", gifts)):
            for i, item in enumerate(rows):
                what = f"{kind}[{i}]"
                if not isinstance(item, dict):
                    raise NormalizationError(f"{what} is not an object")
                # PDD lines have no id of their own: the SKU id is unique in an order.
                line_id = text(item.get("sku_id") or item.get("goods_id"))
                if kind == "gift_list":
                    line_id = f"gift-{line_id}"
                if not line_id or line_id in seen:
                    line_id = f"{kind}-{i}"
                seen.add(line_id)
                price = money(item.get("goods_price"), f"{what}.goods_price")
                lines.append(NormalizedLine(
                    external_line_id=line_id,
                    platform_sku=text(item.get("outer_id") or item.get("outer_goods_id")),
                    listing_id=text(item.get("sku_id") or item.get("goods_id")),
                    name=text(item.get("goods_name")),
                    quantity=quantity(item.get("goods_count"), f"{what}.goods_count"),
                    unit_price=price if kind == "item_list" else money(0, ""),
                    # gift_list holds the shop's free gifts (满赠), always gifts.
                    is_gift=kind == "gift_list",
                ))
        mark_gifts(lines, self.gift_keywords())
        fulfillment, shipments = NOT_SHIPPED, []
        if status == PAID:
            fulfillment = FULFILLMENT[_int(raw.get("order_status"), "order_status")]
        if fulfillment:
            logistics_id = raw.get("logistics_id")
            shipments = group_parcels([(
                text(logistics_id) if logistics_id not in (None, 0, "0") else "",
                raw.get("tracking_number"),
                parse_cn_time(raw.get("shipping_time"), "shipping_time"), "", 0)])
            shipped_lines(lines, shipments, whole=True)
        placed = required_time(parse_cn_time(raw.get("created_time"), "created_time"),
                               "created_time")
        discount = sum((money(raw.get(key), key) for key in (
            "seller_discount", "platform_discount", "capital_free_discount")),
            start=money(0, ""))
        presale = raw.get("is_pre_sale") in (1, "1", True)
        return NormalizedOrder(
            external_id=order_sn,
            status=status,
            updated_at=parse_cn_time(raw.get("updated_at"), "updated_at"),
            placed_at=placed,
            paid_at=(parse_cn_time(raw.get("pay_time") or raw.get("confirm_time"), "pay_time")
                     if status == PAID else None),
            lines=lines,
            currency="CNY",
            total=money(raw.get("pay_amount"), "pay_amount"),
            shipping_fee=money(raw.get("postage"), "postage"),
            discount=discount,
            buyer_message=text(raw.get("buyer_memo")),
            ship_name=as_sent(raw.get("receiver_name_mask") or raw.get("receiver_name"), 120),
            ship_phone=clear_phone(raw.get("receiver_phone")),
            # is_pre_sale 1: a presale order, to ship by pre_sale_time (预售时间),
            # else last_ship_time (承诺发货时间), both Beijing time.
            platform_data={**masked_contact(raw.get("receiver_phone_mask")),
                           **(promised_ship(parse_cn_time, raw.get("pre_sale_time"),
                                            "pre_sale_time")
                              or promised_ship(parse_cn_time, raw.get("last_ship_time"),
                                               "last_ship_time") if presale else {})},
            presale=presale,
            ship_country="CN",
            ship_province=clear_region(raw.get("province"), "province"),
            ship_city=clear_region(raw.get("city"), "city"),
            ship_district=clear_region(raw.get("town"), "town"),
            ship_street=as_sent(raw.get("address_mask") or raw.get("receiver_address"), 255),
            cancel_reason="refunded" if status == CANCELLED else "",
            extra={"refund_status": raw.get("refund_status")},
            fulfillment=fulfillment,
            shipments=shipments,
        )

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict) and isinstance((data.get(LIST_RESPONSE) or {}).get(
                "order_sn_list"), list):
            return data[LIST_RESPONSE]["order_sn_list"]
        return super().orders_from_file(data)

    # --- shipments ---------------------------------------------------------------------

    def carrier_problem(self, code: str, carrier: str) -> str:
        if text(code).isdigit():
            return ""
        return (f"“{code}” is not a PDD logistics_id: map the carrier in the channel's "
                f"carrier_map setting")

    def send_shipment(self, *, external_id: str, carrier: str, tracking_number: str) -> str:
        """``pdd.logistics.online.send``: ``carrier`` is a PDD ``logistics_id``."""
        body = self.call("pdd.logistics.online.send", "logistics_online_send_response",
                         write=True, order_sn=external_id, logistics_id=int(carrier),
                         tracking_number=tracking_number)
        self.require_success(body, "logistics.online.send", external_id)
        return f"sent with logistics id {carrier}"

    def read_order(self, external_id: str) -> dict | None:
        """``pdd.order.information.get``."""
        return self.call("pdd.order.information.get", "order_info_get_response",
                         order_sn=external_id).get("order_info")

    # --- recipient ---------------------------------------------------------------------

    FIELDS = {"name": "receiver_name", "phone": "receiver_phone", "street": "receiver_address"}

    def recipient_ciphertexts(self, raw: dict) -> dict[str, str]:
        return {k: text(raw.get(field)) for k, field in self.FIELDS.items()
                if looks_encrypted(text(raw.get(field)))}

    decrypt_api = "decrypt.batch"

    def decrypt_values(self, raw: dict, ciphertexts: list[str]) -> dict[str, str]:
        """``pdd.open.decrypt.batch`` (works inside PDD's cloud only, hence the switch)."""
        order_sn = self.external_id(raw)
        body = self.call("pdd.open.decrypt.batch", "open_decrypt_batch_response",
                         data_list=json.dumps([{"data_tag": order_sn, "encrypted_data": c}
                                               for c in ciphertexts], separators=(",", ":")))
        return {text(row.get("encrypted_data")): text(row.get("decrypted_data"))
                for row in body.get("data_decrypt_list") or [] if isinstance(row, dict)}
