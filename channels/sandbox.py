"""Sandbox platform APIs under /sandbox/ (only when settings.SANDBOX_ENABLED).

Shopify-, WooCommerce- and Amazon-shaped endpoints serving generated orders,
so the demo's channels run the real connectors over HTTP. One order exists per
15-minute slot of the last two days; each slot's order is derived from the slot
number, so every poll sees the same orders, new ones appear as time passes,
and some are cancelled an hour after they were placed. About one request in
fifteen is refused with 429 + Retry-After to exercise the backoff.

Over 600 lines on purpose: three small fake platforms that share one generated
order stream, its clock window (``WINDOW``) and its throttle (``_throttled``),
which the tests and ``sandbox_cn`` patch or reuse here as one unit; demo and
test scaffolding, no product rule lives in it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from channels.connectors.woo_states import CN_PROVINCES

SLOT = dt.timedelta(minutes=15)
WINDOW = dt.timedelta(days=2)
CATALOGUE = [
    ("CUP-1", "保温杯 500ml", "59.00"), ("SLEEVE-1", "杯套", "0.00"),
    ("TEA-250", "龙井茶 250g", "128.00"), ("MUG-BLK", "Ceramic mug, black", "39.90"),
    ("SCARF-RED", "Silk scarf, red", "199.00"), ("PEN-GLD", "钢笔 金色", "88.00"),
]
PEOPLE = [
    ("张伟", "13800138000", "上海市", "上海市", "浦东新区", "世纪大道100号", "CN"),
    ("王芳", "13912345678", "北京市", "北京市", "朝阳区", "建国路88号 SOHO 3期", "CN"),
    ("李娜", "15800001111", "广东省", "深圳市", "南山区", "科技园南区 8栋\n1201", "CN"),
    ("Emily Clark", "+14155550123", "CA", "San Francisco", "", "969 Market St", "US"),
    ("Oliver Smith", "+447911123456", "England", "London", "", "10 Downing St", "GB"),
]


def _enabled():
    if not getattr(settings, "SANDBOX_ENABLED", False):
        raise Http404("sandbox disabled")


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(now: dt.datetime | None = None) -> list[dict]:
    """The sandbox's orders, in a platform-neutral shape, oldest first."""
    now = now or timezone.now()
    first_slot = int((now - WINDOW).timestamp() // SLOT.total_seconds()) + 1
    last_slot = int(now.timestamp() // SLOT.total_seconds())
    orders = []
    for slot in range(first_slot, last_slot + 1):
        rnd = random.Random(slot)  # noqa: S311 - demo data, not crypto
        placed = dt.datetime.fromtimestamp(slot * SLOT.total_seconds(), dt.UTC)
        person = rnd.choice(PEOPLE)
        lines = []
        for i, (sku, name, price) in enumerate(rnd.sample(CATALOGUE[::2] + CATALOGUE[3:],
                                                          rnd.randint(1, 3))):
            lines.append({"id": slot * 10 + i, "sku": sku, "name": name,
                          "quantity": rnd.randint(1, 3), "price": price})
        if rnd.random() < 0.3:  # a gift sleeve with the cup
            lines.append({"id": slot * 10 + 9, "sku": "SLEEVE-1", "name": "杯套 (赠品)",
                          "quantity": 1, "price": "0.00"})
        status = "paid"
        updated = placed
        roll = rnd.random()
        if roll < 0.1:
            status = "unpaid"
        elif roll < 0.16 and now >= placed + dt.timedelta(hours=1):
            status, updated = "cancelled", placed + dt.timedelta(hours=1)
        total = sum(Decimal(ln["price"]) * ln["quantity"] for ln in lines) + Decimal("10.00")
        orders.append({"slot": slot, "placed": placed, "updated": updated, "status": status,
                       "person": person, "lines": lines, "total": f"{total:.2f}",
                       "currency": "CNY" if person[6] == "CN" else "USD"})
    return orders


def _throttled(request) -> HttpResponse | None:
    if request.GET.get("no429"):
        return None
    if random.random() < 1 / 15:  # noqa: S311
        return JsonResponse({"errors": "Exceeded 2 calls per second for api client."},
                            status=429, headers={"Retry-After": "1.0"})
    return None


# --- Shopify and WooCommerce: orders the platform already shipped -----------------------

# Every fifth paid order is shipped by the store itself six hours after it was
# placed (as a seller with an older setup would): Shopify says "fulfilled" with a
# fulfillment, WooCommerce "completed" with a Shipment Tracking item.
SHIP_AFTER = dt.timedelta(hours=6)
_US_STATES = {"CA": "California"}


def _with_shipping(o: dict, now: dt.datetime) -> dict:
    shipped_at = None
    if o["status"] == "paid" and o["slot"] % 5 == 0 and now >= o["placed"] + SHIP_AFTER:
        shipped_at = o["placed"] + SHIP_AFTER
    country = o["person"][6]
    carrier = ("SF Express" if o["slot"] % 2 else "ZTO Express") if country == "CN" else "UPS"
    prefix = {"SF Express": "SF", "ZTO Express": "7", "UPS": "1Z"}[carrier]
    return {**o, "shipped_at": shipped_at, "carrier": carrier,
            "tracking_number": f"{prefix}{o['slot']:010d}",
            "updated": max(o["updated"], shipped_at) if shipped_at else o["updated"]}


def _name_parts(name: str) -> tuple[str, str]:
    """(first, last) as the platforms store them: a Chinese name's family name is
    its first character, a Western one's the last word."""
    if name and not name.isascii():
        return name[1:], name[:1]
    first, _, last = name.rpartition(" ")
    return (first, last) if first else (name, "")


def _pushed(platform: str, order_id) -> list[dict]:
    return cache.get(f"sandbox:{platform}:shipments:{order_id}") or []


def _push(platform: str, order_id, item: dict) -> None:
    key = f"sandbox:{platform}:shipments:{order_id}"
    cache.set(key, [*_pushed(platform, order_id), item], 3 * 24 * 3600)


# --- Shopify ------------------------------------------------------------------------------

def _shopify_fulfillments(o: dict) -> list[dict]:
    fulfillments = []
    if o.get("shipped_at"):
        fulfillments.append({
            "id": o["slot"] * 10 + 1, "order_id": 5_000_000_000 + o["slot"], "status": "success",
            "created_at": _iso(o["shipped_at"]), "updated_at": _iso(o["shipped_at"]),
            "tracking_company": o["carrier"], "tracking_number": o["tracking_number"],
            "tracking_numbers": [o["tracking_number"]],
            "line_items": [{"id": ln["id"], "quantity": ln["quantity"], "sku": ln["sku"]}
                           for ln in o["lines"]]})
    for i, pushed in enumerate(_pushed("shopify", 5_000_000_000 + o["slot"])):
        fulfillments.append({"id": o["slot"] * 10 + 2 + i, "status": "success", **pushed})
    return fulfillments


def _shopify_order(o: dict) -> dict:
    name, phone, province, city, district, street, country = o["person"]
    first, last = _name_parts(name)
    fulfillments = _shopify_fulfillments(o)
    shipped = bool(o.get("shipped_at")) or bool(fulfillments)
    return {
        "id": 5_000_000_000 + o["slot"], "name": f"#S{o['slot'] % 100000}",
        "created_at": _iso(o["placed"]), "updated_at": _iso(o["updated"]),
        "processed_at": _iso(o["placed"]),
        "cancelled_at": _iso(o["updated"]) if o["status"] == "cancelled" else None,
        "cancel_reason": "customer" if o["status"] == "cancelled" else None,
        "financial_status": {"paid": "paid", "unpaid": "pending",
                             "cancelled": "voided"}[o["status"]],
        "fulfillment_status": "fulfilled" if shipped else None,
        "currency": o["currency"], "total_price": o["total"], "total_discounts": "0.00",
        "email": "buyer@example.com", "note": "",
        "customer": {"first_name": first, "last_name": last},
        "shipping_address": {"first_name": first, "last_name": last,
                             "name": f"{first} {last}".strip(), "phone": phone,
                             "province": _US_STATES.get(province, province),
                             "province_code": province if province.isascii() else None,
                             "city": city, "address1": f"{district} {street}".strip(),
                             "address2": "", "zip": "200000", "country_code": country},
        "shipping_lines": [{"price": "10.00"}],
        "line_items": [{"id": ln["id"], "sku": ln["sku"], "name": ln["name"],
                        "quantity": ln["quantity"], "price": ln["price"],
                        "variant_id": ln["id"],
                        "fulfillable_quantity": 0 if shipped else ln["quantity"],
                        "fulfillment_status": "fulfilled" if shipped else None}
                       for ln in o["lines"]],
        "fulfillments": fulfillments,
    }


def _shopify_auth(request):
    if not request.headers.get("X-Shopify-Access-Token"):
        return JsonResponse({"errors": "[API] Invalid API key or access token"}, status=401)
    return None


def _shopify_key(o: dict) -> list:
    return [o["updated"].timestamp(), o["slot"]]


@csrf_exempt
def shopify_orders(request, version: str):
    """Orders sorted by ``updated_at`` (then id); ``page_info`` resumes after the last
    row's sort key, as Shopify's cursors do, so an edit mid-scan moves an order to
    the end instead of shifting the pages."""
    _enabled()
    refused = _shopify_auth(request) or _throttled(request)
    if refused:
        return refused
    page_info = request.GET.get("page_info")
    limit = min(250, int(request.GET.get("limit", 50)))
    if page_info:
        if set(request.GET) - {"page_info", "limit", "fields"}:
            return JsonResponse({"errors": {"page_info": [
                "status cannot be passed when page_info is present"]}}, status=400)
        state = json.loads(base64.urlsafe_b64decode(page_info))
        since, after = state["since"], state.get("after")
    else:
        since, after = request.GET.get("updated_at_min", ""), None
    now = timezone.now()
    orders = [_with_shipping(o, now) for o in generate(now)]
    if since:
        since_dt = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        orders = [o for o in orders if o["updated"] >= since_dt]
    orders.sort(key=_shopify_key)
    if after:
        orders = [o for o in orders if _shopify_key(o) > after]
    chunk = orders[:limit]
    headers = {"X-Shopify-Shop-Api-Call-Limit": f"{random.randint(1, 20)}/40"}  # noqa: S311
    if len(orders) > limit:
        token = base64.urlsafe_b64encode(json.dumps(
            {"since": since, "after": _shopify_key(chunk[-1])}).encode()).decode()
        headers["Link"] = f'<{request.build_absolute_uri(request.path)}?limit={limit}' \
                          f'&page_info={token}>; rel="next"'
    return JsonResponse({"orders": [_shopify_order(o) for o in chunk]}, headers=headers)


def _shopify_find(order_id: int) -> dict | None:
    now = timezone.now()
    for o in generate(now):
        if 5_000_000_000 + o["slot"] == order_id:
            return _with_shipping(o, now)
    return None


@csrf_exempt
def shopify_order(request, version: str, order_id: int):
    _enabled()
    refused = _shopify_auth(request)
    if refused:
        return refused
    found = _shopify_find(order_id)
    if found is None:
        return JsonResponse({"errors": "Not Found"}, status=404)
    return JsonResponse({"order": _shopify_order(found)})


@csrf_exempt
def shopify_fulfillment_orders(request, version: str, order_id: int):
    _enabled()
    refused = _shopify_auth(request)
    if refused:
        return refused
    found = _shopify_find(order_id)
    if found is None:
        return JsonResponse({"errors": "Not Found"}, status=404)
    done = bool(found.get("shipped_at") or _pushed("shopify", order_id))
    return JsonResponse({"fulfillment_orders": [{
        "id": order_id * 10, "order_id": order_id, "status": "closed" if done else "open",
        "supported_actions": [] if done else ["create_fulfillment"],
        "line_items": [{"id": ln["id"] * 10, "line_item_id": ln["id"],
                        "quantity": ln["quantity"],
                        "fulfillable_quantity": 0 if done else ln["quantity"]}
                       for ln in found["lines"]]}]})


@csrf_exempt
def shopify_fulfillments(request, version: str):
    _enabled()
    refused = _shopify_auth(request)
    if refused:
        return refused
    body = json.loads(request.body or b"{}")
    fulfillment = body.get("fulfillment") or {}
    tracking = fulfillment.get("tracking_info") or {}
    groups = fulfillment.get("line_items_by_fulfillment_order") or []
    if not groups:
        return JsonResponse({"errors": {"line_items_by_fulfillment_order": [
            "can't be blank"]}}, status=422)
    order_id = int(groups[0].get("fulfillment_order_id", 0)) // 10
    created = {"tracking_company": tracking.get("company"),
               "tracking_number": tracking.get("number"),
               "tracking_numbers": [tracking.get("number")] if tracking.get("number") else [],
               "created_at": _iso(timezone.now())}
    _push("shopify", order_id, created)
    return JsonResponse({"fulfillment": {"id": random.randint(1, 10**9),  # noqa: S311
                                         "order_id": order_id, "status": "success",
                                         **created}}, status=201)


# --- WooCommerce --------------------------------------------------------------------------

def _woo_state(country: str, province: str) -> str:
    """What WooCommerce stores in ``state``: its own code where it has a table
    (``CN10`` for 上海市, ``CA``), the typed text elsewhere (GB)."""
    if country == "CN":
        return {name: code for code, name in CN_PROVINCES.items()}.get(province, province)
    return province


def _woo_gmt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _woo_order(o: dict) -> dict:
    name, phone, province, city, district, street, country = o["person"]
    first, last = _name_parts(name)
    woo_id = 10_000 + o["slot"] % 1_000_000
    address = {"first_name": first, "last_name": last,
               "address_1": f"{district} {street}".strip(), "address_2": "", "city": city,
               "state": _woo_state(country, province), "postcode": "100000", "country": country}
    tracking = []
    if o.get("shipped_at"):
        tracking.append({"tracking_provider": "" if o["carrier"] != "UPS" else "UPS",
                         "custom_tracking_provider": o["carrier"] if o["carrier"] != "UPS" else "",
                         "custom_tracking_link": "", "tracking_number": o["tracking_number"],
                         "date_shipped": str(int(o["shipped_at"].timestamp())),
                         "tracking_id": f"t{o['slot']}"})
    tracking += _pushed("woocommerce", woo_id)
    status = {"paid": "processing", "unpaid": "pending", "cancelled": "cancelled"}[o["status"]]
    if tracking and status == "processing":
        status = "completed"
    return {
        "id": woo_id, "number": str(o["slot"]), "status": status,
        "currency": o["currency"],
        "date_created_gmt": _woo_gmt(o["placed"]),
        "date_modified_gmt": _woo_gmt(o["updated"]),
        "date_paid_gmt": _woo_gmt(o["placed"]) if o["status"] == "paid" else None,
        "date_completed_gmt": _woo_gmt(o["shipped_at"]) if o.get("shipped_at") else None,
        "total": o["total"], "shipping_total": "10.00", "discount_total": "0.00",
        "customer_note": "",
        "billing": {**address, "email": "buyer@example.com", "phone": phone},
        "shipping": address,
        "meta_data": ([{"id": o["slot"], "key": "_wc_shipment_tracking_items", "value": tracking}]
                      if tracking else []),
        "line_items": [{"id": ln["id"], "name": ln["name"], "product_id": ln["id"],
                        "variation_id": 0, "quantity": ln["quantity"], "sku": ln["sku"],
                        "price": float(ln["price"]),
                        "subtotal": f"{Decimal(ln['price']) * ln['quantity']:.2f}",
                        "total": f"{Decimal(ln['price']) * ln['quantity']:.2f}"}
                       for ln in o["lines"]],
    }


def _woo_auth(request):
    if not request.headers.get("Authorization", "").startswith("Basic "):
        return JsonResponse({"code": "woocommerce_rest_cannot_view",
                             "message": "Sorry, you cannot list resources.",
                             "data": {"status": 401}}, status=401)
    return None


def _woo_find(order_id: int) -> dict | None:
    now = timezone.now()
    for o in generate(now):
        if 10_000 + o["slot"] % 1_000_000 == order_id:
            return _with_shipping(o, now)
    return None


def _woo_not_found():
    return JsonResponse({"code": "woocommerce_rest_shop_order_invalid_id",
                         "message": "Invalid ID.", "data": {"status": 404}}, status=404)


@csrf_exempt
def woo_orders(request):
    """Like WooCommerce: ``modified_after``/``modified_before`` exclusive and compared
    with the GMT columns, ``orderby=modified`` with the ID as tie-break, offset pages."""
    _enabled()
    refused = _woo_auth(request) or _throttled(request)
    if refused:
        return refused
    now = timezone.now()
    orders = [_with_shipping(o, now) for o in generate(now)]
    # Times are stored to the second: compare them as WooCommerce's SQL does.
    for param, keep in (("modified_after", lambda o, t: _woo_gmt(o["updated"]) > t),
                        ("modified_before", lambda o, t: _woo_gmt(o["updated"]) < t)):
        bound = request.GET.get(param)
        if bound:
            orders = [o for o in orders if keep(o, bound)]
    if request.GET.get("orderby") == "modified":
        orders.sort(key=lambda o: (_woo_gmt(o["updated"]), 10_000 + o["slot"] % 1_000_000),
                    reverse=request.GET.get("order", "desc") == "desc")
    per_page = min(100, int(request.GET.get("per_page", 10)))
    page = max(1, int(request.GET.get("page", 1)))
    chunk = orders[(page - 1) * per_page:page * per_page]
    pages = max(1, -(-len(orders) // per_page))
    return JsonResponse([_woo_order(o) for o in chunk], safe=False,
                        headers={"X-WP-Total": str(len(orders)), "X-WP-TotalPages": str(pages)})


@csrf_exempt
def woo_order(request, order_id: int):
    _enabled()
    refused = _woo_auth(request)
    if refused:
        return refused
    found = _woo_find(order_id)
    if found is None:
        return _woo_not_found()
    order = _woo_order(found)
    if request.method in ("PUT", "POST"):
        status = json.loads(request.body or b"{}").get("status")
        if status:
            order["status"] = status
    return JsonResponse(order)


@csrf_exempt
def woo_notes(request, order_id: int):
    _enabled()
    refused = _woo_auth(request)
    if refused:
        return refused
    if request.method == "GET":
        return JsonResponse([], safe=False)
    return JsonResponse({"id": random.randint(1, 10**6), **json.loads(  # noqa: S311
        request.body or b"{}")}, status=201)


@csrf_exempt
def woo_shipment_trackings(request, order_id: int):
    """The Shipment Tracking extension's endpoint: a tracking item per parcel."""
    _enabled()
    refused = _woo_auth(request)
    if refused:
        return refused
    if _woo_find(order_id) is None:
        return _woo_not_found()
    if request.method == "GET":
        return JsonResponse(_pushed("woocommerce", order_id), safe=False)
    body = json.loads(request.body or b"{}")
    if not body.get("tracking_number"):
        return JsonResponse({"code": "woocommerce_rest_invalid_tracking_number",
                             "message": "Invalid tracking number.", "data": {"status": 400}},
                            status=400)
    item = {"tracking_provider": body.get("tracking_provider", ""),
            "custom_tracking_provider": body.get("custom_tracking_provider", ""),
            "custom_tracking_link": body.get("custom_tracking_link", ""),
            "tracking_number": body["tracking_number"],
            "date_shipped": str(int(timezone.now().timestamp())),
            "tracking_id": f"{order_id}-{len(_pushed('woocommerce', order_id)) + 1}"}
    _push("woocommerce", order_id, item)
    return JsonResponse({"tracking_id": item["tracking_id"],
                         "tracking_provider": item["tracking_provider"]
                         or item["custom_tracking_provider"],
                         "tracking_link": item["custom_tracking_link"],
                         "tracking_number": item["tracking_number"],
                         "date_shipped": timezone.now().strftime("%Y-%m-%d")}, status=201)


# --- Amazon -------------------------------------------------------------------------------
# Like the Orders v0 / Tokens API documentation: buyer name, e-mail, street and phone
# only with a Restricted Data Token; items carry QuantityShipped; each order has its own
# MarketplaceId and confirmShipment must name it; getOrder shows a confirmed order Shipped.

AMAZON_RDT = "Atz.sprdt|sandbox"
AMAZON_MARKETPLACES = {"GB": "A1F83G8C2ARO7P"}  # others: ATVPDKIKX0DER (US)


def _amazon_id(slot: int) -> str:
    return f"902-{slot % 10**7:07d}-{(slot * 7919) % 10**7:07d}"


def _amazon_confirmed_key(order_id: str) -> str:
    return f"sandbox:amazon-shipped:{order_id}"


def _amazon_updated(o: dict) -> dt.datetime:
    # A confirmed shipment is an update: the order comes back in the next poll, Shipped.
    confirmed = cache.get(_amazon_confirmed_key(_amazon_id(o["slot"])))
    return max(o["updated"], confirmed) if isinstance(confirmed, dt.datetime) else o["updated"]


def _amazon_status(o: dict) -> str:
    if o["status"] != "paid":
        return {"unpaid": "Pending", "cancelled": "Canceled"}[o["status"]]
    if cache.get(_amazon_confirmed_key(_amazon_id(o["slot"]))):
        return "Shipped"
    # Some orders the seller already shipped from Seller Central.
    if o["slot"] % 7 == 0:
        return "Shipped"
    if o["slot"] % 11 == 0 and len(o["lines"]) > 1:
        return "PartiallyShipped"
    return "Unshipped"


def _amazon_address(o: dict, *, pii: bool) -> dict:
    name, phone, province, city, district, street, country = o["person"]
    address = {"City": city, "StateOrRegion": province, "PostalCode": "10001",
               "CountryCode": country}
    if district:
        address["District"] = district
    if pii:
        address.update({"Name": name, "AddressLine1": street, "Phone": phone})
    return address


def _amazon_order(o: dict, *, pii: bool) -> dict:
    name = o["person"][0]
    status = _amazon_status(o)
    order = {
        "AmazonOrderId": _amazon_id(o["slot"]), "PurchaseDate": _iso(o["placed"]),
        "LastUpdateDate": _iso(_amazon_updated(o)), "OrderStatus": status,
        "FulfillmentChannel": "MFN",
        "MarketplaceId": AMAZON_MARKETPLACES.get(o["person"][6], "ATVPDKIKX0DER"),
        "OrderTotal": {"CurrencyCode": o["currency"], "Amount": o["total"]},
        "BuyerInfo": {"BuyerEmail": "buyer@example.com", "BuyerName": name} if pii else {},
    }
    # As documented: no address while the order is Pending.
    if status != "Pending":
        order["ShippingAddress"] = _amazon_address(o, pii=pii)
    return order


def _amazon_token(request) -> str:
    return request.headers.get("x-amz-access-token", "")


def _amazon_auth(request, *, rdt_only: bool = False):
    token = _amazon_token(request)
    allowed = token == AMAZON_RDT if rdt_only else (
        token.startswith("Atza|") or token == AMAZON_RDT)
    if not allowed:
        return JsonResponse({"errors": [{"code": "Unauthorized",
                                         "message": "Access to requested resource is denied."}]},
                            status=403)
    return None


def _amazon_by_id(order_id: str) -> dict | None:
    return {_amazon_id(o["slot"]): o for o in generate()}.get(order_id)


def _amazon_not_found():
    return JsonResponse({"errors": [{"code": "NotFound", "message": "no such order"}]},
                        status=404)


@csrf_exempt
def amazon_token(request):
    _enabled()
    if request.POST.get("grant_type") != "refresh_token" or not request.POST.get("refresh_token"):
        return JsonResponse({"error": "invalid_grant",
                             "error_description": "The request has an invalid grant"}, status=400)
    return JsonResponse({"access_token": "Atza|sandbox", "token_type": "bearer",
                         "expires_in": 3600})


@csrf_exempt
def amazon_rdt(request):
    """createRestrictedDataToken: called with the LWA token, for restricted resources."""
    _enabled()
    if request.method != "POST":
        return HttpResponse(status=405)
    if not _amazon_token(request).startswith("Atza|"):
        return _amazon_auth(request, rdt_only=True)
    try:
        resources = json.loads(request.body or b"{}").get("restrictedResources")
    except ValueError:
        resources = None
    if not resources or not all(isinstance(r, dict) and r.get("method") and r.get("path")
                                for r in resources):
        return JsonResponse({"errors": [{"code": "InvalidInput",
                                         "message": "restrictedResources is required"}]},
                            status=400)
    return JsonResponse({"restrictedDataToken": AMAZON_RDT, "expiresIn": 3600})


@csrf_exempt
def amazon_orders(request):
    _enabled()
    refused = _amazon_auth(request) or _throttled(request)
    if refused:
        return refused
    if not request.GET.get("MarketplaceIds"):
        return JsonResponse({"errors": [{"code": "InvalidInput",
                                         "message": "MarketplaceIds is required"}]}, status=400)
    token = request.GET.get("NextToken")
    if token:
        state = json.loads(base64.urlsafe_b64decode(token))
        since, before, offset = state["since"], state.get("before", ""), state["offset"]
    else:
        since, before, offset = (request.GET.get("LastUpdatedAfter", ""),
                                 request.GET.get("LastUpdatedBefore", ""), 0)
    latest = timezone.now() - dt.timedelta(minutes=2)
    if before:
        before_dt = dt.datetime.fromisoformat(before.replace("Z", "+00:00"))
        if before_dt > latest:
            return JsonResponse({"errors": [{
                "code": "InvalidInput",
                "message": "LastUpdatedBefore must be at least two minutes before now"}]},
                status=400)
    else:
        before_dt = latest
    orders = sorted(generate(), key=lambda o: (_amazon_updated(o), o["slot"]))
    if since:
        since_dt = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        orders = [o for o in orders if _amazon_updated(o) >= since_dt]
    orders = [o for o in orders if _amazon_updated(o) <= before_dt]
    chunk = orders[offset:offset + 50]
    pii = _amazon_token(request) == AMAZON_RDT
    payload = {"Orders": [_amazon_order(o, pii=pii) for o in chunk],
               "LastUpdatedBefore": _iso(before_dt)}
    if offset + 50 < len(orders):
        payload["NextToken"] = base64.urlsafe_b64encode(json.dumps(
            {"since": since, "before": before, "offset": offset + 50}).encode()).decode()
    return JsonResponse({"payload": payload})


@csrf_exempt
def amazon_order(request, order_id: str):
    _enabled()
    refused = _amazon_auth(request)
    if refused:
        return refused
    order = _amazon_by_id(order_id)
    if order is None:
        return _amazon_not_found()
    pii = _amazon_token(request) == AMAZON_RDT
    return JsonResponse({"payload": _amazon_order(order, pii=pii)})


@csrf_exempt
def amazon_order_address(request, order_id: str):
    _enabled()
    refused = _amazon_auth(request, rdt_only=True)
    if refused:
        return refused
    order = _amazon_by_id(order_id)
    if order is None:
        return _amazon_not_found()
    payload = {"AmazonOrderId": order_id}
    if _amazon_status(order) != "Pending":
        payload["ShippingAddress"] = _amazon_address(order, pii=True)
    return JsonResponse({"payload": payload})


@csrf_exempt
def amazon_order_buyer_info(request, order_id: str):
    _enabled()
    refused = _amazon_auth(request, rdt_only=True)
    if refused:
        return refused
    order = _amazon_by_id(order_id)
    if order is None:
        return _amazon_not_found()
    return JsonResponse({"payload": {"AmazonOrderId": order_id, "BuyerEmail": "buyer@example.com",
                                     "BuyerName": order["person"][0]}})


@csrf_exempt
def amazon_order_items(request, order_id: str):
    _enabled()
    refused = _amazon_auth(request)
    if refused:
        return refused
    order = _amazon_by_id(order_id)
    if order is None:
        return _amazon_not_found()
    status = _amazon_status(order)
    items = []
    for i, ln in enumerate(order["lines"]):
        shipped = {"Shipped": ln["quantity"], "PartiallyShipped": ln["quantity"] if i == 0
                   else 0}.get(status, 0)
        data = {"OrderItemId": str(ln["id"]), "SellerSKU": ln["sku"],
                "ASIN": f"B0{ln['id']:08d}", "Title": ln["name"],
                "QuantityOrdered": ln["quantity"], "QuantityShipped": shipped}
        if status != "Pending":  # no pricing while Pending, as documented
            data["ItemPrice"] = {"CurrencyCode": order["currency"],
                                 "Amount": f"{Decimal(ln['price']) * ln['quantity']:.2f}"}
        items.append(data)
    return JsonResponse({"payload": {"AmazonOrderId": order_id, "OrderItems": items}})


@csrf_exempt
def amazon_confirm_shipment(request, order_id: str):
    _enabled()
    refused = _amazon_auth(request)
    if refused:
        return refused

    def invalid(message):
        return JsonResponse({"errors": [{"code": "InvalidInput", "message": message}]},
                            status=400)

    order = _amazon_by_id(order_id)
    if order is None:
        return _amazon_not_found()
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return invalid("the body is not JSON")
    package = body.get("packageDetail") or {}
    for field in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate",
                  "orderItems"):
        if not package.get(field):
            return invalid(f"packageDetail.{field} is required")
    if package["carrierCode"] == "Other" and not package.get("carrierName"):
        return invalid("carrierName is required when carrierCode is Other")
    expected = _amazon_order(order, pii=False)["MarketplaceId"]
    if body.get("marketplaceId") != expected:
        return invalid(f"order {order_id} does not belong to marketplace "
                       f"{body.get('marketplaceId')}")
    cache.set(_amazon_confirmed_key(order_id), timezone.now(), 3 * 24 * 3600)
    return HttpResponse(status=204)
