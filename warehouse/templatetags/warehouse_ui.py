"""Template tags for warehouse data shown on other apps' pages.

The order page includes ``warehouse/order_panel.html`` by name (the order core
never imports this app); the panel asks ``warehouse_order_panel`` for its data.
"""

from __future__ import annotations

from django import template
from django.db.models import Sum

from warehouse.models import PackCheck, PickList, PickProblem, PickTask, Reservation

register = template.Library()

VIEW_PERMS = {
    "reservations": "warehouse.view_reservation",
    "tasks": "warehouse.view_picktask",
    "problems": "warehouse.view_pickproblem",
    "pick_lists": "warehouse.view_picklist",
    "pack_checks": "warehouse.view_packcheck",
}


def order_panel_data(*, order, user) -> dict | None:
    """What ``user`` may see of ``order`` in the warehouse, or None when nothing.

    One query per section shown (at most five), whatever the number of rows.
    """
    allowed = {key for key, perm in VIEW_PERMS.items() if user.has_perm(perm)}
    if not allowed:
        return None
    data: dict = {f"can_{key}": key in allowed for key in VIEW_PERMS}
    data["can_print"] = user.has_perm("warehouse.print_picklist")
    if "reservations" in allowed:
        data["reservations"] = list(
            Reservation.objects.filter(order=order).select_related("warehouse", "sku")
            .order_by("status", "sku__code")
        )
    if "tasks" in allowed:
        data["tasks"] = list(
            PickTask.objects.filter(order=order).select_related("picker", "warehouse")
            .annotate(units=Sum("lines__quantity"), picked_units=Sum("lines__picked"))
            .order_by("-started_at", "-id")
        )
    if "problems" in allowed:
        data["problems"] = list(PickProblem.objects.filter(order=order).order_by("-created_at"))
    if "pack_checks" in allowed:
        # Verified or still on the bench; abandoned checks are noise on the order page.
        data["pack_checks"] = list(
            PackCheck.objects.filter(order=order).exclude(status=PackCheck.Status.ABANDONED)
            .select_related("packer").order_by("-started_at", "-id")
        )
    if "pick_lists" in allowed:
        data["pick_lists"] = list(
            PickList.objects.filter(slots__order=order).order_by("-created_at", "-id")
        )
        data["active_pick_list"] = next(
            (p for p in data["pick_lists"] if p.status == PickList.Status.ACTIVE), None
        )
    return data


@register.simple_tag(takes_context=True)
def warehouse_order_panel(context, order=None):
    """``{% warehouse_order_panel as panel %}``: the panel's data, or None to render nothing."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    return order_panel_data(order=order, user=user)
