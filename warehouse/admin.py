from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from orderhub.admin_mixins import ReadOnlyAdmin
from orderhub.crypto import CredentialsUnreadable, mask_secret
from warehouse.models import (
    SKU,
    Barcode,
    Bin,
    KitComponent,
    PackCheck,
    PackCheckLine,
    PackScan,
    PickList,
    PickListOrder,
    PickProblem,
    PickTask,
    PickTaskLine,
    PresaleDeferral,
    Reservation,
    SkuLocation,
    StockLevel,
    StockMovement,
    StockSource,
    TransferLine,
    TransferRequest,
    Warehouse,
)
from warehouse.services.stock import stock_set_safety


class BinInline(admin.TabularInline):
    model = Bin
    extra = 0
    fields = ["code", "zone", "pick_order"]


class StockSourceForm(forms.ModelForm):
    # ERP endpoints are HTTPS; a bare host gets https:// (Django 6's default too).
    base_url = forms.URLField(label=_("base URL"), max_length=200, assume_scheme="https")
    # Stored encrypted and never shown back; leaving the field empty keeps the stored one.
    secret = forms.CharField(
        label=_("password / secret / token"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the stored secret. Stored encrypted, never shown "
                    "again."),
    )

    class Meta:
        model = StockSource
        fields = ["kind", "enabled", "base_url", "username", "secret", "options",
                  "interval_minutes", "check_each_order", "check_timeout_seconds"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only read when the per-order check is on; empty means the default.
        self.fields["check_timeout_seconds"].required = False

    def clean_check_timeout_seconds(self):
        value = self.cleaned_data.get("check_timeout_seconds")
        if value is None:
            return StockSource._meta.get_field("check_timeout_seconds").default
        return value

    def save(self, commit=True):
        source = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            source.secret = self.cleaned_data["secret"]
        if commit:
            source.save()
            self.save_m2m()
        return source


class StockSourceInline(admin.StackedInline):
    model = StockSource
    form = StockSourceForm
    extra = 0
    max_num = 1
    readonly_fields = ["stored_secret"]

    @admin.display(description=_("stored secret"))
    def stored_secret(self, obj):
        if not obj or not obj.secret_encrypted:
            return "—"
        try:
            return mask_secret(obj.secret)
        except CredentialsUnreadable:
            return _("unreadable: enter it again")


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "active", "cold_chain", "purchasing_contact_name",
                    "stock_synced_at", "stock_stale_since"]
    list_filter = ["active", "cold_chain"]
    search_fields = ["code", "name", "address"]
    readonly_fields = ["stock_synced_at", "stock_stale_since", "stock_sync_error"]
    inlines = [BinInline, StockSourceInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "address", "active"]}),
        (_("Service"), {"fields": ["service_regions", "cold_chain", "presale_lead_days"]}),
        (_("Purchasing contact"), {"fields": ["purchasing_contact_name",
                                              "purchasing_contact_phone",
                                              "purchasing_contact_email"]}),
        (_("External stock"), {"fields": ["stock_synced_at", "stock_stale_since",
                                          "stock_sync_error"]}),
    ]


class BarcodeInline(admin.TabularInline):
    model = Barcode
    extra = 1


class KitComponentInline(admin.TabularInline):
    model = KitComponent
    fk_name = "kit"
    extra = 0
    autocomplete_fields = ["component"]


class SkuLocationInline(admin.TabularInline):
    model = SkuLocation
    extra = 0


@admin.register(SKU)
class SKUAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "category", "kind", "is_gift", "cold_chain", "fragile",
                    "active"]
    list_filter = ["kind", "is_gift", "cold_chain", "fragile", "active", "category"]
    search_fields = ["code", "name", "barcodes__code"]
    inlines = [BarcodeInline, KitComponentInline, SkuLocationInline]


@admin.register(Barcode)
class BarcodeAdmin(admin.ModelAdmin):
    list_display = ["code", "sku", "kind"]
    search_fields = ["code", "sku__code"]
    autocomplete_fields = ["sku"]


@admin.register(KitComponent)
class KitComponentAdmin(admin.ModelAdmin):
    list_display = ["kit", "component", "quantity"]
    autocomplete_fields = ["kit", "component"]


@admin.register(Bin)
class BinAdmin(admin.ModelAdmin):
    list_display = ["code", "warehouse", "zone", "pick_order"]
    list_filter = ["warehouse"]
    search_fields = ["code"]


