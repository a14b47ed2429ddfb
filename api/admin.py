"""Admin → API tokens: make a token (its secret shown once), revoke it, see when it was used.

WMS callbacks and idempotency records are read-only here (the raw callback as received).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api.models import ApiToken, WmsCallback
from api.tokens import token_create, token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "system", "user", "scope", "prefix", "created_at", "last_used_at",
                    "revoked_at")
    list_filter = ("system", "scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "system", "user", "scope", "rate_limit", "prefix", "created_by",
              "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    autocomplete_fields = ()
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: the row stays, so the logs' actor and last use stay readable.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        _token, raw = token_create(name=obj.name, user=obj.user, token=obj,
                                   created_by=request.user)
        request._api_token_secret = raw

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_api_token_secret", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(request, "api/token_created.html", {
            **self.admin_site.each_context(request),
            "title": _("API token created"), "token": obj, "secret": raw,
            "opts": self.model._meta,
        })
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(token=token)
            count += 1
        self.message_user(request, ngettext("%(n)d token revoked.", "%(n)d tokens revoked.",
                                            count) % {"n": count}, messages.SUCCESS)


@admin.register(WmsCallback)
class WmsCallbackAdmin(admin.ModelAdmin):
    list_display = ("order", "event", "source_system", "operator", "occurred_at",
                    "package_count", "from_status", "to_status", "received_at")
    list_filter = ("event",)
    search_fields = ("order__number", "operator")
    readonly_fields = [f.name for f in WmsCallback._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
