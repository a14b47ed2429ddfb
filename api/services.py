"""Writes of the open API. Each one goes through the hub's own services with the
token's integration user as the actor, so permissions, validation, versions, logs and
automation are those of any other write.

- ``api_order_create``: the manual-entry forms (``orderhub.forms_new_order``) validate,
  ``order_create`` writes, ``order_transition("pay")`` starts automation.
- ``wms_outbound_record``: an external WMS reports an order picked or gone. ``claim``
  and ``finish`` are scan-flow-only for people (``SCAN_FLOW_TRANSITIONS``); this is the
  WMS's own path to them: the WMS did the picking, the callback is its record. It acts
  as the integration user (who must hold ``pick_order``/``ship_order``), keeps the
  callback as received, and writes a ``wms_outbound`` timeline event naming the source
  system, the operator and the time.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api.errors import ApiError, field_error
from api.models import ApiToken, WmsCallback
from orderhub.forms_new_order import MARK_PAID_PERM, LineFormSet, NewOrderForm, manual_channels
from orderhub.models import Customer, Order, OrderStatus
from orderhub.services.events import order_event_record
from orderhub.services.orders import order_create, order_transition
from warehouse.models import PickTask

ENTER_PERMS = ("orderhub.add_order", "orderhub.change_order")
S = OrderStatus

# What a WMS event does from each state: the transitions, in order.
WMS_PATHS = {
    WmsCallback.Event.PICKED: {
        S.READY_TO_PICK: ["claim", "finish"],
        S.PICKING: ["finish"],
    },
    WmsCallback.Event.SHIPPED: {
        S.READY_TO_PICK: ["claim", "finish", "ship"],
        S.PICKING: ["finish", "ship"],
        S.PICKED: ["ship"],
    },
}


def _form_errors(form, prefix: str = "") -> list[dict]:
    out = []
    for name, errors in form.errors.items():
        field = "body" if name == "__all__" else f"{prefix}{name}"
        out += [field_error(field, message) for message in errors]
    return out


def api_order_create(*, user, data: dict) -> Order:
    """Create an order as manual entry does; ``data`` is the validated ``OrderIn``."""
    if not any(user.has_perm(p) for p in ENTER_PERMS):
        raise ApiError(403, "forbidden", _("The integration's user may not enter orders."))
    if data["paid"] and not user.has_perm(MARK_PAID_PERM):
        raise ApiError(403, "forbidden",
                       _("Only a manager's role may mark an order paid."))
    channel = manual_channels().filter(code=data["channel"]).first()
    if channel is None:
        message = _("No enabled manual channel has the code “%(code)s”.") % {
            "code": data["channel"]}
        raise ApiError(422, "invalid", message, fields=[field_error("channel", message)])
    head = {k: v for k, v in data.items() if k not in ("lines", "paid", "external_id")}
    head["channel"] = channel.pk
    head["shipping_fee"] = "" if data["shipping_fee"] is None else str(data["shipping_fee"])
    form = NewOrderForm(head, user=user)
    lines_data = {"lines-TOTAL_FORMS": str(len(data["lines"])), "lines-INITIAL_FORMS": "0",
                  "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000"}
    for i, line in enumerate(data["lines"]):
        lines_data.update({
            f"lines-{i}-sku": line["sku"], f"lines-{i}-quantity": str(line["quantity"]),
            f"lines-{i}-unit_price": "" if line["unit_price"] is None
            else str(line["unit_price"]),
            f"lines-{i}-is_gift": "on" if line["is_gift"] else "",
        })
    lines = LineFormSet(lines_data, prefix="lines", form_kwargs={"user": user})
    head_ok, lines_ok = form.is_valid(), lines.is_valid()
    if not (head_ok and lines_ok):
        fields = _form_errors(form)
        for i, line_form in enumerate(lines.forms):
            fields += _form_errors(line_form, f"lines.{i}.")
        fields += [field_error("lines", m) for m in lines.non_form_errors()]
        raise ApiError(422, "invalid", _("The order has invalid fields."), fields=fields)
    external_id = data["external_id"].strip()
    if external_id and Order.objects.filter(channel=channel, external_id=external_id).exists():
        raise ApiError(409, "duplicate_order",
                       _("Channel %(channel)s already has an order with the id %(id)s.")
                       % {"channel": channel.code, "id": external_id})
    fields = form.create_fields()
    fields["customer"] = Customer.objects.filter(phone=fields["buyer_phone"]).first()
    if external_id:
        fields["external_id"] = external_id
    try:
        with transaction.atomic():
            order = order_create(channel=channel, actor=user, lines=lines.lines, **fields)
    except IntegrityError as exc:
        # The same external id committed by a concurrent request a moment ago.
        raise ApiError(409, "duplicate_order",
                       _("Channel %(channel)s already has an order with the id %(id)s.")
                       % {"channel": channel.code, "id": external_id}) from exc
    if data["paid"]:
        order = order_transition(order=order, name="pay", actor=user,
                                 reason=_("Paid (entered through the API)"))
    return order


def wms_outbound_record(*, token: ApiToken, data: dict, raw: str) -> WmsCallback:
    """Apply one WMS outbound callback; call inside a transaction (the view's).

    Refused (nothing changed, nothing stored): an unknown order (404), a replay of a
    callback already taken in (409), an order in a state the event does not fit (409).
    """
    user = token.user
    order = Order.objects.select_for_update().filter(number=data["order_number"]).first()
    if order is None:
        raise ApiError(404, "not_found", _("There is no order %(number)s.")
                       % {"number": data["order_number"]})
    event = data["event"]
    occurred_at = data["occurred_at"]
    if WmsCallback.objects.filter(order=order, event=event, occurred_at=occurred_at).exists():
        raise ApiError(409, "callback_replayed",
                       _("This callback was already taken in; nothing was changed."))
    steps = WMS_PATHS[event].get(order.status)
    if steps is None:
        raise ApiError(409, "wrong_state",
                       _("Order %(number)s is %(status)s: the WMS cannot report it "
                         "%(event)s.") % {"number": order.number,
                                          "status": order.get_status_display(),
                                          "event": WmsCallback.Event(event).label.lower()})
    source = f"{token.get_system_display()}: {token.name}"
    local = timezone.localtime(occurred_at)
    reason = _("WMS (%(source)s): %(operator)s at %(time)s, %(count)s package(s)") % {
        "source": source, "operator": data["operator"], "time": f"{local:%Y-%m-%d %H:%M}",
        "count": data["package_count"]}
    from_status = order.status
    set_fields = {k: data[k] for k in ("carrier", "tracking_number") if data.get(k)}
    for name in steps:
        order = order_transition(order=order.pk, name=name, actor=user, reason=reason,
                                 scan_flow=True,
                                 set_fields=set_fields if name == "ship" and set_fields
                                 else None)
    if "finish" in steps:
        # A hub pick task someone opened meanwhile is done: the WMS picked the order.
        PickTask.objects.filter(order=order, status=PickTask.Status.OPEN).update(
            status=PickTask.Status.DONE, finished_at=timezone.now())
    weight = data.get("weight_kg")
    callback = WmsCallback.objects.create(
        order=order, token=token, source_system=source, event=event,
        operator=data["operator"], occurred_at=occurred_at,
        package_count=data["package_count"],
        weight_kg=Decimal(weight) if weight is not None else None,
        photo_url=data.get("photo_url") or "", raw=raw, from_status=from_status,
        to_status=order.status)
    order_event_record(order=order, kind="wms_outbound", actor=user, message=reason, data={
        "callback_id": callback.pk, "source_system": source, "operator": data["operator"],
        "occurred_at": occurred_at.isoformat(), "package_count": data["package_count"],
        "weight_kg": None if weight is None else str(weight),
        "photo_url": data.get("photo_url") or "", "event": event})
    return callback

