"""Template tags for shipping data shown on the order page.

The order page includes ``shipping/order_panel.html`` by name (the order core
never imports this app); the panel asks ``shipping_order_panel`` for its data.
"""

from __future__ import annotations

from django import template
from django.db.models import Prefetch

from fulfillment.shipping.models import TrackingEvent, Waybill
from fulfillment.shipping.services import with_service_names

register = template.Library()


def order_panel_data(*, order, user) -> dict | None:
    """What ``user`` may see of ``order``'s waybills, or None when nothing.

    Four queries whatever the number of waybills, attempts and events.
    """
    if not user.has_perm("shipping.view_waybill"):
        return None
    waybills = (Waybill.objects.filter(order=order).select_related("account")
                .prefetch_related("attempt_rows",
                                  Prefetch("events", queryset=TrackingEvent.objects.order_by(
                                      "-occurred_at", "-id")))
                .order_by("-created_at", "-id"))
    return {
        "waybills": with_service_names(list(waybills)),
        "can_label": user.has_perm("shipping.download_label"),
        "can_retry": user.has_perm("shipping.retry_waybill"),
        "can_ship": user.has_perm("orderhub.ship_order"),
    }


@register.simple_tag(takes_context=True)
def shipping_order_panel(context, order=None):
    """``{% shipping_order_panel as panel %}``: the panel's data, or None to render nothing."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    return order_panel_data(order=order, user=user)
