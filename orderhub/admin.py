"""Admin for the order core.

The status is read-only here: it changes only through the transition actions,
which call the same service as the order page. Edits to an order's details go
through ``order_update`` so they are versioned and logged like any other edit.
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from orderhub.admin_mixins import ReadOnlyAdmin
from orderhub.models import (
    Customer,
    Order,
    OrderEvent,
    OrderLine,
    OrderTransitionLog,
    Tag,
)
from orderhub.services.orders import (
    EDITABLE_FIELDS,
    REASON_REQUIRED,
    USER_TRANSITIONS,
    OrderServiceError,
    order_transition,
    order_update,
)


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ["name", "phone", "tier", "credit_limit", "open_balance", "created_at"]
    list_filter = ["tier"]
    search_fields = ["name", "phone", "email"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["sku_code", "name", "quantity", "unit_price", "is_gift"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class TransitionLogInline(admin.TabularInline):
    model = OrderTransitionLog
    extra = 0
    fields = ["created_at", "transition", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255, widget=forms.TextInput(
        attrs={"size": 60}))


def _transition_action(name: str):
    needs_reason = name in REASON_REQUIRED

    def action(modeladmin, request, queryset):
        reason = ""
        if needs_reason:
            if "apply" not in request.POST:
                return TemplateResponse(request, "admin/orderhub/order/transition_reason.html", {
                    **modeladmin.admin_site.each_context(request),
                    "title": _("Reason for “%(action)s”") % {"action": name},
                    "orders": queryset,
                    "action": request.POST["action"],
                    "form": ReasonForm(),
                    "opts": modeladmin.model._meta,
                    "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                })
            form = ReasonForm(request.POST)
            if not form.is_valid():
                modeladmin.message_user(request, _("Please give a reason."), messages.ERROR)
                return None
            reason = form.cleaned_data["reason"]
        done, failed = 0, []
        for order in queryset.order_by("pk"):
            try:
                order_transition(order=order.pk, name=name, actor=request.user, reason=reason)
                done += 1
            except OrderServiceError as exc:
                failed.append(f"{order.number}: {exc.message}")
        if done:
            modeladmin.message_user(
                request, _("%(n)d order(s): %(action)s done.") % {"n": done, "action": name},
                messages.SUCCESS,
            )
        for line in failed:
            modeladmin.message_user(request, line, messages.ERROR)
        return None

    action.__name__ = f"transition_{name}"
    action.short_description = _("Order action: %(name)s") % {"name": name}
    action.allowed_permissions = ("transition",)
    return action


class OrderAdminForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = EDITABLE_FIELDS


@admin.register(Order)
class OrderAdmin(SimpleHistoryAdmin):
    form = OrderAdminForm
    list_display = [
        "number", "channel", "external_id", "status", "priority", "kind", "buyer_name",
        "total", "currency", "warehouse", "placed_at",
    ]
    list_filter = ["status", "channel", "warehouse", "priority", "kind", "tags"]
    search_fields = ["=number", "=external_id", "=buyer_phone", "=tracking_number", "=legacy_id"]
    date_hierarchy = "placed_at"
    list_select_related = ["channel", "warehouse"]
    show_full_result_count = False
    readonly_fields = [
        "number", "channel", "external_id", "legacy_id", "status", "held_from", "hold_reason",
        "cancel_reason", "customer", "currency", "subtotal", "shipping_fee", "discount", "total",
        "placed_at", "paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at",
    ]
    inlines = [OrderLineInline, TransitionLogInline]
    actions = [_transition_action(name) for name in USER_TRANSITIONS]

    def has_add_permission(self, request):
        # Orders come from channels and the services; an admin form would skip both.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_transition_permission(self, request):
        # Each transition re-checks its own permission in the service.
        return request.user.has_perm("orderhub.view_order")

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            order_update(order=obj.pk, actor=request.user, changes=changes,
                         reason="edited in admin")
        except OrderServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(OrderTransitionLog)
class OrderTransitionLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "transition", "from_status", "to_status", "actor"]
    list_filter = ["transition", "to_status"]
    search_fields = ["=order__number", "actor"]
    list_select_related = ["order"]
    show_full_result_count = False


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "order", "kind", "actor", "message"]
    list_filter = ["kind"]
    search_fields = ["=order__number", "actor", "message"]
    list_select_related = ["order"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
