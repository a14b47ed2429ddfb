from django.urls import path

from reporting import views

# No namespace: the base layout finds the dashboard as plain "dashboard".
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/wall/", views.dashboard_wall, name="dashboard-wall"),
    path("dashboard/sla/late/", views.sla_late, name="reporting-sla-late"),
    path("dashboard/alerts/<int:alert_id>/ack/", views.alert_acknowledge,
         name="reporting-alert-ack"),
    path("reports/export/orders.<str:fmt>", views.export_orders, name="reporting-export-orders"),
    path("reports/export/<str:kind>.<str:fmt>", views.export_summary,
         name="reporting-export-summary"),
    path("reports/exports/<int:job_id>/", views.export_job, name="reporting-export-job"),
    path("reports/exports/<int:job_id>/download/", views.export_download,
         name="reporting-export-download"),
    path("reports/reconciliation/", views.reconciliation_list, name="reporting-reconciliation"),
    path("reports/reconciliation/<int:run_id>/", views.reconciliation_detail,
         name="reporting-reconciliation-detail"),
    path("reports/reconciliation/<int:run_id>/export.<str:fmt>", views.reconciliation_export,
         name="reporting-reconciliation-export"),
]
