"""Warehouse URLs. Names are global (``scan`` is a stable name base.html links to)."""

from django.urls import path

from warehouse.views import pack, picklists, scan, stock

urlpatterns = [
    path("scan/", scan.scan_page, name="scan"),
    path("scan/next/", scan.scan_next, name="scan-next"),
    path("scan/claim/", scan.scan_claim, name="scan-claim"),
    path("scan/current/", scan.scan_current, name="scan-current"),
    path("scan/task/<int:task_id>/", scan.scan_task, name="scan-task"),
    path("scan/task/<int:task_id>/scan/", scan.scan_item, name="scan-item"),
    path("scan/task/<int:task_id>/problem/", scan.scan_problem, name="scan-problem"),
    path("scan/task/<int:task_id>/finish/", scan.scan_finish, name="scan-finish"),
    path("scan/pack/", pack.pack_page, name="pack"),
    path("scan/pack/start/", pack.pack_start, name="pack-start"),
    path("scan/pack/<int:check_id>/", pack.pack_check, name="pack-check"),
    path("scan/pack/<int:check_id>/scan/", pack.pack_item, name="pack-item"),
    path("scan/pack/<int:check_id>/finish/", pack.pack_finish, name="pack-finish"),
    path("scan/pack/<int:check_id>/abandon/", pack.pack_abandon, name="pack-abandon"),
    path("warehouse/problems/<int:problem_id>/photo/", scan.problem_photo,
         name="warehouse-problem-photo"),
    path("warehouse/stock/", stock.stock_list, name="warehouse-stock"),
    path("warehouse/stock/<int:level_id>/", stock.stock_detail, name="warehouse-stock-detail"),
    path("warehouse/stock/count/", stock.stock_count_upload, name="warehouse-stock-count"),
    path("warehouse/dashboard/", stock.dashboard, name="warehouse-dashboard"),
    path("warehouse/picklists/", picklists.picklist_create_view, name="warehouse-picklist-create"),
    path("warehouse/picklists/<int:pk>/pdf/", picklists.picklist_pdf_view,
         name="warehouse-picklist-pdf"),
    path("warehouse/picklists/<int:pk>/reprint/", picklists.picklist_reprint_view,
         name="warehouse-picklist-reprint"),
    path("warehouse/orders/<int:order_id>/seal.pdf", picklists.seal_label_view,
         name="warehouse-seal-label"),
]