@admin.register(SkuLocation)
class SkuLocationAdmin(admin.ModelAdmin):
    list_display = ["sku", "warehouse", "bin"]
    list_filter = ["warehouse"]
    search_fields = ["sku__code", "bin__code"]
    autocomplete_fields = ["sku", "bin"]


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    """On hand and reserved change only through the ledger; safety is a setting."""

    list_display = ["sku", "warehouse", "on_hand", "reserved", "safety", "available"]
    list_filter = ["warehouse"]
    search_fields = ["sku__code", "sku__name"]
    readonly_fields = ["warehouse", "sku", "on_hand", "reserved"]
    fields = ["warehouse", "sku", "on_hand", "reserved", "safety"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        stock_set_safety(warehouse=obj.warehouse, sku=obj.sku, safety=obj.safety,
                         actor=request.user)
        messages.info(request, _("Safety stock saved."))


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "warehouse", "sku", "kind", "on_hand_delta", "reserved_delta",
                    "on_hand_after", "reserved_after", "order", "actor", "reason"]
    list_select_related = ["warehouse", "sku", "order"]
    list_filter = ["kind", "warehouse"]
    search_fields = ["sku__code", "reason", "actor"]
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["order", "warehouse", "sku", "quantity", "status", "created_at"]
    list_select_related = ["order", "warehouse", "sku"]
    list_filter = ["status", "warehouse"]
    search_fields = ["order__number", "sku__code"]


class PickListOrderInline(admin.TabularInline):
    model = PickListOrder
    extra = 0
    readonly_fields = ["order", "slot"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PickList)
class PickListAdmin(ReadOnlyAdmin):
    list_display = ["number", "warehouse", "kind", "status", "reprint", "created_by",
                    "created_at"]
    list_filter = ["status", "kind", "warehouse"]
    search_fields = ["number"]
    inlines = [PickListOrderInline]


class PickTaskLineInline(admin.TabularInline):
    model = PickTaskLine
    extra = 0
    readonly_fields = ["sku", "name", "bin_code", "quantity", "picked", "is_gift"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PickTask)
class PickTaskAdmin(ReadOnlyAdmin):
    list_display = ["order", "warehouse", "picker", "status", "started_at", "finished_at"]
    list_select_related = ["order", "warehouse", "picker"]
    list_filter = ["status", "warehouse"]
    search_fields = ["order__number", "picker__username"]
    inlines = [PickTaskLineInline]


@admin.register(PickProblem)
class PickProblemAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "warehouse", "kind", "actor", "note"]
    list_select_related = ["order", "warehouse"]
    list_filter = ["kind", "warehouse"]
    search_fields = ["order__number", "note"]


class PackCheckLineInline(admin.TabularInline):
    model = PackCheckLine
    extra = 0
    readonly_fields = ["sku", "name", "quantity", "scanned", "is_gift"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PackCheck)
class PackCheckAdmin(ReadOnlyAdmin):
    list_display = ["order", "warehouse", "packer", "status", "started_at", "finished_at"]
    list_select_related = ["order", "warehouse", "packer"]
    list_filter = ["status", "warehouse"]
    search_fields = ["order__number", "packer__username"]
    inlines = [PackCheckLineInline]


@admin.register(PackScan)
class PackScanAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "pack_check", "barcode", "result", "message"]
    list_select_related = ["pack_check__order"]
    list_filter = ["result"]
    search_fields = ["pack_check__order__number", "barcode"]


@admin.register(PresaleDeferral)
class PresaleDeferralAdmin(ReadOnlyAdmin):
    """The presale deferred queue (set dates on /warehouse/presale/)."""

    list_display = ["order", "ship_date", "source", "release_at", "released_at"]
    list_filter = ["source"]
    search_fields = ["order__number"]
    list_select_related = ["order"]


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    extra = 0
    can_delete = False
    readonly_fields = ["sku", "quantity", "received_quantity"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TransferRequest)
class TransferRequestAdmin(ReadOnlyAdmin):
    """Read-only: confirm, reject and receive on /warehouse/transfers/ (stock moves there)."""

    list_display = ["pk", "from_warehouse", "to_warehouse", "status", "created_at"]
    list_filter = ["status", "to_warehouse"]
    list_select_related = ["from_warehouse", "to_warehouse"]
    inlines = [TransferLineInline]
