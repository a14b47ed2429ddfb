"""Admin: approval chains are configured here; requests and decisions are read-only."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from fulfillment.changes.models import ApprovalChain, ApprovalDecision, ApprovalStep, ChangeRequest
from orderhub.admin_mixins import ReadOnlyAdmin


class StepFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [f for f in self.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE", False)]
        if self.instance.active and not kept:
            raise ValidationError(_("An active chain needs at least one step."))


class ApprovalStepInline(admin.TabularInline):
    model = ApprovalStep
    formset = StepFormSet
    extra = 0
    filter_horizontal = ["groups"]


@admin.register(ApprovalChain)
class ApprovalChainAdmin(admin.ModelAdmin):
    list_display = ["name", "applies_to", "position", "active", "distinct_approvers"]
    list_filter = ["active", "applies_to"]
    inlines = [ApprovalStepInline]


class ApprovalDecisionInline(admin.TabularInline):
    model = ApprovalDecision
    extra = 0
    can_delete = False
    readonly_fields = ["step_index", "step_name", "user", "decision", "comment", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "order", "kind", "status", "requested_by", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["order__number", "order__external_id"]
    list_select_related = ["order", "requested_by"]
    inlines = [ApprovalDecisionInline]
