"""The open API's endpoints (``/api/v1/``): parse, call one selector or service, answer.

Schema at ``/api/v1/openapi.json``, interactive docs at ``/api/v1/docs``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Status
from pydantic import Field

from api import errors, selectors
from api.auth import TokenAuth, require_perm
from api.errors import ERROR_STATUSES, ApiError
from api.idempotency import run_idempotent
from api.schemas import (
    AuditPage,
    ChangeRequestIn,
    ChangeRequestOut,
    ChannelOut,
    ErrorOut,
    NoteIn,
    NoteOut,
    OrderDetailOut,
    OrderIn,
    OrderPage,
    StockPage,
    Text,
    Time,
    WmsCallbackOut,
    WmsOutboundIn,
)
from api.services import api_order_create, wms_outbound_record

api = NinjaAPI(
    title="OrderHub API",
    version="1",
    description="Orders, stock, channels' health and the audit feed of the hub; orders, "
                "notes, change requests and WMS callbacks in. Every write takes an "
                "`Idempotency-Key` header. Errors: `{code, message, fields}`.",
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=TokenAuth(),
)
errors.install(api)

ERRORS = {status: ErrorOut for status in ERROR_STATUSES}
Limit = Annotated[int, Field(ge=1, le=selectors.MAX_LIMIT)]
Cursor = Text(400, 1)
Code = Text(64, 1)

VIEW_ORDERS = ("orderhub.view_order",)


def _number(number: str) -> str:
    if "\x00" in number or len(number) > 64:
        raise ApiError(404, "not_found", _("There is no order %(number)s.") % {"number": ""})
    return number


# --- read ------------------------------------------------------------------------------------

@api.get("/orders", response={200: OrderPage, **ERRORS}, tags=["orders"])
def list_orders(request,
                status: Annotated[list[Code] | None, Query(description="Repeat for several.")]
                = None,
                channel: Code | None = None, warehouse: Code | None = None,
                updated_since: Time | None = None, cursor: Cursor | None = None,
                limit: Limit = 50):
    """Orders oldest change first; follow `next_cursor` for an incremental sync."""
    require_perm(request, *VIEW_ORDERS)
    return selectors.orders_page(user=request.auth.user, status=status, channel=channel,
                                 warehouse=warehouse, updated_since=updated_since,
                                 cursor=cursor, limit=limit)


@api.get("/orders/{number}", response={200: OrderDetailOut, **ERRORS}, tags=["orders"])
def get_order(request, number: str):
    """One order with its lines, transitions, events, versions (with diffs) and tracking."""
    require_perm(request, *VIEW_ORDERS)
    return selectors.order_detail(user=request.auth.user, number=_number(number))


@api.get("/stock", response={200: StockPage, **ERRORS}, tags=["stock"])
def list_stock(request, warehouse: Code | None = None, sku: Code | None = None,
               cursor: Cursor | None = None, limit: Limit = 100):
    """Stock levels per warehouse and SKU (available = on hand - reserved - safety)."""
    require_perm(request, "warehouse.view_stocklevel")
    return selectors.stock_page(warehouse=warehouse, sku=sku, cursor=cursor, limit=limit)


@api.get("/channels", response={200: list[ChannelOut], **ERRORS}, tags=["channels"])
def list_channels(request):
    """Each sales channel's health: last sync, lag, failures, paused and why."""
    require_perm(request, "channels.view_channel")
    return selectors.channels_health()


@api.get("/audit", response={200: AuditPage, **ERRORS}, tags=["audit"])
def audit_feed(request, cursor: Cursor | None = None, since: Time | None = None,
               limit: Limit = 100):
    """Transitions, edits (with their diffs) and approvals, oldest first, cursor-paged."""
    require_perm(request, "orderhub.view_ordertransitionlog")
    return selectors.audit_page(user=request.auth.user, cursor=cursor, since=since,
                                limit=limit)


# --- write -----------------------------------------------------------------------------------

@api.post("/orders", response={201: OrderDetailOut, **ERRORS}, tags=["orders"])
def create_order(request, response: HttpResponse, payload: OrderIn):
    """Create an order (manual, B2B or from a CRM), validated as manual entry is;
    with `paid` it is marked paid and automation runs."""
    user = request.auth.user

    def work():
        order = api_order_create(user=user, data=payload.model_dump())
        return 201, _jsonable(selectors.order_detail(user=user, number=order.number))

    return Status(*run_idempotent(request, response, work))


@api.post("/orders/{number}/notes", response={201: NoteOut, **ERRORS}, tags=["orders"])
def add_note(request, response: HttpResponse, number: str, payload: NoteIn):
    """Add a note to the order's timeline."""
    from orderhub.services.orders import order_add_note

    require_perm(request, "orderhub.add_orderevent")
    order = selectors.order_by_number(_number(number))

    def work():
        event = order_add_note(order=order, actor=request.auth.user, text=payload.text)
        return 201, _jsonable({"id": event.pk, "order_number": order.number,
                               "text": event.message, "actor": event.actor,
                               "time": event.created_at})

    return Status(*run_idempotent(request, response, work))


@api.post("/orders/{number}/change-requests", response={201: ChangeRequestOut, **ERRORS},
          tags=["orders"])
def request_change(request, response: HttpResponse, number: str, payload: ChangeRequestIn):
    """Request a change or an intercept, as a CRM would: before picking it is applied at
    once, from picking on the order is held and the approval chain decides."""
    from fulfillment.changes.services import change_request_create

    order = selectors.order_by_number(_number(number))
    proposed = {"fields": (payload.fields.model_dump(exclude_none=True)
                           if payload.fields else {}),
                "note": payload.note}
    if payload.lines is not None:
        proposed["lines"] = [line.model_dump(mode="json") for line in payload.lines]

    def work():
        change = change_request_create(order=order, actor=request.auth.user,
                                       kind=payload.kind, proposed=proposed,
                                       reason=payload.reason,
                                       expected_status=payload.expected_status)
        return 201, _jsonable({"id": change.pk, "order_number": order.number,
                               "kind": change.kind, "status": change.status,
                               "needs_approval": change.needs_approval,
                               "reason": change.reason, "diff": change.diff,
                               "created_at": change.created_at})

    return Status(*run_idempotent(request, response, work))


@api.post("/wms/outbound", response={201: WmsCallbackOut, **ERRORS}, tags=["wms"])
def wms_outbound(request, response: HttpResponse, payload: WmsOutboundIn):
    """An external WMS reports an order picked, or gone out of the building: the order
    moves to picked or shipped, the callback is kept as received."""
    raw = request.body.decode("utf-8", errors="replace")

    def work():
        callback = wms_outbound_record(token=request.auth, data=payload.model_dump(), raw=raw)
        return 201, _jsonable(selectors.wms_callback_out(callback))

    return Status(*run_idempotent(request, response, work))


def _jsonable(value):
    """Datetimes as ISO text, so a stored idempotent answer is the one first sent."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, dt.UTC).isoformat().replace("+00:00", "Z")
    return value
