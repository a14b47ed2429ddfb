"""Admin for carriers: credentials are write-only and shown masked; waybills read-only."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from fulfillment.shipping.models import (
    CarrierAccount,
    CarrierService,
    RateZone,
    TrackingEvent,
    Waybill,
    WaybillAttempt,
)
from fulfillment.shipping.rates import province_key, split_provinces
from orderhub.admin_mixins import CredentialsAdminMixin, CredentialsForm, ReadOnlyAdmin

CREDENTIAL_HELP = _(
    "Paste a JSON object: SF {\"partner_id\": …, \"check_word\": …}; Kuaidi100 "
    "{\"key\": …, \"secret\": …, \"customer\": …, \"salt\": …} plus the carrier's "
    "e-waybill account as Kuaidi100's parameter dictionary names it: \"partner_id\" (SF: "
    "leave it out and fill in the monthly account no.), \"partner_key\" (ZTO, YTO: required), "
    "and where the carrier asks for them \"partner_secret\", \"partner_name\", \"net\", "
    "\"code\", \"check_man\". "
    "Leave empty to keep the stored credentials. Stored encrypted, never shown again."
)


def _formfield(db_field, **kwargs):
    # Carrier APIs are HTTPS; also silences Django 6's scheme-default warning.
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class CarrierAccountForm(CredentialsForm):
    credentials_help = CREDENTIAL_HELP

    class Meta:
        model = CarrierAccount
        formfield_callback = _formfield
        fields = ["code", "name", "kind", "carrier_code", "enabled", "is_default", "base_url",
                  "default_service", "monthly_account", "sender_name", "sender_company",
                  "sender_phone", "sender_province", "sender_city", "sender_district",
                  "sender_address"]

    def clean(self):
        data = super().clean()
        if data.get("kind") == CarrierAccount.Kind.KUAIDI100 and not data.get("carrier_code"):
            self.add_error("carrier_code", _("Kuaidi100 needs the carrier's company code."))
        return data


class CarrierServiceInline(admin.TabularInline):
    model = CarrierService
    extra = 1
    fields = ["code", "name", "volumetric_divisor"]
    show_change_link = True  # its rate table is edited on the service's own page


class RateZoneFormSet(BaseInlineFormSet):
    """A province in at most one zone of the service, one "everywhere else" zone: checked
    across the rows being saved together (``RateZone.clean`` checks against saved rows)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        seen: dict[str, str] = {}
        elsewhere = 0
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            keys = {province_key(p) for p in split_provinces(data.get("provinces") or "")}
            elsewhere += not keys
            for key in keys:
                if key in seen and seen[key] != data.get("name"):
                    raise ValidationError(_("Already in zone “%(zone)s”: %(provinces)s.") % {
                        "zone": seen[key], "provinces": key})
                seen[key] = data.get("name")
        if elsewhere > 1:
            raise ValidationError(_("This service already has an “everywhere else” zone."))


class RateZoneInline(admin.TabularInline):
    model = RateZone
    formset = RateZoneFormSet
    extra = 1
    fields = ["name", "provinces", "first_weight_kg", "first_price", "additional_weight_kg",
              "additional_price", "promised_days"]


@admin.register(CarrierService)
class CarrierServiceAdmin(admin.ModelAdmin):
    """A service and its rate table (zones by destination province), which the routing
    rules' "choose carrier" action reads."""

    list_display = ["__str__", "account", "code", "volumetric_divisor", "zone_count"]
    list_filter = ["account"]
    list_select_related = ["account"]
    search_fields = ["code", "name", "account__code"]
    fields = ["account", "code", "name", "volumetric_divisor"]
    inlines = [RateZoneInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(zones_n=models.Count("zones"))

    @admin.display(description=_("rate zones"), ordering="zones_n")
    def zone_count(self, obj):
        return obj.zones_n


@admin.register(CarrierAccount)
class CarrierAccountAdmin(CredentialsAdminMixin, admin.ModelAdmin):
    form = CarrierAccountForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "code", "kind", "carrier_code", "enabled", "is_default"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "code"]
    readonly_fields = ["stored_credentials"]
    inlines = [CarrierServiceInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "kind", "carrier_code", "enabled", "is_default",
                           "base_url", "default_service", "monthly_account"]}),
        (_("Sender"), {"fields": ["sender_name", "sender_company", "sender_phone",
                                  "sender_province", "sender_city", "sender_district",
                                  "sender_address"]}),
        (_("Credentials"), {"fields": ["stored_credentials", "new_credentials"]}),
    ]


class WaybillAttemptInline(admin.TabularInline):
    model = WaybillAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["action", "started_at", "ok", "status_code", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Waybill)
class WaybillAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "order", "account", "status", "milestone", "attempts",
                    "booked_at", "last_event_at", "stalled_at"]
    list_filter = ["status", "milestone", "account"]
    search_fields = ["tracking_number", "order__number"]
    list_select_related = ["order", "account"]
    inlines = [WaybillAttemptInline]


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = ["waybill", "occurred_at", "milestone", "place", "description"]
    list_filter = ["milestone"]
    search_fields = ["waybill__tracking_number"]
    list_select_related = ["waybill"]
