"""Admin for notifications: templates, gateways (write-only, masked secrets), routing, log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fulfillment.notifications import services
from fulfillment.notifications.models import (
    EVENT_VARIABLES,
    AlertRoute,
    Gateway,
    Message,
    MessageAttempt,
    MessageTemplate,
    WarehouseContact,
    default_buyer_gateway,
)
from fulfillment.notifications.templatetags.notifications_ui import mask_one
from orderhub.admin_mixins import CredentialsAdminMixin, CredentialsForm, ReadOnlyAdmin

CREDENTIAL_HELP = _(
    "Paste a JSON object. Aliyun SMS {\"access_key_id\": …, \"access_key_secret\": …}; "
    "HTTP SMS {\"auth_value\": \"Bearer …\"}; WeCom {\"key\": …}; DingTalk "
    "{\"access_token\": …, \"secret\": \"SEC…\"}. Leave empty to keep the stored "
    "credentials. Stored encrypted, never shown again."
)
CONFIG_HELP = _(
    "Aliyun SMS: {\"sign_name\": \"…\", \"region\": \"cn-hangzhou\"}. HTTP SMS: {\"method\": "
    "\"POST\", \"body_template\": \"{\\\"to\\\": \\\"{phone}\\\", \\\"text\\\": "
    "\\\"{text}\\\"}\", \"auth_header\": \"Authorization\", \"ok_field\": \"ok\", "
    "\"ok_value\": \"True\", \"id_field\": \"id\"}. E-mail: {\"from_email\": \"…\"}."
)


class GatewayForm(CredentialsForm):
    endpoint = forms.URLField(label=_("endpoint"), required=False, max_length=500,
                              assume_scheme="https",
                              help_text=_("Empty uses the vendor's public endpoint."))
    credentials_help = CREDENTIAL_HELP
    credentials_rows = 3

    class Meta:
        model = Gateway
        fields = ["name", "kind", "enabled", "for_buyers", "endpoint", "config",
                  "timeout_seconds"]
        help_texts = {"config": CONFIG_HELP}


@admin.register(Gateway)
class GatewayAdmin(CredentialsAdminMixin, admin.ModelAdmin):
    form = GatewayForm
    list_display = ["name", "kind", "enabled", "for_buyers", "endpoint"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["stored_credentials"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled", "for_buyers", "endpoint", "config",
                           "timeout_seconds"]}),
        (_("Credentials"), {"fields": ["stored_credentials", "new_credentials"]}),
    ]


class SendTestForm(forms.Form):
    gateway = forms.ModelChoiceField(
        label=_("gateway"), queryset=Gateway.objects.filter(kind__in=Gateway.SMS_KINDS),
        help_text=_("The SMS gateway to send through (its real adapter and credentials)."))
    phone = forms.CharField(label=_("phone"), max_length=32,
                            help_text=_("Your own phone: the test uses sample values."))


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["event", "audience", "language", "active", "sms_template_code", "updated_at"]
    list_filter = ["event", "audience", "language", "active"]
    readonly_fields = ["variables_help", "send_test_link"]
    fields = ["event", "audience", "language", "active", "variables_help", "subject", "body",
              "sms_template_code", "parameter_map", "sms_sign_name", "send_test_link"]

    def get_urls(self):
        return [path("<int:template_id>/send-test/", self.admin_site.admin_view(self.send_test),
                     name="notifications_messagetemplate_send_test"), *super().get_urls()]

    @admin.display(description=_("test"))
    def send_test_link(self, obj):
        if not obj or not obj.pk:
            return _("Save the template first.")
        url = reverse("admin:notifications_messagetemplate_send_test", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Send test SMS"))

    def send_test(self, request, template_id):
        template = get_object_or_404(MessageTemplate, pk=template_id)
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        result = None
        initial = {"gateway": default_buyer_gateway()}
        form = SendTestForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.template_send_test(
                    template=template, gateway=form.cleaned_data["gateway"],
                    phone=form.cleaned_data["phone"], actor=request.user)
            except services.NotificationError as exc:
                form.add_error(None, exc.message)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "original": template, "form": form, "result": result,
                   "title": _("Send a test SMS")}
        return render(request, "notifications/admin/send_test.html", context)

    @admin.display(description=_("variables you may use"))
    def variables_help(self, obj):
        if not obj or not obj.event:
            return "; ".join(f"{event}: {', '.join(names)}"
                             for event, names in EVENT_VARIABLES.items())
        return ", ".join("{{ " + name + " }}" for name in obj.variables)


@admin.register(AlertRoute)
class AlertRouteAdmin(admin.ModelAdmin):
    list_display = ["event", "gateway", "recipient", "warehouse", "language", "enabled"]
    list_filter = ["event", "gateway", "enabled"]
    list_select_related = ["gateway", "warehouse"]


@admin.register(WarehouseContact)
class WarehouseContactAdmin(admin.ModelAdmin):
    list_display = ["name", "warehouse", "role", "gateway", "enabled"]
    list_filter = ["role", "warehouse", "enabled"]
    list_select_related = ["gateway", "warehouse"]


class MessageAttemptInline(admin.TabularInline):
    model = MessageAttempt
    extra = 0
    can_delete = False
    fields = ["started_at", "ok", "status_code", "error", "provider_id", "actor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind", "event", "gateway", "shown_recipient", "status",
                    "attempts"]
    list_filter = ["status", "kind", "event", "gateway"]
    list_select_related = ["gateway"]
    search_fields = ["dedupe_key", "order__number"]
    exclude = ["recipient"]
    readonly_fields = ["shown_recipient"]
    inlines = [MessageAttemptInline]
    actions = ["resend"]

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in Message._meta.fields if f.name != "recipient"]
        return ["shown_recipient", *fields]

    @admin.display(description=_("recipient (masked)"))
    def shown_recipient(self, obj):
        # Always masked here: the message log page shows full numbers to the roles
        # that may see them (the admin instance is shared, so no per-request state).
        return ", ".join(mask_one(p) for p in obj.recipient.split(","))

    @admin.action(description=_("Resend the selected messages"),
                  permissions=["resend"])
    def resend(self, request, queryset):
        done = 0
        for message in queryset:
            try:
                services.message_resend(message=message, actor=request.user)
                done += 1
            except services.NotificationError as exc:
                messages.warning(request, f"#{message.pk}: {exc.message}")
        if done:
            messages.success(request, _("%(n)s queued for sending.") % {"n": done})

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_message")
