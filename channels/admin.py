"""Admin for channels: credentials are write-only and shown masked."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from channels import services
from channels.models import (
    Channel,
    DecryptAudit,
    GapAlert,
    LegacyOrder,
    RawPayload,
    ShipmentPush,
    ShipmentPushAttempt,
    SkuMapping,
)
from orderhub.admin_mixins import CredentialsAdminMixin, CredentialsForm, ReadOnlyAdmin

CREDENTIAL_HELP = _(
    "Paste a JSON object, e.g. Shopify {\"access_token\": …, \"webhook_secret\": …}; "
    "WooCommerce {\"consumer_key\": …, \"consumer_secret\": …, \"webhook_secret\": …}; "
    "Amazon {\"refresh_token\": …, \"client_id\": …, \"client_secret\": …}. "
    "Leave empty to keep the stored credentials. Stored encrypted, never shown again."
)


class ChannelForm(CredentialsForm):
    credentials_help = CREDENTIAL_HELP

    class Meta:
        model = Channel
        fields = ["code", "name", "platform", "enabled", "owner", "config", "poll_interval",
                  "overlap_seconds", "backfill_days", "paused", "paused_reason"]


class SkuMappingInline(admin.TabularInline):
    model = SkuMapping
    extra = 1


@admin.register(Channel)
class ChannelAdmin(CredentialsAdminMixin, admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "code", "platform", "enabled", "paused", "last_success_at",
                    "consecutive_failures"]
    list_filter = ["platform", "enabled", "paused"]
    search_fields = ["name", "code"]
    readonly_fields = ["stored_credentials", "cursor_at", "cursor_token", "last_poll_at",
                       "last_success_at", "last_error", "last_error_at", "consecutive_failures",
                       "next_poll_at", "paused_at"]
    inlines = [SkuMappingInline]
    actions = ["pause_channels", "resume_channels"]
    fieldsets = [
        (None, {"fields": ["code", "name", "platform", "enabled", "owner", "config"]}),
        (_("Credentials"), {"fields": ["stored_credentials", "new_credentials"]}),
        (_("Sync"), {"fields": ["poll_interval", "overlap_seconds", "backfill_days",
                                "cursor_at", "cursor_token", "next_poll_at"]}),
        (_("Health"), {"fields": ["paused", "paused_reason", "paused_at", "last_poll_at",
                                  "last_success_at", "last_error", "last_error_at",
                                  "consecutive_failures"]}),
    ]

    @admin.action(description=_("Pause the selected channels"), permissions=["change"])
    def pause_channels(self, request, queryset):
        for channel in queryset:
            services.channel_pause(channel=channel, reason=_("paused by %(user)s") % {
                "user": request.user.get_username()}, actor=request.user.get_username())
        messages.success(request, _("Paused."))

    @admin.action(description=_("Resume the selected channels"), permissions=["change"])
    def resume_channels(self, request, queryset):
        for channel in queryset:
            services.channel_resume(channel=channel, actor=request.user.get_username())
        messages.success(request, _("Resumed."))


@admin.register(SkuMapping)
class SkuMappingAdmin(admin.ModelAdmin):
    list_display = ["channel", "platform_sku", "hub_sku", "note"]
    list_filter = ["channel"]
    search_fields = ["platform_sku", "hub_sku"]


@admin.register(RawPayload)
class RawPayloadAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "source", "external_id", "status", "attempts", "received_at"]
    list_filter = ["status", "source", "channel"]
    search_fields = ["external_id", "content_hash"]
    readonly_fields = [f.name for f in RawPayload._meta.fields]

    def has_add_permission(self, request):
        return False


class ShipmentPushAttemptInline(admin.TabularInline):
    model = ShipmentPushAttempt
    extra = 0
    readonly_fields = ["started_at", "ok", "status_code", "error"]
    can_delete = False


@admin.register(ShipmentPush)
class ShipmentPushAdmin(admin.ModelAdmin):
    list_display = ["order", "channel", "tracking_number", "status", "attempts", "created_at"]
    list_filter = ["status", "channel"]
    raw_id_fields = ["order"]
    inlines = [ShipmentPushAttemptInline]


@admin.register(GapAlert)
class GapAlertAdmin(admin.ModelAdmin):
    list_display = ["channel", "day", "platform_count", "hub_count", "resolved"]
    list_filter = ["resolved", "channel"]


@admin.register(DecryptAudit)
class DecryptAuditAdmin(ReadOnlyAdmin):
    """Who decrypted which buyer field of which order, when and why: an account, never edited."""

    list_display = ["at", "channel", "order", "field", "actor", "purpose", "ok"]
    list_filter = ["purpose", "ok", "channel"]
    search_fields = ["=order__number", "actor__username"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in DecryptAudit._meta.fields]
    list_select_related = ["channel", "order", "actor"]


@admin.register(LegacyOrder)
class LegacyOrderAdmin(ReadOnlyAdmin):
    """Archived history: looked at, never edited (re-import the file to add more)."""

    list_display = ["legacy_id", "channel", "placed_at", "buyer_name", "buyer_phone", "total",
                    "currency", "status_text"]
    list_filter = ["channel"]
    search_fields = ["=legacy_id", "buyer_name", "buyer_phone_raw"]
    date_hierarchy = "placed_at"
    readonly_fields = [f.name for f in LegacyOrder._meta.fields]
    list_select_related = ["channel"]

    def get_search_results(self, request, queryset, search_term):
        from django.core.exceptions import ValidationError

        from orderhub.models import normalize_phone

        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            phone = normalize_phone(search_term)
        except ValidationError:
            return results, may_have_duplicates
        # A phone typed in any format finds the stored E.164 number.
        if phone:
            results |= queryset.filter(buyer_phone=phone)
        return results, may_have_duplicates
