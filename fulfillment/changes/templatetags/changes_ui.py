"""Template helpers for change requests: the diff's rows and the order page panel.

The order page includes ``changes/order_panel.html`` by name (the order core
never imports this app); the panel asks ``changes_order_panel`` for its data.
"""

from __future__ import annotations

from django import template
from django.utils.translation import gettext, gettext_noop

from fulfillment.changes.models import ChangeRequest
from fulfillment.changes.selectors import decided_for_me_count, waiting_for_me_count
from orderhub.models import Order
from orderhub.privacy import field_shown

register = template.Library()

# The default chain's step names (data in the database) translate when shown.
STEP_NAMES = [gettext_noop("Sales manager"), gettext_noop("Warehouse manager"),
              gettext_noop("Finance")]


@register.filter
def step_label(name: str) -> str:
    return gettext(name) if name else ""


def _display(name: str, value):
    if value in (None, ""):
        return ""
    if name == "priority":
        try:
            return Order.Priority(int(value)).label
        except ValueError:
            return value
    return value


@register.filter
def field_rows(rows, full_contact=False) -> list[tuple]:
    """Diff ``[{"field", "old", "new"}]`` as (label, old shown, new shown).

    ``full_contact``: the viewer may see the buyer's contact data (``orderhub.privacy``);
    otherwise the name, phone and street show masked (approvers decide on the change,
    they do not contact the buyer)."""
    out = []
    for row in rows or []:
        name = row.get("field", "")
        try:
            label = Order._meta.get_field(name).verbose_name
        except Exception:  # noqa: BLE001 - an unknown name is shown as it is
            label = name
        old, new = (field_shown(name, _display(name, row.get(key)), full=bool(full_contact))
                    for key in ("old", "new"))
        out.append((label, old, new))
    return out


def order_panel_data(*, order, user) -> dict | None:
    """What ``user`` may see of ``order``'s change requests, or None when nothing.

    One query, whatever the number of requests.
    """
    if not user.has_perm("changes.view_changerequest"):
        return None
    changes = list(ChangeRequest.objects.filter(order=order).select_related("requested_by")
                   .order_by("-created_at", "-id")[:10])
    return {
        "changes": changes,
        "open": next((c for c in changes if c.is_open), None),
        "can_request": user.has_perm("changes.add_changerequest"),
        "can_file": order.status not in ("shipped", "delivered", "completed", "cancelled"),
    }


@register.simple_tag(takes_context=True)
def changes_order_panel(context, order=None):
    """``{% changes_order_panel as panel %}``: the panel's data, or None to render nothing."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    return order_panel_data(order=order, user=user)


@register.simple_tag(takes_context=True)
def changes_waiting_count(context):
    """``{% changes_waiting_count as n %}``: requests waiting for this user (menu badge).

    0 for users who approve nothing; None when it cannot be told (cache down).
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return waiting_for_me_count(user)


@register.simple_tag(takes_context=True)
def changes_decided_count(context):
    """``{% changes_decided_count as n %}``: this user's requests decided lately (menu badge)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return decided_for_me_count(user)
