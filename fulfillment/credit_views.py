"""The customer's credit page for finance: the ledger, open orders, settle, refund, adjust.

Reached from a credit hold's row in the review queue (and from the customer in
the admin). Views parse input, call one ``credit`` service and render; a
refused input re-renders the page with the message and what was typed (400).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fulfillment.services import credit as credit_service
from orderhub.guard import staff_view
from orderhub.models import Customer
from orderhub.services.orders import OrderServiceError

LEDGER_ROWS = 200


def _customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise Http404(_("There is no customer %(id)s.") % {"id": customer_id})
    return customer


def _page(request, customer: Customer, *, error: str = "", form: str = "", status: int = 200):
    return render(request, "fulfillment/credit_ledger.html", {
        "customer": customer,
        "entries": credit_service.credit_ledger(customer, limit=LEDGER_ROWS),
        "open_orders": credit_service.credit_open_orders(customer),
        "limit": LEDGER_ROWS,
        "error": error,
        "failed_form": form,
        "posted": request.POST if request.method == "POST" else {},
        "headroom": customer.credit_limit - customer.open_balance,
    }, status=status)


@require_GET
@staff_view(credit_service.PERMISSION)
def credit_ledger(request, customer_id: int):
    return _page(request, _customer(customer_id))


def _order_id(request) -> int:
    raw = request.POST.get("order", "").strip()
    if not raw.isdigit():
        raise credit_service.CreditError(_("Choose an order."))
    return int(raw)


def _act(request, customer_id: int, form: str, action):
    customer = _customer(customer_id)
    try:
        notice = action()
    except OrderServiceError as exc:
        return _page(request, customer, error=exc.message, form=form, status=exc.status)
    messages.success(request, notice)
    return redirect("fulfillment:credit-ledger", customer.pk)


@require_POST
@staff_view(credit_service.PERMISSION)
def credit_settle(request, customer_id: int):
    def action():
        entry = credit_service.credit_settle(order_id=_order_id(request), actor=request.user,
                                             note=request.POST.get("note", ""),
                                             customer_id=customer_id)
        return _("Order %(number)s settled: %(amount)s off the balance.") % {
            "number": entry.order.number, "amount": -entry.amount}

    return _act(request, customer_id, "settle", action)


@require_POST
@staff_view(credit_service.PERMISSION)
def credit_refund(request, customer_id: int):
    def action():
        entry = credit_service.credit_refund(
            order_id=_order_id(request), amount=request.POST.get("amount", ""),
            actor=request.user, note=request.POST.get("note", ""), customer_id=customer_id)
        return _("Refund of %(amount)s on order %(number)s recorded.") % {
            "number": entry.order.number, "amount": -entry.amount}

    return _act(request, customer_id, "refund", action)


@require_POST
@staff_view(credit_service.PERMISSION)
def credit_adjust(request, customer_id: int):
    def action():
        entry = credit_service.credit_adjust(
            customer_id=customer_id, amount=request.POST.get("amount", ""),
            actor=request.user, note=request.POST.get("note", ""))
        return _("Adjustment of %(amount)s recorded; the open balance is now %(balance)s.") % {
            "amount": entry.amount, "balance": entry.balance_after}

    return _act(request, customer_id, "adjust", action)
