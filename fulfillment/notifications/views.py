"""The message log page (filter, look at attempts, resend)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from fulfillment.notifications import services
from fulfillment.notifications.models import Event, Message
from orderhub.guard import staff_view

PER_PAGE = 50


def _filters(request) -> dict:
    get = request.GET
    return {
        "status": get.get("status", "") if get.get("status", "") in Message.Status.values else "",
        "kind": get.get("kind", "") if get.get("kind", "") in Message.Kind.values else "",
        "event": get.get("event", "") if get.get("event", "") in Event.values else "",
        "order": get.get("order", "").strip(),
    }


def _context(request, **extra) -> dict:
    user = request.user
    return {"can_full": user.has_perm("notifications.view_full_recipient"),
            "can_resend": user.has_perm("notifications.resend_message"),
            "can_attempts": user.has_perm("notifications.view_messageattempt"), **extra}


@staff_view("notifications.view_message")
def message_log(request):
    filters = _filters(request)
    qs = Message.objects.select_related("gateway", "order").order_by("-created_at", "-id")
    for field in ("status", "kind", "event"):
        if filters[field]:
            qs = qs.filter(**{field: filters[field]})
    if filters["order"]:
        qs = qs.filter(order__number=filters["order"])
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    context = _context(request, page=page, filters=filters,
                       statuses=Message.Status.choices, kinds=Message.Kind.choices,
                       events=Event.choices)
    template = "notifications/_log.html" if request.htmx else "notifications/log.html"
    return render(request, template, context)


@staff_view("notifications.view_message")
def message_detail(request, message_id: int):
    message = get_object_or_404(Message.objects.select_related("gateway", "order"),
                                pk=message_id)
    context = _context(request, message=message,
                       attempts=message.attempt_rows.all() if request.user.has_perm(
                           "notifications.view_messageattempt") else [])
    return render(request, "notifications/detail.html", context)


@staff_view("notifications.resend_message")
@require_POST
def message_resend(request, message_id: int):
    message = get_object_or_404(Message, pk=message_id)
    try:
        result = services.message_resend(message=message, actor=request.user)
    except services.NotificationError as exc:
        if request.htmx:
            row = Message.objects.select_related("gateway", "order").get(pk=message_id)
            return render(request, "notifications/_row.html",
                          _context(request, m=row, error=exc.message), status=exc.status)
        flash.error(request, exc.message)
        return redirect("notifications:log")
    if request.htmx:
        row = Message.objects.select_related("gateway", "order").get(pk=result.pk)
        return render(request, "notifications/_row.html",
                      _context(request, m=row, notice=_("Queued for sending.")))
    flash.success(request, _("Queued for sending."))
    return redirect("notifications:log")
