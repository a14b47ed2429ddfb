"""Manual order entry: ``/orders/new/`` and its two HTMX helpers (customer, SKU search).

The order is written only by the order services: ``order_create`` and, when the
payment was received offline, ``order_transition("pay")`` — whose paid signal
queues automation like any other order's. Nothing is written on a bad form.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from orderhub.forms_new_order import (
    MARK_PAID_PERM,
    LineFormSet,
    NewOrderForm,
    may_override_price,
    sku_price,
    sku_search,
)
from orderhub.guard import staff_view
from orderhub.models import Customer, Order, normalize_phone
from orderhub.services.orders import OrderServiceError, order_create, order_transition

# Ops and managers enter orders (``change_order``); ``add_order`` lets an admin
# role without it do so too. Pickers and finance have neither.
ENTER_PERMS = ("orderhub.add_order", "orderhub.change_order")
BUYER_FIELDS = ("buyer_name", "buyer_email", "ship_name", "ship_phone", "ship_province",
                "ship_city", "ship_district", "ship_street", "ship_postcode")


def _render(request, form, lines, status=200):
    return render(request, "orders/new.html", {
        "form": form, "lines": lines, "may_override_price": may_override_price(request.user),
        "may_mark_paid": request.user.has_perm(MARK_PAID_PERM),
    }, status=status)


@staff_view(*ENTER_PERMS)
def new_order(request):
    if request.method != "POST":
        return _render(request, NewOrderForm(user=request.user),
                       LineFormSet(prefix="lines", form_kwargs={"user": request.user}))
    form = NewOrderForm(request.POST, user=request.user)
    lines = LineFormSet(request.POST, prefix="lines", form_kwargs={"user": request.user})
    if not (form.is_valid() and lines.is_valid()):
        return _render(request, form, lines, status=400)
    fields = form.create_fields()
    fields["customer"] = Customer.objects.filter(phone=fields["buyer_phone"]).first()
    try:
        # One transaction: an order that should have been paid is not left unpaid.
        with transaction.atomic():
            order = order_create(channel=form.cleaned_data["channel"], actor=request.user,
                                 lines=lines.lines, **fields)
            if form.cleaned_data["paid"]:
                order = order_transition(order=order, name="pay", actor=request.user,
                                         reason=_("Paid offline (manual order)"))
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return _render(request, form, lines, status=400)
    except OrderServiceError as exc:
        form.add_error(None, str(exc))
        return _render(request, form, lines, status=400)
    messages.success(request, _("Order %(number)s created.") % {"number": order.number})
    return redirect("orders:detail", order.pk)


def _customer_initial(phone: str, typed: dict) -> tuple[dict, object]:
    """The buyer fieldset's values: what was typed, overwritten by what the customer
    with this phone (name, e-mail) and their last order (recipient, address) say."""
    initial = {**typed, "buyer_phone": phone}
    if not phone:
        return initial, None
    customer = Customer.objects.filter(phone=phone).first()
    last = Order.objects.filter(buyer_phone=phone).order_by("-placed_at", "-pk").first()
    if last is not None:
        initial.update({name: getattr(last, name) for name in BUYER_FIELDS})
    if customer is not None:
        initial["buyer_name"] = customer.name
        initial["buyer_email"] = customer.email or initial.get("buyer_email", "")
        if last is None:
            initial.update(ship_name=customer.name, ship_phone=phone)
    return initial, customer or last


@staff_view(*ENTER_PERMS)
@require_GET
def customer_lookup(request):
    """The buyer fieldset, filled from the customer (or last order) with the typed phone.

    Fields the person already typed are kept unless the lookup found a value for them.
    """
    raw = request.GET.get("buyer_phone", "")
    typed = {name: request.GET.get(name, "") for name in (*BUYER_FIELDS, "buyer_message")}
    try:
        phone = normalize_phone(raw)
    except ValidationError as exc:
        return render(request, "orders/new_buyer.html", {
            "form": NewOrderForm(initial={**typed, "buyer_phone": raw}, user=request.user),
            "lookup_error": exc.messages[0]})
    initial, found = _customer_initial(phone, typed)
    return render(request, "orders/new_buyer.html", {
        "form": NewOrderForm(initial=initial, user=request.user),
        "lookup_done": bool(phone), "found": found,
    })


@staff_view(*ENTER_PERMS)
@require_GET
def sku_search_view(request):
    """SKU search results (code, name or barcode) to pick into a line."""
    query = request.GET.get("q", "")
    results = [{"sku": sku, "price": sku_price(sku)} for sku in sku_search(query)]
    return render(request, "orders/new_skus.html", {"results": results, "q": query.strip()})
