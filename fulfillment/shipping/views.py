"""Shipping pages: waybills, labels, manual tracking numbers, the Kuaidi100 push and /track/."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh
from django_ratelimit.core import is_ratelimited

from channels.models import Channel
from channels.recipient import NeedsPlatformDecryption
from fulfillment.shipping import services
from fulfillment.shipping.carriers import CarrierError
from fulfillment.shipping.carriers.kuaidi100 import LABEL_TYPES as LABEL_EXTENSIONS
from fulfillment.shipping.carriers.kuaidi100 import label_error_hint
from fulfillment.shipping.labels import label_content, wave_labels
from fulfillment.shipping.models import Waybill
from fulfillment.shipping.public import tracking_view_data
from orderhub.guard import staff_view
from orderhub.models import Order
from orderhub.services.orders import OrderServiceError
from warehouse.models import PickList, Warehouse

LABEL_CONTENT_TYPES = {ext: ctype for ctype, ext in LABEL_EXTENSIONS.items()}
FAILURES = "failures"
# Exactly the dashboard's "stalled parcels" card: both use ``Waybill.objects.stalled()``.
# The "problems" tab also lists booking failures, so the card cannot link there.
STALLED = "stalled"


class WaybillScopeForm(forms.Form):
    """The dashboard's scope filters, given by code like the order list (``?channel=tmall``)."""

    channel = forms.ModelChoiceField(label=gettext_lazy("Channel"), required=False,
                                     queryset=None, to_field_name="code",
                                     empty_label=gettext_lazy("All channels"))
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False, choices=[])
    warehouse = forms.ModelChoiceField(label=gettext_lazy("Warehouse"), required=False,
                                       queryset=None, to_field_name="code",
                                       empty_label=gettext_lazy("All warehouses"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("name")
        self.fields["warehouse"].queryset = Warehouse.objects.order_by("name")
        self.fields["platform"].choices = [("", gettext_lazy("Any platform")),
                                           *Channel.Platform.choices]

    def scope_q(self) -> Q:
        """The valid filters as a waybill condition (through the order); invalid ones are
        left out and reported by the page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        q = Q()
        if data.get("channel") is not None:
            q &= Q(order__channel=data["channel"])
        if data.get("platform"):
            q &= Q(order__channel__platform=data["platform"])
        if data.get("warehouse") is not None:
            q &= Q(order__warehouse=data["warehouse"])
        return q


def _filtered(request, scope: WaybillScopeForm | None = None):
    qs = Waybill.objects.select_related("order", "account").order_by("-created_at", "-id")
    if scope is not None:
        qs = qs.filter(scope.scope_q())
    status = request.GET.get("status", "")
    if status == FAILURES:
        qs = qs.filter(Q(status__in=[Waybill.Status.FAILED, Waybill.Status.CANCEL_FAILED])
                       | Q(status=Waybill.Status.PENDING, attempts__gt=0)) | qs.stalled()
    elif status == STALLED:
        qs = qs.stalled()
    elif status in Waybill.Status.values:
        qs = qs.filter(status=status)
    else:
        status = ""
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(Q(tracking_number__icontains=query) | Q(order__number__icontains=query)
                       | Q(order__external_id__icontains=query))
    return qs, status, query


@staff_view("shipping.view_waybill")
def waybills(request):
    scope = WaybillScopeForm(request.GET)
    qs, status, query = _filtered(request, scope)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    page.object_list = services.with_service_names(list(page.object_list))
    counts = dict(Waybill.objects.values_list("status").annotate(n=Count("id"))
                  .values_list("status", "n"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "page": page, "status": status, "q": query, "statuses": Waybill.Status.choices,
        "counts": counts, "failures": FAILURES, "stalled": STALLED, "scope": scope,
        "querystring": params.urlencode(),
        "can_retry": request.user.has_perm("shipping.retry_waybill"),
        "can_label": request.user.has_perm("shipping.download_label"),
    }
    # A filter we could not read is reported, and the page says so with its status.
    return render(request, "shipping/waybills.html", context,
                  status=400 if scope.errors else 200)


@staff_view("shipping.retry_waybill")
@require_POST
def retry(request, waybill_id: int):
    waybill = get_object_or_404(Waybill, pk=waybill_id)
    try:
        services.waybill_retry(waybill=waybill, actor=request.user)
    except services.ShippingError as exc:
        message, ok = exc.message, False
    else:
        message, ok = _("Booking queued again."), True
    if request.htmx:
        waybill = Waybill.objects.select_related("order", "account").get(pk=waybill_id)
        return render(request, "shipping/_waybill_row.html", {
            "w": waybill, "message": message, "ok": ok, "can_retry": True,
            "can_label": request.user.has_perm("shipping.download_label")},
            status=200 if ok else 409)
    (messages.success if ok else messages.error)(request, message)
    return redirect(request.POST.get("next") or "shipping:waybills")


@staff_view("shipping.download_label")
def label(request, waybill_id: int):
    """The waybill's label; when it cannot be had, a page saying why and what to do."""
    waybill = get_object_or_404(Waybill.objects.select_related("order", "account"),
                                pk=waybill_id)
    if not waybill.tracking_number or waybill.account is None:
        return _label_problem(request, waybill, _("This waybill has no label yet."),
                              _("A label exists once the carrier has booked the waybill. "
                                "Check the waybill's status and retry it if it failed."),
                              status=404)
    if waybill.label:
        extension = waybill.label.name.rsplit(".", 1)[-1].lower()
        content_type = LABEL_CONTENT_TYPES.get(extension, "application/pdf")
        return FileResponse(waybill.label.open("rb"), content_type=content_type,
                            filename=f"label-{waybill.tracking_number}.{extension}")
    try:
        content, content_type = label_content(waybill)
    except NeedsPlatformDecryption as exc:
        return _label_problem(request, waybill, str(exc),
                              _("Set up decryption for the order's channel (or print the label "
                                "from the platform's own shipping console), then open the "
                                "label again."))
    except CarrierError as exc:
        code = getattr(exc, "code", "") or ""
        return _label_problem(
            request, waybill,
            _("%(carrier)s could not provide the label for %(number)s.") % {
                "carrier": waybill.account.display_name, "number": waybill.tracking_number},
            label_error_hint(code), detail=exc.message)
    extension = LABEL_EXTENSIONS.get(content_type, "pdf")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = (
        f'inline; filename="label-{waybill.tracking_number}.{extension}"')
    return response


# A wave's labels go with its pick list: whoever prints the list prints its labels too.
@staff_view("shipping.download_label",
            check=lambda user: user.has_perm("warehouse.print_picklist"))
def wave_labels_pdf(request, pick_list_id: int):
    """One PDF of a pick list's labels in pick order; skipped orders on its cover page."""
    pick_list = get_object_or_404(PickList, pk=pick_list_id)
    result = wave_labels(pick_list)
    if result.pdf is None:
        return render(request, "shipping/wave_labels_none.html", {"result": result},
                      status=409)
    response = HttpResponse(result.pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="labels-{pick_list.number}.pdf"'
    # For scripts: how many orders are on the cover page instead of a label.
    response["X-Labels-Skipped"] = str(len(result.skipped))
    return response


def _label_problem(request, waybill: Waybill, reason: str, hint: str, *, detail: str = "",
                   status: int = 409):
    """A label that cannot be had: a page in the reader's language for people; the
    status code (409/404) only for HTMX and API callers, which act on it."""
    context = {"waybill": waybill, "reason": reason, "hint": hint, "detail": detail}
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"error": str(reason), "hint": str(hint), "detail": detail},
                            status=status)
    if request.htmx:
        return render(request, "shipping/_label_problem.html", context, status=status)
    return render(request, "shipping/label_problem.html", context)


@staff_view("orderhub.ship_order")
@require_POST
def enter_tracking(request, order_id: int):
    order = get_object_or_404(Order, pk=order_id)
    try:
        services.waybill_enter_tracking(order=order, actor=request.user,
                                        tracking_number=request.POST.get("tracking_number", ""))
    except OrderServiceError as exc:
        if request.htmx:
            return HttpResponse(f'<p class="alert alert-error" role="alert">{_escape(exc.message)}'
                                "</p>", status=exc.status)
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Tracking number saved; the order is shipped."))
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect("orders:detail", order.pk)


def _escape(text: str) -> str:
    return escape(text)


@csrf_exempt
@require_POST
def kuaidi100_callback(request, account_code: str):
    """Kuaidi100 tracking push: the signature is checked before the content is read."""
    try:
        new = services.tracking_callback(account_code=account_code, form=request.POST)
    except services.CallbackRefused as exc:
        return JsonResponse({"result": False, "returnCode": str(exc.status),
                             "message": str(exc)}, status=exc.status)
    return JsonResponse({"result": True, "returnCode": "200", "message": "成功",
                         "new": new})


def track_rate() -> str:
    return getattr(settings, "TRACK_RATE_LIMIT", "10/m")


@never_cache
def track(request):
    """Public tracking page (no login). Only POSTed look-ups count against the rate limit.

    "No such order" and "wrong phone" render the same page byte for byte.
    """
    # What the buyer typed is not echoed: the page must not differ between a
    # wrong number and a wrong phone.
    context = {"result": None, "not_found": False}
    status = 200
    if request.method == "POST":
        if is_ratelimited(request, group="shipping.track", key="ip", rate=track_rate(),
                          method="POST", increment=True):
            context["limited"] = True
            status = 429
        else:
            order = services.public_lookup(number=request.POST.get("number", ""),
                                           phone_last4=request.POST.get("phone", ""))
            if order is None:
                context["not_found"] = True
            else:
                context["result"] = tracking_view_data(order)
    return render(request, "shipping/track.html", context, status=status)
