"""Template tags for automation data on other apps' pages (the order page panel)."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from fulfillment.models import OrderDecision
from fulfillment.services.automation import REPROCESS_FROM
from fulfillment.services.risk import reason_text as _reason_text
from orderhub.models import OrderStatus

register = template.Library()

SOURCES = {
    "rule": _("by a rule"),
    "region": _("serves the region, has the stock"),
    "stock": _("has the stock"),
    "shortage": _("nobody had the stock"),
}


@register.filter
def source_label(source: str) -> str:
    """Why automation chose the warehouse, in the reader's language."""
    return str(SOURCES.get(source, source))


@register.filter
def reason_text(reason: dict) -> str:
    """A stored review reason in the reader's language."""
    return _reason_text(reason)


def order_panel_data(*, order, user) -> dict | None:
    """What ``user`` may see of ``order``'s automation decision; None renders nothing.

    One query (the decision with its warehouse).
    """
    can_view = user.has_perm("fulfillment.view_orderdecision")
    can_reprocess = user.has_perm("orderhub.allocate_order")
    if not (can_view or can_reprocess):
        return None

    decision = (OrderDecision.objects.select_related("warehouse").filter(order_id=order.pk)
                .first() if can_view else None)
    return {
        "decision": decision,
        "can_view": can_view,
        "can_reprocess": can_reprocess and order.status in (*REPROCESS_FROM, OrderStatus.PAID),
    }


@register.simple_tag(takes_context=True)
def fulfillment_order_panel(context, order=None):
    """``{% fulfillment_order_panel as panel %}``: the panel's data, or None."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    return order_panel_data(order=order, user=user)
