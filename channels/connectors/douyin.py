"""Douyin shop (抖店, jinritemai) connector: ``order.searchList`` on the openapi-fxg gateway.

The request/response field names of ``order.searchList`` are low-confidence
(PROTOCOLS.md 5.3): every one of them is in ``FIELDS`` below, so a correction
from the console documentation is made there and nowhere else.

Settings: ``gateway``, ``sign_method`` (``md5`` | ``hmac-sha256``), ``shop_id``
(self-use apps), ``window_minutes``, ``carrier_map`` (hub carrier company →
Douyin logistics company code, over ``CARRIER_NAMES``), ``gift_keywords``,
``decrypt_enabled``.

The receiver's address is an object: ``post_addr`` (and the masked
``mask_post_addr``) hold ``province``/``city``/``town``/``street`` objects
``{"name", "id"}`` and a ``detail`` string (ciphertext, or masked); the
connector also takes the plain-text forms. Shipped orders carry
``logistics_info[]``: ``company`` (code), ``company_name``, ``tracking_no``,
``ship_time`` and ``product_info[]`` (``sku_order_id``, ``product_count``).
A sku order's ``origin_amount`` is its unit price (``sum_amount`` = price ×
``item_num``); a free gift has ``given_product_type`` ``FREE`` and names its
main item in ``master_sku_order_id_list`` (older: ``master_sku_order_id``).
Credentials: ``app_key``, ``app_secret`` and either a fixed ``access_token``
or nothing more (self-use: the token is created with ``authorization_self``
and refreshed with its refresh token, cached encrypted).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

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
    clear_phone,
    clear_region,
    cn_time,
    coded_error,
    epoch,
    error_message,
    group_parcels,
    hmac_hex,
    int_or_none,
    looks_encrypted,
    mark_gifts,
    masked_contact,
    parse_cn_time,
    shipped_lines,
    token_error,
)
from channels.connectors.presale import PROMISED_SHIP_DATE, promised_ship

GATEWAY = "https://openapi-fxg.jinritemai.com"
SUCCESS = 10000

# Every Douyin field name the connector uses, in one place (low confidence: verify
# against the console documentation of order.searchList / order.logisticsAdd).
FIELDS = {
    # order.searchList request
    "search_method": "order.searchList",
    "page": "page",  # 0-based
    "size": "size",
    "update_start": "update_time_start",  # UNIX seconds
    "update_end": "update_time_end",
    "order_by": "order_by",
    "order_asc": "order_asc",
    # response
    "list": "shop_order_list",
    "total": "total",
    "order_id": "order_id",
    "status": "order_status",
    "created": "create_time",
    "updated": "update_time",
    "paid": "pay_time",
    "pay_amount": "pay_amount",
    "post_amount": "post_amount",
    "promotion_amount": "promotion_amount",
    "buyer_words": "buyer_words",
    # sku order: pre_sale_type 0 stock (现货), 1 full-payment presale (全款预售),
    # 2 stepped shipping (阶梯发货); trade_type 2 deposit presale (定金预售).
    "presale_type": "pre_sale_type",
    "trade_type": "trade_type",
    "exp_ship": "exp_ship_time",  # sku and shop order, UNIX seconds: 预计发货时间
    "address": "post_addr",
    "province": "province",
    "city": "city",
    "district": "town",
    "street": "street",
    "detail": "detail",
    "encrypt_detail": "encrypt_detail",
    "receiver": "encrypt_post_receiver",
    "tel": "encrypt_post_tel",
    "mask_receiver": "mask_post_receiver",
    "mask_tel": "mask_post_tel",
    "mask_detail": "mask_post_addr",
    "lines": "sku_order_list",
    "line_id": "order_id",
    "merchant_code": "code",
    "product_id": "product_id",
    "sku_id": "sku_id",
    "product_name": "product_name",
    "item_num": "item_num",
    "line_origin": "origin_amount",
    "line_paid": "pay_amount",
    "line_sum": "sum_amount",
    "gift": "is_gift",  # older answers (and our sandbox before): a bare flag
    "gift_type": "given_product_type",  # MASTER | FREE
    "gift_masters": "master_sku_order_id_list",
    "gift_master": "master_sku_order_id",
    "line_status": "order_status",
    # shipped parcels
    "logistics": "logistics_info",
    "parcel_company": "company",
    "parcel_company_name": "company_name",
    "parcel_tracking": "tracking_no",
    "parcel_time": "ship_time",
    "parcel_items": "product_info",
    "parcel_line": "sku_order_id",
    "parcel_qty": "product_count",
    # order.orderDetail
    "detail_method": "order.orderDetail",
    "detail_param": "shop_order_id",
    "detail_body": "shop_order_detail",
    # shipment
    "ship_method": "order.logisticsAdd",
    "ship_order_id": "order_id",
    "ship_company": "company_code",
    "ship_tracking": "logistics_code",
    # decrypt
    "decrypt_method": "order.batchDecrypt",
    # amounts are in fen (分)
    "money_unit": Decimal("0.01"),
}

# order_status → hub status (1 待支付/待确认, 105 已支付待确认, 2 备货中, 101 部分发货,
# 3 已发货, 4 已取消, 5 已完成).
STATUS = {1: UNPAID, 105: UNPAID, 2: PAID, 101: PAID, 3: PAID, 5: PAID, 4: CANCELLED}
# How far the shop has shipped (5 已完成: the buyer received it, the order is done).
FULFILLMENT = {101: PARTIALLY_SHIPPED, 3: SHIPPED, 5: COMPLETED}
LINE_SHIPPED = (3, 5)

# code values (with sub_code prefixes as on TOP): low confidence, from SDKs seen.
TOKEN_CODES = {30001, 30002, 30005}  # token missing / expired / invalid → refresh once
AUTH_CODES = {30003, 30004, 40003, 40004}  # app key, sign, authorisation
THROTTLE_CODES = {50002, 90000}
PLATFORM_CODES = {20000, 50000, 50001}


def param_json(params: dict) -> str:
    """Business params serialised once: keys sorted (recursively), compact, raw UTF-8."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def douyin_sign(*, app_key: str, secret: str, method: str, param_json: str, timestamp: str,
                v: str = "2", sign_method: str = "md5") -> str:
    pattern = (f"{secret}app_key{app_key}method{method}param_json{param_json}"
               f"timestamp{timestamp}v{v}{secret}")
    if sign_method == "md5":
        return hashlib.md5(pattern.encode()).hexdigest()  # noqa: S324 - the platform's scheme
    if sign_method == "hmac-sha256":
        return hmac_hex(secret, pattern, hashlib.sha256)
    raise PermanentError(f"douyin: unknown sign_method “{sign_method}”")


