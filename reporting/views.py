"""Dashboard, wall screen, exports and reconciliation pages.

Views parse the query string or upload, call one selector or service and
render; every view checks login and permission itself (``orderhub.guard.staff_view``)
because HTMX partials can be fetched directly.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orderhub.dbrouter import replica_reads
from orderhub.guard import staff_view
from reporting import exports, reconciliation, selectors
from reporting.forms import DashboardFilterForm, ReconciliationUploadForm
from reporting.models import ReconciliationDifference, ReconciliationRun, SpikeAlert


def _dashboard_context(request, *, full: bool) -> tuple[dict, int]:
    form = DashboardFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return {"form": form, "errors": _form_errors(form)}, 400
    if not request.GET:
        # Show the default range (today) in the date inputs rather than empty fields.
        today = timezone.localdate().isoformat()
        form = DashboardFilterForm({"from": today, "to": today})
        form.is_valid()
    filters = form.dashboard_filters()
    numbers = selectors.dashboard_numbers(filters, full=full)
    fulfillment = selectors.fulfillment_numbers(filters, full=full, placed=numbers["placed"])
    return {
        "form": form,
        "filters": filters,
        "numbers": numbers,
        "fulfillment": fulfillment,
        "cards": selectors.kpi_cards(filters, numbers, fulfillment),
        "query": filters.query_string(),
    }, 200


def _form_errors(form) -> list[str]:
    return [str(message) for messages in form.errors.values() for message in messages]


@require_GET
@staff_view("reporting.view_dashboard")
# Inside the permission check (that reads the primary): only these reads may lag.
@replica_reads()
def dashboard(request):
    cards_only = bool(request.htmx) and request.GET.get("part") == "cards"
    context, status = _dashboard_context(request, full=not cards_only)
    if status == 200 and not cards_only:
        numbers, fulfillment = context["numbers"], context["fulfillment"]
        context.update({
            "sla": fulfillment["sla"],
            "buyer_sla": fulfillment["buyer_sla"],
            "stalled_per_carrier": fulfillment["stalled_per_carrier"],
            "by_day": numbers["by_day"],
            "by_platform": numbers["by_platform"],
            "sales": numbers["sales"],
            "by_category": numbers["by_category"],
            "charts": {"per_channel": numbers["per_channel"],
                       "ship_time": numbers["ship"]["buckets"], **fulfillment["charts"]},
            "alerts": _recent_alerts(),
            "can_export": request.user.has_perm("reporting.export_reports"),
        })
    template = "reporting/dashboard.html"
    if request.htmx and not request.htmx.history_restore_request:
        template = "reporting/_cards.html" if request.GET.get("part") == "cards" else (
            "reporting/_dashboard_body.html")
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@staff_view("reporting.view_dashboard")
# Inside the permission check (that reads the primary): only these reads may lag.
@replica_reads()
def dashboard_wall(request):
    # Full numbers: the wall draws the per-channel and paid → shipped charts beside the
    # cards (the cached aggregates cost one cache read per poll of an unchanged hub).
    context, status = _dashboard_context(request, full=True)
    partial = request.htmx and not request.htmx.history_restore_request
    template = "reporting/_wall_cards.html" if partial else "reporting/wall.html"
    if status == 200:
        numbers = context["numbers"]
        context.update({
            "alerts": _recent_alerts(),
            "charts": {"per_channel": numbers["per_channel"],
                       "ship_time": numbers["ship"]["buckets"]},
        })
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@staff_view("reporting.view_dashboard")
@replica_reads()
def sla_late(request):
    """Drill-down of an SLA share card: the orders of the range over the SLA's window
    (``?kind=paid|buyer`` and the dashboard's own filters)."""
    kind = request.GET.get("kind", "buyer")
    form = DashboardFilterForm(request.GET or None)
    if kind not in selectors.SLA_KINDS or (request.GET and not form.is_valid()):
        errors = _form_errors(form) if form.is_bound and form.errors else []
        return render(request, "error.html", {
            "message": " ".join(errors) or _("Unknown SLA."), "status": 400}, status=400)
    if not request.GET or not form.is_bound:
        today = timezone.localdate().isoformat()
        form = DashboardFilterForm({"from": today, "to": today})
        form.is_valid()
    filters = form.dashboard_filters()
    key = "sla_within_pct" if kind == "paid" else "buyer_sla_within_pct"
    window = selectors.thresholds().get(key)
    late = selectors.sla_late_orders(filters, kind=kind,
                                     window_hours=window.window_hours if window else None)
    return render(request, "reporting/sla_late.html", {
        "kind": kind, "late": late, "filters": filters,
        "dashboard_query": filters.query_string(),
        "can_see_orders": filters.can_drill_down,
    })


def _recent_alerts():
    return list(SpikeAlert.objects.filter(acknowledged=False).select_related("rule")[:10])


# --- exports ---------------------------------------------------------------------------------


@require_GET
@staff_view("reporting.export_orders")
def export_orders(request, fmt: str):
    """The order list with the list page's own filters, streamed; long XLSX runs as a task."""
    return _export(request, "orders", fmt)


@require_GET
@staff_view("reporting.export_reports")
def export_summary(request, kind: str, fmt: str):
    if kind not in exports.SUMMARY_KINDS:
        raise Http404
    return _export(request, kind, fmt)


def _export(request, kind: str, fmt: str):
    try:
        plan = exports.plan_export(kind=kind, fmt=fmt, params=request.GET, user=request.user)
    except exports.ExportError as exc:
        return render(request, "error.html", {"message": exc.message, "status": 400},
                      status=400)
    if plan.background or request.GET.get("background") == "1":
        job = exports.export_job_start(kind=kind, fmt=fmt, params=request.GET,
                                       actor=request.user)
        return redirect("reporting-export-job", job_id=job.pk)
    return exports.export_response(plan)


@require_GET
@staff_view("reporting.export_orders", "reporting.export_reports")
def export_job(request, job_id: int):
    job = get_object_or_404(exports.ExportJob, pk=job_id, created_by=request.user)
    template = "reporting/_export_job.html" if request.htmx else "reporting/export_job.html"
    response = render(request, template, {"job": job})
    if request.htmx and job.status in (job.Status.DONE, job.Status.FAILED):
        # The poller's last answer: htmx stops polling on 286.
        response.status_code = 286
    return response


@require_GET
@staff_view("reporting.export_orders", "reporting.export_reports")
def export_download(request, job_id: int):
    job = get_object_or_404(exports.ExportJob, pk=job_id, created_by=request.user,
                            status=exports.ExportJob.Status.DONE)
    if not job.file:
        raise Http404
    return FileResponse(job.file.open("rb"), as_attachment=True,
                        filename=job.file.name.rsplit("/", 1)[-1])


# --- reconciliation ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@staff_view("reporting.reconcile")
def reconciliation_list(request):
    status = 200
    errors: list = []
    if request.method == "POST":
        form = ReconciliationUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                run = reconciliation.reconciliation_run_create(
                    channel=form.cleaned_data["channel"],
                    template=form.cleaned_data["template"],
                    period_from=form.cleaned_data["period_from"],
                    period_to=form.cleaned_data["period_to"],
                    upload=form.cleaned_data["file"],
                    actor=request.user,
                )
            except reconciliation.SettlementFileError as exc:
                errors = exc.errors
                status = 400
            else:
                return redirect("reporting-reconciliation-detail", run_id=run.pk)
        else:
            status = 400
    else:
        form = ReconciliationUploadForm()
    runs = ReconciliationRun.objects.select_related("channel", "created_by")[:50]
    return render(request, "reporting/reconciliation_list.html",
                  {"form": form, "runs": runs, "row_errors": errors}, status=status)


@require_GET
@staff_view("reporting.reconcile")
def reconciliation_detail(request, run_id: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel"), pk=run_id)
    kind = request.GET.get("kind", "")
    differences = run.differences.select_related("order")
    if kind in ReconciliationDifference.Kind.values:
        differences = differences.filter(kind=kind)
    return render(request, "reporting/reconciliation_detail.html", {
        "run": run, "differences": differences[:1000], "kind": kind,
        "kinds": ReconciliationDifference.Kind.choices,
    })


@require_GET
@staff_view("reporting.reconcile")
def reconciliation_export(request, run_id: int, fmt: str):
    params = request.GET.copy()
    params["run"] = str(run_id)
    try:
        plan = exports.plan_export(kind="reconciliation", fmt=fmt, params=params)
    except exports.ExportError as exc:
        return render(request, "error.html", {"message": exc.message, "status": 400},
                      status=400)
    return exports.export_response(plan)


@require_POST
@staff_view("reporting.view_dashboard")
def alert_acknowledge(request, alert_id: int):
    SpikeAlert.objects.filter(pk=alert_id).update(acknowledged=True)
    if request.htmx:
        return HttpResponse("")
    return redirect("dashboard")
