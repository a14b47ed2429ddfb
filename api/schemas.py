"""Request and response shapes of the open API (OpenAPI 3 via django-ninja / pydantic).

Inputs refuse unknown fields and wrong types (no "5" for 5): an integration's typo
must fail loudly, not be dropped.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr


def _printable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _sane_time(value: dt.datetime) -> dt.datetime:
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. 2026-12-05T10:00:00+08:00)")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 (a type factory)
    return Annotated[StrictStr, Field(min_length=min_length, max_length=max_length),
                     AfterValidator(_printable)]


Time = Annotated[dt.datetime, AfterValidator(_sane_time)]


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


# --- errors -----------------------------------------------------------------------------

class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`.")
    message: str
    fields: list[FieldErrorOut] = Field(default_factory=list)


# --- orders -----------------------------------------------------------------------------

class LineOut(Schema):
    sku_code: str
    name: str
    quantity: int
    unit_price: str
    is_gift: bool
    shipped_quantity: int


class OrderOut(Schema):
    number: str
    channel: str
    external_id: str
    kind: str
    status: str
    priority: int
    warehouse: str | None
    buyer_name: str
    buyer_phone: str
    buyer_email: str
    ship_name: str
    ship_phone: str
    ship_country: str
    ship_province: str
    ship_city: str
    ship_district: str
    ship_street: str
    ship_postcode: str
    currency: str
    subtotal: str
    shipping_fee: str
    discount: str
    total: str
    carrier: str
    tracking_number: str
    placed_at: dt.datetime
    paid_at: dt.datetime | None
    shipped_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get what changed after this page; keep it to "
                    "resume the sync later.")
    has_more: bool


class TransitionOut(Schema):
    transition: str
    from_status: str
    to_status: str
    actor: str
    reason: str
    time: dt.datetime


class EventOut(Schema):
    kind: str
    message: str
    actor: str
    data: dict[str, Any]
    time: dt.datetime


class ChangeOut(Schema):
    field: str
    old: str | None
    new: str | None


class VersionOut(Schema):
    id: int
    time: dt.datetime
    type: str
    actor: str
    reason: str
    changes: list[ChangeOut]


class TrackingEventOut(Schema):
    time: dt.datetime
    place: str
    milestone: str
    description: str


class WaybillOut(Schema):
    tracking_number: str
    status: str
    milestone: str
    booked_at: dt.datetime | None
    events: list[TrackingEventOut]


class WmsCallbackOut(Schema):
    id: int
    order_number: str
    source_system: str
    event: str
    operator: str
    occurred_at: dt.datetime
    package_count: int
    weight_kg: str | None
    photo_url: str
    from_status: str
    to_status: str
    received_at: dt.datetime


class OrderDetailOut(OrderOut):
    lines: list[LineOut]
    transitions: list[TransitionOut]
    events: list[EventOut]
    versions: list[VersionOut]
    tracking: list[WaybillOut]
    wms_callbacks: list[WmsCallbackOut]


Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class LineIn(Input):
    sku: Text(64, 1)
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    unit_price: Money | None = Field(
        default=None, description="Empty: the catalogue price. Another price needs a "
                                  "manager's role.")
    is_gift: StrictBool = False


class OrderIn(Input):
    channel: Text(40, 1) = Field(description="Code of an enabled manual channel.")
    kind: Literal["b2c", "b2b"] = "b2c"
    external_id: Text(64) = Field(default="", description="The CRM's own reference; "
                                                          "unique per channel.")
    buyer_name: Text(120, 1)
    buyer_phone: Text(32, 1)
    buyer_email: Text(254) = ""
    ship_name: Text(120) = ""
    ship_phone: Text(32) = ""
    ship_province: Text(64, 1)
    ship_city: Text(64, 1)
    ship_district: Text(64) = ""
    ship_street: Text(255, 1)
    ship_postcode: Text(16) = ""
    shipping_fee: Money | None = None
    buyer_message: Text(2000) = ""
    paid: StrictBool = Field(default=False,
                             description="Payment received: the order is marked paid and "
                                         "automation runs (needs a manager's role).")
    lines: list[LineIn] = Field(min_length=1, max_length=50)


class NoteIn(Input):
    text: Text(2000, 1)


class NoteOut(Schema):
    id: int
    order_number: str
    text: str
    actor: str
    time: dt.datetime


class ChangeLineIn(Input):
    sku_code: Text(64, 1)
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    unit_price: Money
    is_gift: StrictBool = False
    name: Text(255) = ""


class ChangeFieldsIn(Input):
    ship_name: Text(120) | None = None
    ship_phone: Text(32) | None = None
    ship_province: Text(64) | None = None
    ship_city: Text(64) | None = None
    ship_district: Text(64) | None = None
    ship_street: Text(255) | None = None
    ship_postcode: Text(16) | None = None
    carrier: Text(40) | None = None
    priority: Annotated[StrictInt, Field(ge=0, le=3)] | None = None


class ChangeRequestIn(Input):
    kind: Literal["change", "intercept"] = "change"
    reason: Text(1000, 1)
    fields: ChangeFieldsIn | None = None
    lines: list[ChangeLineIn] | None = Field(default=None, max_length=50)
    note: Text(1000) = ""
    expected_status: Text(20) | None = Field(
        default=None, description="The status the caller saw; 409 if the order moved on.")


class ChangeRequestOut(Schema):
    id: int
    order_number: str
    kind: str
    status: str
    needs_approval: bool
    reason: str
    diff: dict[str, Any]
    created_at: dt.datetime


class WmsOutboundIn(Input):
    order_number: Text(24, 1)
    event: Literal["picked", "shipped"] = Field(
        default="shipped", description="`shipped`: the parcel left the building; `picked`: "
                                       "picked and packed, not gone yet.")
    operator: Text(120, 1)
    occurred_at: Time
    package_count: Annotated[StrictInt, Field(ge=1, le=10_000)]
    weight_kg: Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=3)] | None = None
    photo_url: Annotated[Text(1000), Field(pattern=r"^https?://\S+$")] | None = None
    carrier: Text(40) = ""
    tracking_number: Text(64) = ""


# --- stock, channels, audit ---------------------------------------------------------------

class StockOut(Schema):
    warehouse: str
    sku: str
    on_hand: int
    reserved: int
    safety: int
    available: int
    updated_at: dt.datetime


class StockPage(Schema):
    items: list[StockOut]
    next_cursor: str | None
    has_more: bool


class ChannelOut(Schema):
    code: str
    name: str
    platform: str
    enabled: bool
    paused: bool
    paused_reason: str
    last_poll_at: dt.datetime | None
    last_success_at: dt.datetime | None
    lag_seconds: int | None = Field(description="Seconds since the last successful sync.")
    consecutive_failures: int
    last_error: str
    last_error_at: dt.datetime | None


class AuditItemOut(Schema):
    id: str = Field(description="`transition:<n>`, `edit:<n>` or `approval:<n>`.")
    type: Literal["transition", "edit", "approval"]
    time: dt.datetime
    order_number: str
    actor: str
    reason: str = ""
    transition: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    changes: list[ChangeOut] = Field(default_factory=list)
    change_request: int | None = None
    change_kind: str | None = None
    step: str | None = None
    decision: str | None = None


class AuditPage(Schema):
    items: list[AuditItemOut]
    next_cursor: str | None
    has_more: bool
