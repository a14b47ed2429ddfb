"""The phone scanning screen: one page, and a small JSON API its script calls.

Every endpoint checks ``warehouse.scan_pick``: a partial can be called directly.
"""

from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from orderhub.guard import staff_view
from orderhub.services.orders import OrderServiceError
from warehouse.models import PickProblem, PickTask, Warehouse
from warehouse.services import picking
from warehouse.services.stock import StockError

SESSION_WAREHOUSE = "scan_warehouse_id"
scan_permission = staff_view("warehouse.scan_pick")


def _warehouse(request) -> Warehouse | None:
    wh_id = request.session.get(SESSION_WAREHOUSE)
    return Warehouse.objects.filter(pk=wh_id, active=True).first() if wh_id else None


def _error(exc) -> JsonResponse:
    return JsonResponse({"error": exc.message}, status=getattr(exc, "status", 400))


def _task_json(task, **extra) -> JsonResponse:
    return JsonResponse({"task": picking.task_state(task) if task else None, **extra})


@scan_permission
def scan_page(request):
    warehouse = _warehouse(request)
    if request.method == "POST":
        chosen = Warehouse.objects.filter(pk=request.POST.get("warehouse"), active=True).first()
        if chosen is not None:
            request.session[SESSION_WAREHOUSE] = chosen.pk
        return redirect("scan")
    task = PickTask.objects.filter(picker=request.user, status=PickTask.Status.OPEN).first()
    return render(request, "warehouse/scan.html", {
        "mode": "pick",
        "can_pack": request.user.has_perm("warehouse.pack_verify"),
        "warehouse": warehouse,
        "warehouses": Warehouse.objects.filter(active=True),
        "task_state": picking.task_state(task) if task else None,
        "problem_kinds": PickProblem.Kind.choices,
    })


@scan_permission
@require_POST
def scan_next(request):
    warehouse = _warehouse(request)
    if warehouse is None:
        return JsonResponse({"error": _("Choose your warehouse first.")}, status=400)
    try:
        task = picking.task_claim_next(picker=request.user, warehouse=warehouse)
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    if task is None:
        return JsonResponse({"task": None, "message": _("Nothing waiting. Well done!")})
    return _task_json(task)


@scan_permission
@require_POST
def scan_claim(request):
    warehouse = _warehouse(request)
    if warehouse is None:
        return JsonResponse({"error": _("Choose your warehouse first.")}, status=400)
    try:
        task = picking.task_claim_code(picker=request.user, warehouse=warehouse,
                                       code=request.POST.get("code", ""))
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return _task_json(task)


@scan_permission
def scan_task(request, task_id):
    task = PickTask.objects.filter(pk=task_id, picker=request.user).select_related("order").first()
    if task is None:
        return JsonResponse({"error": _("There is no such task.")}, status=404)
    return _task_json(task)


@scan_permission
@require_POST
def scan_item(request, task_id):
    try:
        outcome = picking.task_scan(task_id=task_id, picker=request.user,
                                    barcode=request.POST.get("barcode", ""),
                                    key=request.POST.get("key", ""))
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return JsonResponse({"task": picking.task_state(outcome.task, lines=outcome.lines),
                         "result": outcome.result, "ok": outcome.ok, "message": outcome.message,
                         "line": outcome.line_id, "replay": outcome.replay})


@scan_permission
@require_POST
def scan_problem(request, task_id):
    try:
        problem = picking.task_report_problem(
            task_id=task_id, picker=request.user, kind=request.POST.get("kind", ""),
            note=request.POST.get("note", ""), photo=request.FILES.get("photo"),
        )
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return JsonResponse({"problem": problem.pk,
                         "message": _("Problem reported. Ops have been told.")})


@scan_permission
@require_POST
def scan_finish(request, task_id):
    try:
        task = picking.task_finish(task_id=task_id, picker=request.user)
    except (StockError, OrderServiceError) as exc:
        return _error(exc)
    return JsonResponse({"task": None, "finished": task.order.number,
                         "message": _("Order %(number)s picked.") % {"number": task.order.number}})


@staff_view("warehouse.view_pickproblem")
def problem_photo(request, problem_id):
    """A problem's photo, behind a login: it may show a buyer's address label."""
    problem = get_object_or_404(PickProblem, pk=problem_id)
    if not problem.photo:
        raise Http404
    try:
        handle = problem.photo.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(handle, filename=problem.photo.name.rsplit("/", 1)[-1])


@staff_view("warehouse.scan_pick")
def scan_current(request):
    """The picker's open task (or none), polled by the screen: it follows a hold and its
    release, a task taken on another device and one closed elsewhere without a reload."""
    task = (PickTask.objects.filter(picker=request.user, status=PickTask.Status.OPEN)
            .select_related("order").first())
    return _task_json(task)
