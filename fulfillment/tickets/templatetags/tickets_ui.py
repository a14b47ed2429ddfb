"""The tickets card on the order page (``tickets/order_panel.html``): one query."""

from __future__ import annotations

from django import template

from fulfillment.tickets.models import Ticket

register = template.Library()


@register.filter
def ticket_badge(status: str) -> str:
    return {"open": "badge-warn", "in_progress": "badge-progress", "waiting": "badge-info",
            "resolved": "badge-ok", "closed": "badge-muted"}.get(status, "badge-muted")


@register.simple_tag(takes_context=True)
def tickets_order_panel(context, order=None):
    """``{% tickets_order_panel as panel %}``: the order's tickets, or None to render nothing."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    if not user.has_perm("tickets.view_ticket"):
        return None
    tickets = list(Ticket.objects.filter(order=order).select_related("assignee")
                   .order_by("-created_at", "-id")[:20])
    return {"tickets": tickets, "can_add": user.has_perm("tickets.add_ticket")}
