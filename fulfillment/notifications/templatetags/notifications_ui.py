"""Template helpers for messages: masked recipients and the order page panel.

The order page includes ``notifications/order_panel.html`` by name; the panel
asks ``notifications_order_panel`` for its data (one query, nothing without
the permission).
"""

from __future__ import annotations

import re

from django import template

from fulfillment.notifications.models import Message
from orderhub.templatetags.orderhub_ui import mask_phone

register = template.Library()

_PHONE = re.compile(r"^\+?[\d\s-]{5,}$")


def mask_one(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if "@" in value:
        local, _at, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if _PHONE.match(value):
        return mask_phone(value.replace(" ", "").replace("-", ""))
    return value


@register.simple_tag
def recipient(message, can_full=False) -> str:
    """The message's recipient: in full for roles that need it, masked for everyone else."""
    text = message.recipient or ""
    if not text:
        return message.gateway.name if message.gateway_id else ""
    if can_full:
        return text
    return ", ".join(mask_one(part) for part in text.split(","))


@register.filter
def status_badge(status: str) -> str:
    return {"sent": "badge-ok", "failed": "badge-danger", "retrying": "badge-warn",
            "sending": "badge-progress", "queued": "badge-info"}.get(status, "badge-muted")


@register.simple_tag(takes_context=True)
def notifications_order_panel(context, order=None):
    """``{% notifications_order_panel as panel %}``: the order's messages, or None."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    if not user.has_perm("notifications.view_message"):
        return None
    rows = list(Message.objects.filter(order=order).select_related("gateway")
                .order_by("-created_at", "-id")[:20])
    return {"messages": rows, "can_full": user.has_perm("notifications.view_full_recipient")}
