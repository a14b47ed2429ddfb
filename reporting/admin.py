from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from reporting.models import (
    ExportJob,
    KpiThreshold,
    ReconciliationDifference,
    ReconciliationRun,
    SpikeAlert,
    SpikeRule,
)


@admin.register(KpiThreshold)
class KpiThresholdAdmin(admin.ModelAdmin):
    list_display = ["kpi", "direction", "amber", "red", "window_hours", "updated_at"]
    list_editable = ["amber", "red", "window_hours"]
    readonly_fields = ["kpi", "updated_at"]
    fields = ["kpi", "direction", "amber", "red", "window_hours", "note", "updated_at"]

    def has_add_permission(self, request):
        # One row per KPI, seeded by a migration; a new KPI comes with code.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SpikeRule)
class SpikeRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "growth_percent", "consecutive_days",
                    "min_payment_success_percent", "min_orders"]


@admin.register(SpikeAlert)
class SpikeAlertAdmin(admin.ModelAdmin):
    list_display = ["day", "sku_code", "province", "payment_success_percent", "acknowledged",
                    "rule"]
    list_filter = ["acknowledged", "rule"]
    readonly_fields = ["rule", "day", "sku_code", "province", "series",
                       "payment_success_percent", "created_at"]


class DifferenceInline(admin.TabularInline):
    model = ReconciliationDifference
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "external_id", "order", "row_number", "currency",
                       "platform_amount", "hub_amount", "platform_status", "hub_status"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "period_from", "period_to", "file_name", "rows_read",
                    "matched", "created_by", "created_at"]
    list_filter = ["channel"]
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
    inlines = [DifferenceInline]

    def has_add_permission(self, request):
        return False


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "format", "status", "rows_done", "rows_total", "created_by",
                    "created_at", "finished_at"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return f"{obj.percent}%"
