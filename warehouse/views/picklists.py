"""Pick-list and seal-label PDFs."""

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from orderhub.guard import staff_view
from orderhub.models import Order, OrderStatus
from warehouse.models import PickList, Warehouse
from warehouse.services.picklists import (
    PickListError,
    picklist_create,
    picklist_pdf,
    picklist_reprint,
    seal_label_pdf,
)

print_permission = staff_view("warehouse.print_picklist")


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@print_permission
def picklist_create_view(request):
    """GET: orders waiting to be picked and recent lists; POST: make a list of the ticked ones."""
    if request.method != "POST":
        warehouses = Warehouse.objects.filter(active=True)
        wh_id = request.GET.get("warehouse", "")
        warehouse = warehouses.filter(pk=wh_id).first() if wh_id.isdigit() else warehouses.first()
        waiting, recent = [], []
        if warehouse is not None:
            waiting = (Order.objects.select_related("channel")  # recipient masking
                       .filter(warehouse=warehouse, status=OrderStatus.READY_TO_PICK)
                       .exclude(pick_lists__status=PickList.Status.ACTIVE)
                       .order_by("-priority", "paid_at", "pk")[:200])
            recent = PickList.objects.filter(warehouse=warehouse)[:30]
        return render(request, "warehouse/picklists.html", {
            "warehouses": warehouses, "warehouse": warehouse, "waiting": waiting,
            "recent": recent,
        })
    ids = request.POST.getlist("order")
    try:
        pick_list = picklist_create(orders=[int(i) for i in ids], actor=request.user)
    except ValueError:
        return HttpResponseBadRequest("order ids must be numbers")
    except PickListError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return redirect("warehouse-picklist-pdf", pick_list.pk)


@print_permission
def picklist_pdf_view(request, pk):
    pick_list = get_object_or_404(PickList, pk=pk)
    try:
        content = picklist_pdf(pick_list, page=request.GET.get("format", "a4"))
    except PickListError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return _pdf(content, f"{pick_list.number}.pdf")


@print_permission
@require_POST
def picklist_reprint_view(request, pk):
    pick_list = get_object_or_404(PickList, pk=pk)
    try:
        copy = picklist_reprint(pick_list=pick_list, actor=request.user)
    except PickListError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return redirect("warehouse-picklist-pdf", copy.pk)


# Packers print the seal right after verifying the parcel at the bench.
@staff_view("warehouse.print_picklist", "warehouse.pack_verify")
def seal_label_view(request, order_id):
    order = get_object_or_404(Order, pk=order_id)
    try:
        url = request.build_absolute_uri(f"/orders/{order.pk}/")
        content = seal_label_pdf(order, order_url=url)
    except PickListError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return _pdf(content, f"seal-{order.number}.pdf")
