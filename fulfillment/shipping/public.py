"""What the public tracking page shows a buyer: masked, and nothing staff-only."""

from __future__ import annotations

from dataclasses import dataclass

from fulfillment.shipping.models import Waybill
from orderhub.models import Order, OrderStatus, OrderTransitionLog

S = OrderStatus
# The steps a buyer understands, in order; internal states (review, holds) are not shown.
PUBLIC_STEPS = [S.PAID, S.PICKING, S.SHIPPED, S.DELIVERED, S.COMPLETED]
PUBLIC_STATUS = {
    S.PENDING_PAYMENT: S.PENDING_PAYMENT, S.PAID: S.PAID, S.REVIEW: S.PAID,
    S.OUT_OF_STOCK: S.PAID, S.READY_TO_PICK: S.PAID, S.ON_HOLD: S.PAID,
    S.PICKING: S.PICKING, S.PICKED: S.PICKING, S.SHIPPED: S.SHIPPED,
    S.DELIVERED: S.DELIVERED, S.COMPLETED: S.COMPLETED, S.CANCELLED: S.CANCELLED,
}


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``; ``Emily Clark`` → ``E**********``."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_address(order: Order) -> str:
    """Province and city only: enough to recognise one's own parcel."""
    parts = [p for p in (order.ship_province, order.ship_city) if p]
    if order.ship_province and order.ship_province == order.ship_city:
        parts = [order.ship_city]
    return " ".join(parts) + " ****"


@dataclass
class Step:
    status: str
    label: str
    at: object
    done: bool


def tracking_view_data(order: Order) -> dict:
    """Everything the public page renders for one order (three queries)."""
    first_at = {}
    for to_status, at in (OrderTransitionLog.objects.filter(order=order)
                          .order_by("created_at", "id").values_list("to_status", "created_at")):
        first_at.setdefault(PUBLIC_STATUS.get(to_status, to_status), at)
    current = PUBLIC_STATUS.get(order.status, order.status)
    reached = PUBLIC_STEPS.index(current) if current in PUBLIC_STEPS else -1
    labels = dict(S.choices)
    steps = [Step(status=s, label=labels[s], at=first_at.get(s), done=i <= reached)
             for i, s in enumerate(PUBLIC_STEPS)]
    waybill = (Waybill.objects.filter(order=order, status=Waybill.Status.BOOKED)
               .select_related("account").order_by("-booked_at", "-pk").first())
    events = list(waybill.events.all()[:100]) if waybill else []
    return {
        "number": order.number,
        "status": current,
        "status_label": labels.get(current, current),
        "cancelled": order.status == S.CANCELLED,
        "recipient": mask_name(order.ship_name or order.buyer_name),
        "address": mask_address(order),
        "steps": steps,
        "carrier": waybill.account.display_name if waybill and waybill.account else "",
        "tracking_number": waybill.tracking_number if waybill else order.tracking_number,
        "milestone": waybill.get_milestone_display() if waybill and waybill.milestone else "",
        "events": events,
    }
