"""Pages: the review queue (approve / reject one or many, HTMX rows) and the re-process button."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from fulfillment.services import review as review_service
from fulfillment.services.automation import order_reprocess
from orderhub.guard import staff_view
from orderhub.models import Order
from orderhub.services.orders import OrderServiceError

QUEUE_LIMIT = 200
# One bulk action covers at most the queue's page (plus slack for rows the poll added).
BULK_LIMIT = 500


def _refuse(request, message: str, status: int):
    response = render(request, "fulfillment/_error.html", {"message": message}, status=status)
    if request.htmx:
        # Show the refusal above the table instead of swapping it in for the row.
        response["HX-Retarget"] = "#review-alert"
        response["HX-Reswap"] = "innerHTML"
    return response


def _row(order: Order, user) -> dict:
    decision = getattr(order, "decision", None)
    reasons = decision.review_reasons if decision else []
    approved = set(decision.approved_checks) if decision else set()
    codes = [r.get("code") for r in reasons] or [review_service.MANUAL]
    mine = [c for c in codes if review_service.may_review(user, c)]
    return {
        "order": order,
        "reasons": [{**r, "approved": r.get("code") in approved} for r in reasons],
        "manual_reason": _last_reason(order) if not reasons else "",
        "can_approve": any(c not in approved for c in mine),
        "can_reject": bool(mine),
        "credit": review_service.CREDIT in codes,
    }


def _last_reason(order: Order) -> str:
    # From the prefetched logs: .last() would cost a query per row.
    logs = list(order.transition_logs.all())
    return logs[-1].reason if logs else ""


@require_GET
@staff_view(check=review_service.can_open_queue, on_refuse=_refuse)
def review_queue(request):
    orders = list(review_service.review_queue(request.user)
                  .prefetch_related("transition_logs")[:QUEUE_LIMIT])
    rows = [_row(o, request.user) for o in orders]
    template = "fulfillment/_review_rows.html" if request.htmx else "fulfillment/review_queue.html"
    return render(request, template, {"rows": rows, "limit": QUEUE_LIMIT})


def _after_review(request, order_id: int, notice: str, *, done: bool):
    if not request.htmx:
        messages.success(request, notice)
        return redirect("fulfillment:review-queue")
    order = (Order.objects.select_related("channel", "customer", "decision")
             .prefetch_related("transition_logs").get(pk=order_id))
    row = _row(order, request.user)
    return render(request, "fulfillment/_review_row.html",
                  {"row": row, "notice": notice, "done": done})


def _service_error(request, exc: OrderServiceError):
    if not request.htmx:
        messages.error(request, exc.message)
        return redirect("fulfillment:review-queue")
    return _refuse(request, exc.message, exc.status)


@require_POST
@staff_view(check=review_service.can_open_queue, on_refuse=_refuse)
def review_approve(request, order_id: int):
    try:
        result = review_service.review_approve(
            order_id=order_id, user=request.user, comment=request.POST.get("comment", ""),
            expected_status=request.POST.get("expected_status") or None)
    except OrderServiceError as exc:
        return _service_error(request, exc)
    if result.done:
        notice = _("Approved: automation takes the order on.")
    else:
        notice = _("Your part is approved; still waiting for: %(codes)s") % {
            "codes": ", ".join(result.waiting)}
    return _after_review(request, order_id, notice, done=result.done)


@require_POST
@staff_view(check=review_service.can_open_queue, on_refuse=_refuse)
def review_reject(request, order_id: int):
    try:
        review_service.review_reject(
            order_id=order_id, user=request.user, reason=request.POST.get("reason", ""),
            expected_status=request.POST.get("expected_status") or None)
    except OrderServiceError as exc:
        return _service_error(request, exc)
    return _after_review(request, order_id, _("Rejected: the order is cancelled."), done=True)


def _bulk_ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        value = value.strip()
        if not value.isdigit():
            raise ValueError(value)
        if int(value) not in ids:
            ids.append(int(value))
    return ids


@require_POST
@staff_view(check=review_service.can_open_queue, on_refuse=_refuse)
def review_bulk(request):
    """Approve or reject the ticked orders with one comment / reason for all.

    Each order goes through the same review service as its own row's buttons, in
    its own transaction: an order refused (someone else acted on it, a credit hold
    this user may not decide, ...) is reported on its line and the others go on.
    """
    action = request.POST.get("action", "")
    text = request.POST.get("reason", "").strip()
    try:
        ids = _bulk_ids(request.POST.getlist("order"))
    except ValueError:
        return _bulk_page(request, error=_("The selection is not valid; reload the page."),
                          status=400)
    if action not in ("approve", "reject"):
        return _bulk_page(request, error=_("Choose approve or reject."), status=400)
    if not ids:
        return _bulk_page(request, error=_("Tick at least one order."), status=400)
    if len(ids) > BULK_LIMIT:
        return _bulk_page(request, error=_("Choose at most %(n)s orders at once.") % {
            "n": BULK_LIMIT}, status=400)
    if action == "reject" and not text:
        # Asked before touching any order, not refused 150 times over.
        return _bulk_page(request, error=_("Please give a reason."), status=400)
    numbers = dict(Order.objects.filter(pk__in=ids).values_list("pk", "number"))
    results = []
    for order_id in ids:
        row = {"id": order_id, "number": numbers.get(order_id, f"#{order_id}"), "ok": False}
        try:
            if action == "approve":
                result = review_service.review_approve(order_id=order_id, user=request.user,
                                                       comment=text)
                row["ok"] = True
                row["message"] = (_("Approved: automation takes the order on.") if result.done
                                  else _("Your part is approved; still waiting for: %(codes)s")
                                  % {"codes": ", ".join(result.waiting)})
            else:
                review_service.review_reject(order_id=order_id, user=request.user, reason=text)
                row["ok"] = True
                row["message"] = _("Rejected: the order is cancelled.")
        except OrderServiceError as exc:
            row["message"] = exc.message
        results.append(row)
    return _bulk_page(request, results=results, action=action)


def _bulk_page(request, *, results=(), action="", error="", status=200):
    orders = list(review_service.review_queue(request.user)
                  .prefetch_related("transition_logs")[:QUEUE_LIMIT])
    done = sum(1 for r in results if r["ok"])
    return render(request, "fulfillment/review_queue.html", {
        "rows": [_row(o, request.user) for o in orders], "limit": QUEUE_LIMIT,
        "bulk_results": results, "bulk_action": action, "bulk_error": error,
        "bulk_done": done, "bulk_refused": len(results) - done,
    }, status=status)


@require_POST
@staff_view("orderhub.allocate_order", on_refuse=_refuse)
def order_reprocess_view(request, order_id: int):
    detail = reverse("orders:detail", args=[order_id])
    try:
        outcome = order_reprocess(order=order_id, actor=request.user,
                                  reason=request.POST.get("reason", ""),
                                  expected_status=request.POST.get("expected_status") or None)
    except OrderServiceError as exc:
        if request.htmx:
            return _refuse(request, exc.message, exc.status)
        messages.error(request, exc.message)
        return redirect(detail)
    order = Order.objects.get(pk=order_id)
    messages.success(request, _("Automation decided again: %(status)s.") % {
        "status": order.get_status_display()})
    if outcome.result == "error":
        messages.error(request, outcome.error)
    if request.htmx:
        return HttpResponseClientRedirect(detail)
    return redirect(detail)
