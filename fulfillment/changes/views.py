"""Change request pages: the list, one request (diff + decisions), filing, deciding.

Views parse input, call one service or selector and render. HTMX requests get
the fragment they swap; normal requests get the full page from the same
fragment (POSTs redirect), so every URL works without JavaScript.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from fulfillment.changes import selectors
from fulfillment.changes.forms import (
    ChangeFilterForm,
    ChangeRequestForm,
    DecisionForm,
    LineFormSet,
    WithdrawForm,
)
from fulfillment.changes.models import ChangeRequest
from fulfillment.changes.services import (
    FIELDS,
    ChangeRequestError,
    can_decide,
    change_request_create,
    change_request_decide,
    change_request_withdraw,
    order_snapshot,
)
from orderhub import selectors as order_selectors
from orderhub.guard import staff_view
from orderhub.services.orders import OrderServiceError

PER_PAGE = 50


def _alert(request, message: str, status: int):
    """A refused action: the alert fragment for HTMX, else the error page."""
    if request.htmx:
        response = render(request, "orders/_error.html",
                          {"message": message, "reload_url": request.path}, status=status)
        response["HX-Retarget"] = "#action-alert"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "error.html", {"message": message, "status": status}, status=status)


# --- list ---------------------------------------------------------------------------------


@require_GET
@staff_view("changes.view_changerequest", on_refuse=_alert)
def change_list(request):
    form = ChangeFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    mine = bool(data.get("mine"))
    rows = selectors.change_list(status=data.get("status", ""), q=data.get("q", ""),
                                 mine_for=request.user if mine else None,
                                 filed_by=request.user if data.get("filed") else None)
    page = Paginator(rows, PER_PAGE).get_page(data.get("page") or 1)
    context = {"form": form, "page": page, "changes": page.object_list, "mine": mine,
               "can_approve": request.user.has_perm("changes.approve_changerequest")}
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, "changes/_list.html" if partial else "changes/list.html",
                      context, status=200 if form.is_valid() else 400)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- detail and decisions --------------------------------------------------------------------


def _detail_context(request, change: ChangeRequest) -> dict:
    allowed, why = can_decide(change, request.user)
    return {
        "change": change,
        "order": change.order,
        "decisions": list(change.decisions.all()),
        "can_decide": allowed,
        "cannot_decide_reason": why,
        "can_withdraw": change.is_open and (
            change.requested_by_id == request.user.pk
            or request.user.has_perm("changes.change_changerequest")),
        "can_view_order": request.user.has_perm("orderhub.view_order"),
        "decision_form": DecisionForm(initial={"expected_step": change.current_step}),
    }


def _get_change(change_id: int) -> ChangeRequest:
    change = selectors.change_detail(change_id)
    if change is None:
        raise Http404(_("There is no change request %(id)s.") % {"id": change_id})
    return change


@require_GET
@staff_view("changes.view_changerequest", on_refuse=_alert)
def change_detail(request, change_id: int):
    change = _get_change(change_id)
    template = "changes/_detail.html" if request.htmx else "changes/detail.html"
    response = render(request, template, _detail_context(request, change))
    patch_vary_headers(response, ["HX-Request"])
    return response


def _after_action(request, change_id: int):
    if not request.htmx:
        return redirect("changes:detail", change_id=change_id)
    change = _get_change(change_id)
    html = render_to_string("changes/_detail.html", _detail_context(request, change), request)
    html += render_to_string("_toasts.html", {"oob": True}, request)
    return HttpResponse(html)


@require_POST
@staff_view("changes.approve_changerequest", on_refuse=_alert)
def change_decide(request, change_id: int):
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _alert(request, _("The decision could not be read. Reload the page and try "
                                 "again."), 400)
    try:
        change = change_request_decide(
            change=change_id, actor=request.user, decision=form.cleaned_data["decision"],
            comment=form.cleaned_data["comment"],
            expected_step=form.cleaned_data["expected_step"],
        )
    except OrderServiceError as exc:
        return _alert(request, exc.message, exc.status)
    if change.status == ChangeRequest.Status.APPROVED and change.apply_error:
        messages.error(request, _("Approved, but not applied: %(error)s")
                       % {"error": change.apply_error})
    elif change.status == ChangeRequest.Status.APPLIED:
        messages.success(request, _("Approved and applied."))
    elif change.status == ChangeRequest.Status.REJECTED:
        messages.success(request, _("Rejected; the order's hold was released."))
    else:
        messages.success(request, _("Approved; the next step is “%(step)s”.")
                         % {"step": _(change.step["name"]) if change.step else ""})
    return _after_action(request, change_id)


@require_POST
@staff_view("changes.view_changerequest", on_refuse=_alert)
def change_withdraw(request, change_id: int):
    form = WithdrawForm(request.POST)
    form.is_valid()
    try:
        change_request_withdraw(change=change_id, actor=request.user,
                                comment=form.cleaned_data.get("comment", ""))
    except OrderServiceError as exc:
        return _alert(request, exc.message, exc.status)
    messages.success(request, _("Withdrawn."))
    return _after_action(request, change_id)


# --- filing ------------------------------------------------------------------------------------


def _initial(order) -> tuple[dict, list[dict]]:
    snap = order_snapshot(order)
    initial = dict(snap["fields"], expected_status=order.status, kind="change")
    lines = [{"sku_code": line["sku_code"], "quantity": line["quantity"],
              "unit_price": line["unit_price"], "is_gift": line["is_gift"]}
             for line in snap["lines"]]
    return initial, lines


def _proposal(form, formset) -> dict:
    lines = [
        {"sku_code": f.cleaned_data["sku_code"], "quantity": f.cleaned_data["quantity"],
         "unit_price": f.cleaned_data.get("unit_price") or 0,
         "is_gift": f.cleaned_data.get("is_gift", False)}
        for f in formset.forms
        if f.cleaned_data.get("sku_code") and not f.cleaned_data.get("DELETE")
    ]
    return {"fields": {name: form.cleaned_data[name] for name in FIELDS},
            "lines": lines, "note": form.cleaned_data["note"]}


@require_http_methods(["GET", "POST"])
@staff_view("changes.add_changerequest", on_refuse=_alert)
def change_new(request, order_id: int):
    order = order_selectors.order_detail(order_id)
    if order is None:
        raise Http404(_("There is no order %(id)s.") % {"id": order_id})
    initial, line_initial = _initial(order)
    error, status = "", 200
    if request.method == "POST":
        form = ChangeRequestForm(request.POST, initial=initial)
        formset = LineFormSet(request.POST, initial=line_initial, prefix="line")
        if form.is_valid() and formset.is_valid():
            try:
                change = change_request_create(
                    order=order.pk, actor=request.user, kind=form.cleaned_data["kind"],
                    proposed=_proposal(form, formset), reason=form.cleaned_data["reason"],
                    expected_status=form.cleaned_data["expected_status"],
                )
            except (OrderServiceError, ChangeRequestError) as exc:
                error, status = exc.message, exc.status
            else:
                if change.status == ChangeRequest.Status.APPLIED:
                    messages.success(request, _("Change applied."))
                else:
                    messages.success(request, _("Request filed; the order is on hold until "
                                                "it is decided."))
                url = reverse("changes:detail", args=[change.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        else:
            error, status = _("Please correct the errors below."), 400
    else:
        form = ChangeRequestForm(initial=initial)
        formset = LineFormSet(initial=line_initial, prefix="line")
    open_change = order.change_requests.filter(status__in=ChangeRequest.OPEN).first()
    context = {"order": order, "form": form, "formset": formset, "error": error,
               "open_change": open_change}
    return render(request, "changes/new.html", context, status=status)
