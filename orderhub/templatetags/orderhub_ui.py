"""Small template helpers for the staff pages: nav links, query strings, badges, masking."""

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from orderhub import privacy

register = template.Library()


@register.simple_tag
def optional_url(name: str) -> str:
    """The URL of ``name``, or "" while the app that serves it is not installed yet."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


# The main navigation: (URL name, label, permission needed to see the link).
# URL names of apps that are not installed are skipped, so the core never
# imports them.
NAV = [
    ("orders:list", _("Orders"), "orderhub.view_order"),
    ("fulfillment:review-queue", _("Review"), "orderhub.review_order"),
    ("changes:list", _("Changes"), "changes.view_changerequest"),
    ("tickets:queue", _("Tickets"), "tickets.view_ticket"),
    ("scan", _("Scan"), "warehouse.scan_pick"),
    ("warehouse-picklist-create", _("Pick lists"), "warehouse.print_picklist"),
    ("warehouse-stock", _("Stock"), "warehouse.view_stocklevel"),
    ("warehouse-dashboard", _("Warehouse"), "warehouse.view_warehouse_dashboard"),
    ("channels:health", _("Channels"), "channels.view_channel"),
    ("shipping:waybills", _("Shipping"), "shipping.view_waybill"),
    ("notifications:log", _("Messages"), "notifications.view_message"),
    ("dashboard", _("Dashboard"), "reporting.view_dashboard"),
    ("reporting-reconciliation", _("Reconciliation"), "reporting.reconcile"),
]


@register.simple_tag(takes_context=True)
def nav_links(context) -> list[dict]:
    """The navigation links this user may follow, with the current one marked."""
    request = context["request"]
    links = []
    for name, label, perm in NAV:
        url = optional_url(name)
        if url and request.user.has_perm(perm):
            links.append({"url": url, "label": label,
                          "active": request.path.startswith(url)})
    return links


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with ``changes`` applied; a value of None drops the key.

    Changing any filter or the sort goes back to page 1, so ``page`` is dropped
    unless it is the thing being set.
    """
    params = context["request"].GET.copy()
    if "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    encoded = urlencode(sorted(params.lists()), doseq=True)
    return f"?{encoded}" if encoded else "?"


@register.filter
def mask_phone(phone: str) -> str:
    """``+8613800138000`` -> ``138****8000``: enough to tell buyers apart, not to call them."""
    return privacy.mask_phone(phone)


@register.simple_tag(takes_context=True)
def contact(context, value, kind: str) -> str:
    """``{% contact order.buyer_phone "phone" %}``: in full for roles that contact buyers,
    masked for every other role (``orderhub.privacy``). Kinds: name, phone, email, street."""
    request = context.get("request")
    return privacy.contact_shown(value, kind,
                                 full=privacy.sees_buyer_contact(getattr(request, "user", None)))


@register.filter
def status_class(status: str) -> str:
    groups = {
        "pending_payment": "muted",
        "paid": "info",
        "review": "warn",
        "out_of_stock": "danger",
        "ready_to_pick": "info",
        "picking": "progress",
        "picked": "progress",
        "shipped": "ok",
        "delivered": "ok",
        "completed": "done",
        "cancelled": "muted",
        "on_hold": "warn",
    }
    return groups.get(status, "muted")


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
