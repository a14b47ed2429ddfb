"""Admin for outbound webhooks: subscriptions (write-only secret), deliveries with attempts."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from orderhub.admin_mixins import ReadOnlyAdmin
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, EventType, Subscription

MIN_SECRET_LENGTH = 24
SECRET_HELP = _(
    "The shared secret deliveries are signed with (at least 24 characters; e.g. the "
    "output of: python -c \"import secrets; print(secrets.token_urlsafe(32))\"). Give the "
    "receiver the same value. Stored encrypted, never shown again; leave empty to keep "
    "the stored one."
)


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("The events sent to this URL."))
    new_secret = forms.CharField(
        label=_("new secret"), required=False, help_text=SECRET_HELP, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False))

    class Meta:
        model = Subscription
        fields = ["name", "url", "events", "include_buyer_data", "active", "owner"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        # Names are resolved at each send; a literal private address is refused now.
        problem = services.url_problem(url, resolve_host=False)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def clean_new_secret(self):
        secret = self.cleaned_data.get("new_secret", "")
        if not secret:
            if not (self.instance and self.instance.secret_encrypted):
                raise forms.ValidationError(_("A new subscription needs a secret."))
            return ""
        if len(secret) < MIN_SECRET_LENGTH:
            raise forms.ValidationError(
                _("Use at least %(n)s characters.") % {"n": MIN_SECRET_LENGTH})
        return secret

    def save(self, commit=True):
        obj = super().save(commit=False)
        obj.events = [event for event in EventType.values
                      if event in self.cleaned_data.get("events", [])]
        if self.cleaned_data.get("new_secret"):
            obj.secret = self.cleaned_data["new_secret"]
        if commit:
            obj.save()
        return obj


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "url", "shown_events", "active", "paused", "consecutive_failures",
                    "owner"]
    list_filter = ["active", "paused"]
    search_fields = ["name", "url"]
    readonly_fields = ["stored_secret", "paused", "paused_at", "paused_reason",
                       "consecutive_failures", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "url", "events", "include_buyer_data", "active", "owner"]}),
        (_("Secret"), {"fields": ["stored_secret", "new_secret"]}),
        (_("Health"), {"fields": ["paused", "paused_at", "paused_reason",
                                  "consecutive_failures", "created_at", "updated_at"]}),
    ]
    actions = ["resume", "pause"]

    @admin.display(description=_("events"))
    def shown_events(self, obj):
        labels = dict(EventType.choices)
        return ", ".join(str(labels.get(event, event)) for event in obj.events or [])

    @admin.display(description=_("stored secret"))
    def stored_secret(self, obj):
        if not obj or not obj.secret_encrypted:
            return "—"
        return obj.masked_secret

    @admin.action(description=_("Resume the selected subscriptions"), permissions=["change"])
    def resume(self, request, queryset):
        for subscription in queryset:
            services.subscription_resume(subscription=subscription, actor=request.user)
        messages.success(request, _("%(n)s resumed; waiting deliveries are being sent.")
                         % {"n": queryset.count()})

    @admin.action(description=_("Pause the selected subscriptions"), permissions=["change"])
    def pause(self, request, queryset):
        for subscription in queryset:
            services.subscription_pause(
                subscription=subscription, actor=request.user.get_username(),
                reason=str(_("Paused by %(user)s.") % {"user": request.user.get_username()}))
        messages.success(request, _("%(n)s paused.") % {"n": queryset.count()})


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["started_at", "ok", "status_code", "duration_ms", "error", "response_body",
              "actor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "event", "subscription", "order", "status", "attempts",
                    "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event", "subscription"]
    list_select_related = ["subscription", "order"]
    search_fields = ["uuid", "order__number"]
    raw_id_fields = ["order"]
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Delivery._meta.fields if f.name != "id"]

    @admin.action(description=_("Re-send the selected deliveries"), permissions=["resend"])
    def resend(self, request, queryset):
        done = 0
        for delivery in queryset:
            try:
                services.delivery_resend(delivery=delivery, actor=request.user)
                done += 1
            except services.WebhookError as exc:
                messages.warning(request, f"#{delivery.pk}: {exc.message}")
        if done:
            messages.success(request, _("%(n)s queued for sending.") % {"n": done})

    def has_resend_permission(self, request):
        return request.user.has_perm("webhooks.resend_delivery")