class TokenExpired(AuthError):
    pass


def douyin_error(data: dict) -> ConnectorError:
    code = data.get("code")
    sub_code = text(data.get("sub_code"))
    message = error_message("douyin", code, data.get("msg"), sub_code, data.get("sub_msg"))
    if code in TOKEN_CODES or "access-token" in sub_code or "access_token" in sub_code:
        return TokenExpired(message + " — re-authorize the shop if this persists")
    return coded_error(message, code, auth=AUTH_CODES, retry=THROTTLE_CODES | PLATFORM_CODES,
                       retryable=sub_code.startswith("isp."))


def _fen(value, what: str) -> Decimal:
    if value in (None, ""):
        return money(0, "")
    return (money(value, what) * FIELDS["money_unit"]).quantize(Decimal("0.01"))


class DouyinConnector(WriteMixin, WindowedConnector):
    platform = "douyin"
    window_minutes = 30
    max_window_minutes = 24 * 60
    # Page numbers start at 0 on Douyin.
    first_page = 0
    legacy_carrier_setting = "company_codes"
    # Douyin logistics company codes (order.logisticsCompanyList ``code``, the
    # ``company_code`` of order.logisticsAdd).
    CARRIER_NAMES = {
        "SF": "shunfeng", "ZTO": "zhongtong", "YTO": "yuantong", "STO": "shentong",
        "YUNDA": "yunda", "JD": "jd", "EMS": "ems", "JTSD": "jtexpress",
        "DEPPON": "debangwuliu", "BEST": "huitongkuaidi",
    }

    @property
    def gateway(self) -> str:
        return str(self.config.get("gateway", GATEWAY)).rstrip("/")

    @property
    def sign_method(self) -> str:
        return str(self.config.get("sign_method", "md5"))

    # --- token -----------------------------------------------------------------------

    def _token_key(self) -> str:
        return f"channels:douyin-token:{self.channel.pk}"

    def access_token(self, *, renew: bool = False) -> str:
        fixed = self.credentials.get("access_token")
        if fixed:
            return str(fixed)
        cached = cached_secret(self._token_key())
        try:
            state = json.loads(cached) if cached else None
        except ValueError:
            state = None
        if state and not renew:
            return state["access_token"]
        data = None
        if state and state.get("refresh_token"):
            try:
                data = self._token_call("token.refresh", {
                    "grant_type": "refresh_token", "refresh_token": state["refresh_token"]})
            except AuthError:
                data = None  # a refresh token that expired too: create a new token
        if data is None:
            data = self._token_call("token.create", {
                "code": "", "grant_type": "authorization_self",
                "shop_id": text(self.config.get("shop_id", ""))})
        token = text(data.get("access_token"))
        if not token:
            raise AuthError("douyin: the token answer has no access_token")
        expires = int(data.get("expires_in") or 3600)
        cache_secret(self._token_key(), json.dumps(
            {"access_token": token, "refresh_token": text(data.get("refresh_token"))}),
            max(60, expires - 300))
        return token

    def _token_call(self, method: str, params: dict) -> dict:
        """token.create / token.refresh. Only a definite refusal of the credentials is
        an AuthError (the channel pauses); throttling and platform faults were retried
        with backoff and end as a retryable ConnectorError."""
        data = self.call_with_retries(lambda: self._token_answer(method, params))
        return data

    def _token_answer(self, method: str, params: dict) -> dict:
        data = self._send(method, params, token=None)
        if data.get("code") == SUCCESS:
            return data.get("data") or {}
        raise token_error(douyin_error(data), refused="douyin: cannot get an access token",
                          failed=f"douyin: {method} failed")

    # --- the gateway ---------------------------------------------------------------

    def _send(self, method: str, params: dict, *, token: str | None,
              write: bool = False) -> dict:
        body = param_json(params)
        stamp = cn_time(self.now())
        app_key = self.credential("app_key")
        query = {"method": method, "app_key": app_key, "timestamp": stamp, "v": "2",
                 "sign_method": self.sign_method,
                 "sign": douyin_sign(app_key=app_key, secret=self.credential("app_secret"),
                                     method=method, param_json=body, timestamp=stamp,
                                     sign_method=self.sign_method)}
        if token:
            query["access_token"] = token
        url = f"{self.gateway}/{method.replace('.', '/')}"
        kwargs = {"params": query, "content": body.encode(),
                  "headers": {"Content-Type": "application/json;charset=UTF-8"}}
        data = self.post_json(url, write=write, **kwargs)
        if write and "code" not in data:
            raise AmbiguousReply(f"douyin: the answer to {method} has no code; it may "
                                 f"have been recorded")
        return data

    def call(self, method: str, params: dict, *, write: bool = False) -> dict:
        """One Douyin call; ``write``: one attempt, an unclear answer is AmbiguousReply
        (a token refused before the write is renewed once: that answer is definite)."""
        return self.token_call(
            lambda token: self._send(method, params, token=token, write=write),
            answer=lambda data: (data.get("data") or {}) if data.get("code") == SUCCESS else None,
            error=douyin_error, expired=TokenExpired, write=write)

    # --- orders --------------------------------------------------------------------

    def list_page(self, window, page, page_size, *, use_has_next) -> ListPage:
        f = FIELDS
        data = self.call(f["search_method"], {
            f["page"]: page - 1 + self.first_page, f["size"]: page_size,
            f["update_start"]: epoch(window.start), f["update_end"]: epoch(window.end),
            f["order_by"]: "update_time", f["order_asc"]: False})
        orders = data.get(f["list"]) or []
        if not isinstance(orders, list):
            raise PermanentError(f"douyin: {f['list']} is not a list")
        total = data.get(f["total"])
        total = int(total) if total is not None else None
        has_next = total is not None and page * page_size < total
        return ListPage(orders=orders, total=total, has_next=has_next)

    def external_id(self, raw: dict) -> str:
        return text(require(raw, FIELDS["order_id"]))

    def normalize(self, raw: dict) -> NormalizedOrder:
        f = FIELDS
        if isinstance(raw, dict) and isinstance(raw.get(f["detail_body"]), dict):
            raw = raw[f["detail_body"]]
        order_id = self.external_id(raw)
        try:
            status_code = int(raw.get(f["status"]))
        except (TypeError, ValueError):
            status_code = None
        if status_code not in STATUS:
            raise NormalizationError(
                f"unknown {f['status']} “{raw.get(f['status'])}” "
                f"({text(raw.get('order_status_desc')) or 'no description'}): not a status "
                f"the connector knows, so it is not known whether to ship")
        status = STATUS[status_code]
        lines, shipped_ids, masters = [], set(), {}
        for what, item in line_items(raw, f["lines"]):
            qty = quantity(item.get(f["item_num"]), f"{what}.{f['item_num']}")
            if item.get(f["line_origin"]) not in (None, ""):
                unit = _fen(item.get(f["line_origin"]), f"{what}.{f['line_origin']}")
            else:
                unit = (_fen(item.get(f["line_sum"]), f"{what}.{f['line_sum']}") / qty
                        ).quantize(Decimal("0.01"))
            free = text(item.get(f["gift_type"])).upper() == "FREE"
            line = NormalizedLine(
                external_line_id=text(require(item, f["line_id"], what)),
                platform_sku=text(item.get(f["merchant_code"])),
                listing_id=text(item.get(f["sku_id"]) or item.get(f["product_id"])),
                name=text(item.get(f["product_name"])),
                quantity=qty,
                unit_price=unit,
                is_gift=free or item.get(f["gift"]) in (True, 1, "1", "true"),
            )
            lines.append(line)
            bound = item.get(f["gift_masters"]) or [item.get(f["gift_master"])]
            if free and isinstance(bound, list) and bound and bound[0]:
                masters[line.external_line_id] = text(bound[0])
            if int_or_none(item.get(f["line_status"])) in LINE_SHIPPED:
                shipped_ids.add(line.external_line_id)
        mark_gifts(lines, self.gift_keywords(), main_of=masters)
        fulfillment, shipments = NOT_SHIPPED, []
        if status == PAID and status_code in FULFILLMENT:
            fulfillment = FULFILLMENT[status_code]
            shipments = self._parcels(raw, lines)
            whole = fulfillment != PARTIALLY_SHIPPED
            shipped_lines(lines, shipments, whole=whole, shipped_ids=shipped_ids)
            if not whole and not any(line.shipped_quantity for line in lines):
                raise NormalizationError(
                    "the order is partly shipped (101) but neither logistics_info nor the "
                    "sku orders say which items left; the rest cannot be picked safely")
        region, street, detail = self._address(raw)
        placed = required_time(parse_cn_time(raw.get(f["created"]), f["created"]), f["created"])
        presale, promised = self._presale(raw)
        return NormalizedOrder(
            external_id=order_id,
            status=status,
            updated_at=parse_cn_time(raw.get(f["updated"]), f["updated"]),
            placed_at=placed,
            paid_at=parse_cn_time(raw.get(f["paid"]), f["paid"]) if status == PAID else None,
            lines=lines,
            currency="CNY",
            total=_fen(raw.get(f["pay_amount"]), f["pay_amount"]),
            shipping_fee=_fen(raw.get(f["post_amount"]), f["post_amount"]),
            discount=_fen(raw.get(f["promotion_amount"]), f["promotion_amount"]),
            buyer_message=text(raw.get(f["buyer_words"])),
            ship_name=as_sent(raw.get(f["mask_receiver"]) or raw.get(f["receiver"]), 120),
            ship_phone=clear_phone(raw.get(f["mask_tel"]) or raw.get(f["tel"])),
            platform_data={**masked_contact(raw.get(f["mask_tel"])), **promised},
            presale=presale,
            ship_country="CN",
            ship_province=region["province"],
            ship_city=region["city"],
            ship_district=region["district"],
            ship_street=as_sent(" ".join(p for p in (street, detail) if p), 255),
            cancel_reason=text(raw.get("cancel_reason")),
            fulfillment=fulfillment,
            shipments=shipments,
        )

    def _presale(self, raw: dict) -> tuple[bool, dict]:
        """Whether a sku order is a presale (全款预售 or 定金预售), and its ship date.

        The promised date is the latest ``exp_ship_time`` of the presale sku
        orders, else the shop order's own.
        """
        f = FIELDS
        items = [item for _, item in line_items(raw, f["lines"])]
        presale = [item for item in items
                   if int_or_none(item.get(f["presale_type"])) == 1
                   or int_or_none(item.get(f["trade_type"])) == 2]
        if not presale:
            return False, {}
        dates = [promised_ship(parse_cn_time, item.get(f["exp_ship"]), f["exp_ship"])
                 for item in presale]
        dates = [d for d in dates if d] or [
            promised_ship(parse_cn_time, raw.get(f["exp_ship"]), f["exp_ship"])]
        return True, max(dates, key=lambda d: d.get(PROMISED_SHIP_DATE, ""))

    def _address(self, raw: dict) -> tuple[dict[str, str], str, str]:
        """Regions, street and detail from ``post_addr`` / ``mask_post_addr``.

        Each is an object (province/city/town/street objects with a ``name``, and a
        ``detail`` string) or, in older answers, plain text. The readable (masked)
        detail wins over ciphertext: the ciphertext stays in the stored payload
        for the decrypt step.
        """
        f = FIELDS
        post, masked = raw.get(f["address"]), raw.get(f["mask_detail"])
        for value, name in ((post, f["address"]), (masked, f["mask_detail"])):
            if value is not None and not isinstance(value, dict | str):
                raise NormalizationError(f"{name} is neither an address object nor text")
        objects = [a for a in (post, masked) if isinstance(a, dict)]

        def part(key: str) -> str:
            for address in objects:
                value = address.get(key)
                if isinstance(value, dict):
                    value = value.get("name")
                if value not in (None, ""):
                    return clear_region(value, key)
            return ""

        region = {"province": part(f["province"]), "city": part(f["city"]),
                  "district": part(f["district"])}
        street = ""
        for address in objects:
            value = address.get(f["street"])
            value = value.get("name") if isinstance(value, dict) else value
            if value not in (None, ""):
                street = text(value)
                break
        details = []
        if isinstance(masked, str):
            details.append(masked)
        for address in reversed(objects):  # the masked object first, then post_addr
            details += [address.get(f["detail"]), address.get(f["encrypt_detail"])]
        if isinstance(post, str):
            details.append(post)
        readable = [text(d) for d in details if d not in (None, "")]
        clear = [d for d in readable if not looks_encrypted(d)]
        detail = (clear or readable or [""])[0]
        return region, street, detail

    def _parcels(self, raw: dict, lines: list[NormalizedLine]) -> list:
        f = FIELDS
        parcels = raw.get(f["logistics"]) or []
        if not isinstance(parcels, list):
            raise NormalizationError(f"{f['logistics']} is not a list")
        rows = []
        for i, parcel in enumerate(parcels):
            what = f"{f['logistics']}[{i}]"
            if not isinstance(parcel, dict):
                raise NormalizationError(f"{what} is not an object")
            carrier = parcel.get(f["parcel_company"]) or parcel.get(f["parcel_company_name"])
            when = parse_cn_time(parcel.get(f["parcel_time"]) or parcel.get("delivery_time"),
                                 f"{what}.{f['parcel_time']}")
            items = parcel.get(f["parcel_items"]) or []
            if not isinstance(items, list):
                raise NormalizationError(f"{what}.{f['parcel_items']} is not a list")
            rows.append((carrier, parcel.get(f["parcel_tracking"]), when, "", 0))
            for item in items:
                if isinstance(item, dict) and item.get(f["parcel_line"]):
                    rows.append((carrier, parcel.get(f["parcel_tracking"]), when,
                                 text(item.get(f["parcel_line"])),
                                 int_or_none(item.get(f["parcel_qty"])) or 0))
        return group_parcels(rows)

    def orders_from_file(self, data) -> list[dict]:
        if isinstance(data, dict) and isinstance((data.get("data") or {}).get(FIELDS["list"]),
                                                 list):
            return data["data"][FIELDS["list"]]
        if isinstance(data, dict) and isinstance(
                (data.get("data") or {}).get(FIELDS["detail_body"]), dict):
            return [data["data"][FIELDS["detail_body"]]]
        return super().orders_from_file(data)

    # --- shipments ---------------------------------------------------------------------

    def send_shipment(self, *, external_id: str, carrier: str, tracking_number: str) -> str:
        """``order.logisticsAdd``: ``carrier`` is a Douyin logistics company code."""
        f = FIELDS
        self.call(f["ship_method"], {f["ship_order_id"]: external_id,
                                     f["ship_company"]: carrier,
                                     f["ship_tracking"]: tracking_number}, write=True)
        return f"sent with {carrier}"

    def read_order(self, external_id: str) -> dict | None:
        """``order.orderDetail``."""
        f = FIELDS
        return self.call(f["detail_method"], {f["detail_param"]: external_id}).get(
            f["detail_body"])

    # --- recipient ---------------------------------------------------------------------

    def recipient_ciphertexts(self, raw: dict) -> dict[str, str]:
        f = FIELDS
        address = raw.get(f["address"]) if isinstance(raw.get(f["address"]), dict) else {}
        values = {"name": text(raw.get(f["receiver"])), "phone": text(raw.get(f["tel"])),
                  "street": text(address.get(f["encrypt_detail"]) or address.get(f["detail"]))}
        return {k: v for k, v in values.items() if looks_encrypted(v)}

    decrypt_api = "batchDecrypt"

    def decrypt_values(self, raw: dict, ciphertexts: list[str]) -> dict[str, str]:
        """``order.batchDecrypt``: a cipher that failed (``err_no``) is left out."""
        order_id = self.external_id(raw)
        data = self.call(FIELDS["decrypt_method"], {"cipher_infos": [
            {"auth_id": order_id, "cipher_text": c} for c in ciphertexts]})
        return {text(row.get("cipher_text")): text(row.get("decrypt_text"))
                for row in data.get("decrypt_infos") or []
                if isinstance(row, dict) and not row.get("err_no")}
