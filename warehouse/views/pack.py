"""Pack-verify at the packing bench: the scanning screen in "pack" mode.

Every endpoint checks ``warehouse.pack_verify``: a partial can be called directly.
The bench's warehouse is the one chosen on the scanning screen (same session key).
"""

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from orderhub.guard import staff_view
from orderhub.services.orders import OrderServiceError
from warehouse.models import PackCheck, Warehouse
from warehouse.services import packing
from warehouse.services.stock import StockError
from warehouse.views.scan import SESSION_WAREHOUSE, _error, _warehouse

pack_permission = staff_view("warehouse.pack_verify")


def _check_json(check, **extra) -> JsonResponse:
    return JsonResponse({"task": packing.pack_state(check) if check else None, **extra})


@pack_permission
def pack_page(request):
    if request.method == "POST":
        chosen = Warehouse.objects.filter(pk=request.POST.get("warehouse"), active=True).first()
        if chosen is not None:
            request.session[SESSION_WAREHOUSE] = chosen.pk
        return redirect("pack")
    check = (PackCheck.objects.filter(packer=request.user, status=PackCheck.Status.OPEN)
             .select_related("order").first())
    return render(request, "warehouse/scan.html", {
        "mode": "pack",
        "warehouse": _warehouse(request),
        "warehouses": Warehouse.objects.filter(active=True),
        "task_state": packing.pack_state(check) if check else None,
        "can_pick": request.user.has_perm("warehouse.scan_pick"),
    })


@pack_permission
@require_POST
def pack_start(request):
    warehouse = _warehouse(request)
    if warehouse is None:
        return JsonResponse({"error": _("Choose your warehouse first.")}, status=400)
    try:
        check = packing.pack_start(packer=request.user, warehouse=warehouse,
                                   code=request.POST.get("code", ""))
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return _check_json(check)


@pack_permission
def pack_check(request, check_id):
    check = (PackCheck.objects.filter(pk=check_id, packer=request.user)
             .select_related("order").first())
    if check is None:
        return JsonResponse({"error": _("There is no such check.")}, status=404)
    return _check_json(check)


@pack_permission
@require_POST
def pack_item(request, check_id):
    try:
        outcome = packing.pack_scan(check_id=check_id, packer=request.user,
                                    barcode=request.POST.get("barcode", ""),
                                    key=request.POST.get("key", ""))
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return JsonResponse({"task": packing.pack_state(outcome.check, lines=outcome.lines),
                         "result": outcome.result, "ok": outcome.ok, "message": outcome.message,
                         "line": outcome.line_id, "replay": outcome.replay})


@pack_permission
@require_POST
def pack_finish(request, check_id):
    try:
        check = packing.pack_complete(check_id=check_id, packer=request.user)
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    number = check.order.number
    return JsonResponse({
        "task": None, "finished": number,
        "label_url": reverse("warehouse-seal-label", args=[check.order_id]),
        "message": _("Order %(number)s verified. Print the seal label.") % {"number": number},
    })


@pack_permission
@require_POST
def pack_abandon(request, check_id):
    try:
        check = packing.pack_abandon(check_id=check_id, packer=request.user)
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return JsonResponse({"task": None, "message": _("Order %(number)s put aside unverified.")
                         % {"number": check.order.number}})
