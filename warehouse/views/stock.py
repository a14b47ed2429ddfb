"""Stock pages: levels, one SKU's ledger, adjustments, CSV counts; and the lead's dashboard."""

import datetime as dt

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from orderhub.guard import staff_view
from orderhub.models import Order, OrderStatus
from warehouse.models import PickProblem, PickTask, ScanEvent, StockLevel, Warehouse
from warehouse.services.counts import count_apply, count_preview
from warehouse.services.stock import StockError, stock_adjust

ADJUST_KINDS = [("adjustment", gettext_lazy("Adjustment")),
                ("receipt", gettext_lazy("Receipt")), ("return", gettext_lazy("Return"))]


@staff_view("warehouse.view_stocklevel")
def stock_list(request):
    levels = StockLevel.objects.select_related("warehouse", "sku").annotate(
        avail=F("on_hand") - F("reserved") - F("safety")
    ).order_by("warehouse__name", "sku__code")
    q = request.GET.get("q", "").strip()
    if q:
        levels = levels.filter(Q(sku__code__icontains=q) | Q(sku__name__icontains=q)
                               | Q(sku__barcodes__code=q)).distinct()
    wh = request.GET.get("warehouse", "")
    if wh.isdigit():
        levels = levels.filter(warehouse_id=int(wh))
    if request.GET.get("low"):
        levels = levels.filter(avail__lte=0)
    if request.GET.get("stale"):
        levels = levels.filter(warehouse__stock_stale_since__isnull=False)
    page = Paginator(levels, 50).get_page(request.GET.get("page"))
    template = "warehouse/_stock_rows.html" if request.htmx else "warehouse/stock_list.html"
    return render(request, template, {
        "page": page, "q": q, "warehouse_id": wh, "low": bool(request.GET.get("low")),
        "stale": bool(request.GET.get("stale")),
        "warehouses": Warehouse.objects.all(),
        "stale_warehouses": Warehouse.objects.filter(stock_stale_since__isnull=False),
        "can_adjust": request.user.has_perm("warehouse.adjust_stock"),
    })


@staff_view("warehouse.view_stockmovement")
def stock_detail(request, level_id):
    level = get_object_or_404(StockLevel.objects.select_related("warehouse", "sku"), pk=level_id)
    if request.method == "POST":
        if not request.user.has_perm("warehouse.adjust_stock"):
            messages.error(request, _("You are not allowed to adjust stock."))
            return redirect("warehouse-stock-detail", level.pk)
        try:
            stock_adjust(warehouse=level.warehouse, sku=level.sku,
                         delta=request.POST.get("delta", ""), actor=request.user,
                         reason=request.POST.get("reason", ""),
                         kind=request.POST.get("kind", "adjustment"))
        except StockError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Stock adjusted."))
        return redirect("warehouse-stock-detail", level.pk)
    movements = level.warehouse.movements.filter(sku=level.sku).select_related("order")
    page = Paginator(movements, 50).get_page(request.GET.get("page"))
    return render(request, "warehouse/stock_detail.html", {
        "level": level, "page": page, "kinds": ADJUST_KINDS,
        "can_adjust": request.user.has_perm("warehouse.adjust_stock"),
    })


@staff_view("warehouse.adjust_stock")
def stock_count_upload(request):
    context = {}
    if request.method == "POST":
        if request.POST.get("confirm"):
            content = request.POST.get("content", "")
            try:
                preview = count_apply(content=content, actor=request.user,
                                      reason=request.POST.get("reason", ""))
            except StockError as exc:
                context.update(preview=count_preview(content), content=content,
                               error=exc.message)
            else:
                messages.success(request, _("%(n)s stock level(s) updated.")
                                 % {"n": len(preview.changes)})
                return redirect("warehouse-stock")
        else:
            upload = request.FILES.get("file")
            if upload is None:
                context["error"] = _("Choose a CSV file.")
            elif upload.size > 5 * 1024 * 1024:
                context["error"] = _("The file is larger than 5 MB.")
            else:
                raw = upload.read()
                preview = count_preview(raw)
                text = raw.decode("utf-8-sig", errors="replace") if preview.ok else ""
                context.update(preview=preview, content=text)
    return render(request, "warehouse/stock_count.html", context)


@staff_view("warehouse.view_warehouse_dashboard")
def dashboard(request):
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for wh in Warehouse.objects.filter(active=True):
        waiting = dict(
            Order.objects.filter(warehouse=wh, status=OrderStatus.READY_TO_PICK)
            .values_list("priority").annotate(n=Count("pk")).order_by()
        )
        rows.append({
            "warehouse": wh,
            "waiting": [(label, waiting.get(value, 0))
                        for value, label in reversed(Order.Priority.choices)],
            "waiting_total": sum(waiting.values()),
            "picking": PickTask.objects.filter(warehouse=wh, status="open").count(),
            "pickers_active": ScanEvent.objects.filter(
                task__warehouse=wh, created_at__gte=now - dt.timedelta(minutes=15)
            ).values("actor_user").distinct().count(),
            "picks_last_hour": ScanEvent.objects.filter(
                task__warehouse=wh, result=ScanEvent.Result.OK,
                created_at__gte=now - dt.timedelta(hours=1)).count(),
            "problems_today": PickProblem.objects.filter(warehouse=wh,
                                                         created_at__gte=today).count(),
            "low_stock": StockLevel.objects.filter(warehouse=wh).filter(
                on_hand__lte=F("reserved") + F("safety")).count(),
        })
    problems = PickProblem.objects.filter(created_at__gte=today).select_related(
        "order", "warehouse")[:20]
    template = "warehouse/_dashboard.html" if request.htmx else "warehouse/dashboard.html"
    return render(request, template, {"rows": rows, "problems": problems, "now": now})
