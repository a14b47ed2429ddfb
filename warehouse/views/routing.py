"""The presale deferred queue and transfer requests (issue 16 item 6).

Views parse input, call one service, and redirect with a message; the
services check permissions again (a POST can be sent without the page).
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from orderhub.guard import staff_view
from warehouse.models import PresaleDeferral, TransferRequest, Warehouse
from warehouse.services.presale import PresaleError, presale_set_date
from warehouse.services.transfers import (
    TransferError,
    transfer_confirm,
    transfer_receive,
    transfer_reject,
)

PRESALE_TABS = (("waiting", "Waiting"), ("released", "Released"))


@staff_view("warehouse.view_presaledeferral")
def presale_list(request):
    """Presale orders in the deferred queue (or released), soonest release first."""
    tab = request.GET.get("tab", "waiting")
    rows = PresaleDeferral.objects.select_related("order", "order__warehouse")
    if tab == "released":
        rows = rows.filter(released_at__isnull=False).order_by("-released_at", "-pk")
    else:
        tab = "waiting"
        rows = rows.filter(released_at__isnull=True).order_by("release_at", "pk")
    wh = request.GET.get("warehouse", "")
    if wh.isdigit():
        rows = rows.filter(order__warehouse_id=int(wh))
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "warehouse/presale_list.html", {
        "page": page, "tab": tab, "warehouse_id": wh,
        "warehouses": Warehouse.objects.all(),
        "waiting_count": PresaleDeferral.objects.filter(released_at__isnull=True).count(),
        "can_set": request.user.has_perm("warehouse.set_presale_date"),
    })


@require_POST
@staff_view("warehouse.set_presale_date")
def presale_set(request, deferral_id):
    deferral = get_object_or_404(PresaleDeferral.objects.select_related("order"),
                                 pk=deferral_id)
    try:
        presale_set_date(order=deferral.order_id, ship_date=request.POST.get("ship_date", ""),
                         actor=request.user)
    except PresaleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Ship date of %(number)s saved.")
                         % {"number": deferral.order.number})
    return redirect("warehouse-presale")


@staff_view("warehouse.view_transferrequest")
def transfer_list(request):
    status = request.GET.get("status", "open")
    rows = TransferRequest.objects.select_related("from_warehouse", "to_warehouse") \
        .prefetch_related("lines__sku")
    if status == "open":
        rows = rows.filter(status__in=[TransferRequest.Status.REQUESTED,
                                       TransferRequest.Status.CONFIRMED])
    elif status in TransferRequest.Status.values:
        rows = rows.filter(status=status)
    else:
        status = "all"
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "warehouse/transfer_list.html", {
        "page": page, "status": status, "statuses": TransferRequest.Status.choices,
    })


@staff_view("warehouse.view_transferrequest")
def transfer_detail(request, pk):
    transfer = get_object_or_404(
        TransferRequest.objects.select_related("from_warehouse", "to_warehouse", "decided_by"),
        pk=pk)
    return render(request, "warehouse/transfer_detail.html", {
        "transfer": transfer,
        "lines": transfer.lines.select_related("sku").order_by("sku__code"),
        "waiting": transfer.waiting.select_related("order").order_by("pk"),
        "can_handle": request.user.has_perm("warehouse.handle_transfer"),
    })


def _act(request, pk, action, done):
    try:
        action()
    except TransferError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("warehouse-transfer", pk)


@require_POST
@staff_view("warehouse.handle_transfer")
def transfer_confirm_view(request, pk):
    return _act(request, pk, lambda: transfer_confirm(transfer=pk, actor=request.user),
                _("Transfer confirmed: the units left the source warehouse."))


@require_POST
@staff_view("warehouse.handle_transfer")
def transfer_reject_view(request, pk):
    return _act(request, pk, lambda: transfer_reject(
        transfer=pk, actor=request.user, reason=request.POST.get("reason", "")),
        _("Transfer rejected."))


@require_POST
@staff_view("warehouse.handle_transfer")
def transfer_receive_view(request, pk):
    received = {}
    for key, value in request.POST.items():
        if key.startswith("line-") and key[5:].isdigit():
            received[int(key[5:])] = value
    return _act(request, pk, lambda: transfer_receive(
        transfer=pk, actor=request.user, received=received),
        _("Transfer received: the units are in stock and the waiting orders are allocated "
          "again."))
