"""Admin for automation: routing rules (with dry run), risk rules, blacklist, decisions,
and the credit ledger (on each customer, and as a list).

Rules are edited without code: conditions are rows (field, operator, value,
"not"), the rule says whether all or any must hold. A rule whose conditions
are empty or contradict each other is refused at save with a message saying
why. "Dry run" (on the change form, or the list's "Dry run" link) evaluates
the rule set, including unsaved edits, on recent orders and changes nothing.
"""

from __future__ import annotations

import dataclasses

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fulfillment.models import (
    Blacklist,
    Condition,
    CreditEntry,
    OrderDecision,
    ReviewAction,
    RiskRule,
    Rule,
    ShadowResult,
)
from fulfillment.services.canary import canary_comparison
from fulfillment.services.dryrun import dry_run
from fulfillment.services.rules import (
    RuleSet,
    check_actions,
    check_conditions,
    compile_condition,
    compile_rule,
)
from orderhub.admin import CustomerAdmin
from orderhub.admin_mixins import ReadOnlyAdmin
from orderhub.models import Customer

RULES_HELP = _(
    "Enabled active rules run from the lowest position up. Warehouse and carrier: the first "
    "matching rule that names one wins. Priority: the most urgent wins. Tags and review "
    "reasons accumulate. “Stop” ends the evaluation after that rule. Shadow rules never act: "
    "they record what they would do for their share of orders. Canary rules act on their "
    "share of the orders they match and record the rest as shadow results; the rule's page "
    "compares the two groups. With no rule naming a "
    "warehouse, the order goes to the active warehouse serving its region that has all the "
    "stock, else any that has it, else it is out of stock."
)


class ConditionForm(forms.ModelForm):
    class Meta:
        model = Condition
        fields = ["negate", "field", "operator", "value"]

    def clean(self):
        data = super().clean()
        if data.get("field") and data.get("operator") and not data.get("DELETE"):
            try:
                compile_condition(data["field"], data["operator"], data.get("value", ""),
                                  data.get("negate", False))
            except ValidationError as exc:
                self.add_error("value", exc)
        return data


class ConditionFormSet(BaseInlineFormSet):
    """Checks the conditions together: none at all, or a contradiction, is refused."""

    def compiled(self):
        out = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("field"):
                continue
            out.append(compile_condition(data["field"], data["operator"], data.get("value", ""),
                                         data.get("negate", False)))
        return out

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        errors = check_conditions(self.instance.match, self.compiled())
        if errors:
            raise ValidationError(errors)


class ConditionInline(admin.TabularInline):
    model = Condition
    form = ConditionForm
    formset = ConditionFormSet
    extra = 1
    min_num = 0


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "position", "enabled", "mode", "shadow_share", "canary_share", "match",
                  "warehouse", "carrier", "carrier_service", "carrier_choice", "carrier_max_days",
                  "carrier_candidates", "priority", "add_tags", "hold_reason", "stop", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "canary_share" in self.fields:
            # Only canary rules use it: a form without it keeps the default.
            self.fields["canary_share"].required = False

    def clean_canary_share(self):
        value = self.cleaned_data.get("canary_share")
        return value if value is not None else Rule._meta.get_field("canary_share").default

    def clean(self):
        data = super().clean()
        errors = check_actions(
            warehouse_id=data.get("warehouse"), carrier=(data.get("carrier") or "").strip(),
            carrier_service=(data.get("carrier_service") or "").strip(),
            priority=data.get("priority"), add_tags=data.get("add_tags") or "",
            hold_reason=data.get("hold_reason") or "",
            carrier_choice=data.get("carrier_choice") or "",
            carrier_max_days=data.get("carrier_max_days"),
            carrier_candidates=data.get("carrier_candidates") or "",
        )
        if errors:
            raise ValidationError(errors)
        return data


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    inlines = [ConditionInline]
    list_display = ["position", "name", "enabled", "mode", "conditions_summary",
                    "actions_summary"]
    list_display_links = ["name"]
    list_editable = ["position", "enabled"]
    list_filter = ["enabled", "mode"]
    search_fields = ["name", "carrier", "add_tags", "hold_reason"]
    change_list_template = "admin/fulfillment/rule/change_list.html"
    change_form_template = "admin/fulfillment/rule/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "position", "enabled", "mode", "shadow_share", "canary_share",
                           "match"],
                "description": RULES_HELP}),
        (_("Actions"), {"fields": ["warehouse", "carrier", "carrier_service", "carrier_choice",
                                   "carrier_max_days", "carrier_candidates", "priority",
                                   "add_tags", "hold_reason", "stop"]}),
        (None, {"fields": ["note"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse").prefetch_related(
            "conditions")

    @admin.display(description=_("conditions"))
    def conditions_summary(self, obj):
        joiner = f" {obj.match.upper()} "
        return joiner.join(str(c) for c in obj.conditions.all())

    @admin.display(description=_("actions"))
    def actions_summary(self, obj):
        parts = []
        if obj.warehouse:
            parts.append(f"→ {obj.warehouse}")
        if obj.carrier:
            parts.append(f"{obj.carrier}/{obj.carrier_service or '-'}")
        if obj.carrier_choice:
            parts.append(str(obj.get_carrier_choice_display()))
        if obj.priority is not None:
            parts.append(str(obj.get_priority_display()))
        if obj.tag_list:
            parts.append("+" + ",".join(obj.tag_list))
        if obj.hold_reason:
            parts.append(str(_("review")))
        if obj.stop:
            parts.append(str(_("stop")))
        return " · ".join(parts)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The rule's page; a canary rule's shows its applied-vs-shadow comparison."""
        extra_context = dict(extra_context or {})
        rule = Rule.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if rule is not None and (rule.mode == Rule.Mode.CANARY
                                 or ShadowResult.objects.filter(rule=rule, applied=True).exists()):
            extra_context["canary"] = canary_comparison(rule)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        urls = [path("dry-run/", self.admin_site.admin_view(self.dry_run_view),
                     name="fulfillment_rule_dryrun")]
        return urls + super().get_urls()

    def _edited_rule(self, request):
        """The rule as edited on the change form (unsaved), or (None, errors)."""
        rule_id = request.POST.get("_rule_id") or None
        instance = Rule.objects.filter(pk=rule_id).first() if rule_id else None
        form = RuleForm(request.POST, instance=instance)
        if not form.is_valid():
            return None, [f"{k}: {' '.join(v)}" for k, v in form.errors.items()]
        rule = form.save(commit=False)
        formset_class = forms.inlineformset_factory(
            Rule, Condition, form=ConditionForm, formset=ConditionFormSet, extra=0,
            can_delete=True)
        formset = formset_class(request.POST, instance=rule, prefix="conditions")
        if not formset.is_valid():
            errors = [str(e) for e in formset.non_form_errors()]
            for f in formset.forms:
                errors += [f"{k}: {' '.join(v)}" for k, v in f.errors.items()]
            return None, errors or [str(_("The conditions could not be read."))]
        conditions = [Condition(field=d["field"], operator=d["operator"],
                                value=d.get("value", ""), negate=d.get("negate", False))
                      for d in formset.cleaned_data if d and not d.get("DELETE")]
        return (rule, conditions), []

    def dry_run_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        try:
            days = max(1, min(90, int(data.get("days") or 7)))
        except ValueError:
            days = 7
        saved = list(Rule.objects.prefetch_related("conditions").order_by("position", "id"))
        errors, edited = [], None
        if request.method == "POST" and "_rule_id" in request.POST:
            edited, errors = self._edited_rule(request)
            chosen = {r.pk for r in saved if r.enabled}
        elif "rules" in data:
            chosen = {int(x) for x in data.getlist("rules") if x.isdigit()}
        else:
            chosen = {r.pk for r in saved if r.enabled}
        compiled = []
        for rule in saved:
            if edited and rule.pk == edited[0].pk:
                continue
            if rule.pk in chosen:
                compiled.append(compile_rule(rule, list(rule.conditions.all())))
        if edited:
            rule, conditions = edited
            compiled.append(compile_rule(rule, conditions))
        # The dry run shows what each rule would DO, so shadow rules act here.
        compiled = [dataclasses.replace(r, mode="active") for r in compiled]
        positions = {r.pk: (r.position, r.pk) for r in saved}
        if edited:
            positions[edited[0].pk] = (edited[0].position, edited[0].pk or 0)
        compiled.sort(key=lambda r: positions.get(r.id, (0, 0)))
        rows = [] if errors else dry_run(ruleset=RuleSet(compiled), days=days)
        names = {r.pk: r.name for r in saved}
        if edited:
            label = _("edited")
            names[edited[0].pk] = f"{edited[0].name} ({label})"
        for row in rows:
            row.rule_names = [names.get(i, "?") for i in row.matched]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Dry run of routing rules"),
            "rules": saved, "chosen": chosen, "days": days, "rows": rows,
            "changed": sum(1 for r in rows if r.changes), "errors": errors,
            "edited": edited[0] if edited else None,
        }
        return TemplateResponse(request, "admin/fulfillment/rule/dry_run.html", context)


@admin.register(RiskRule)
class RiskRuleAdmin(admin.ModelAdmin):
    list_display = ["kind", "enabled", "count", "hours", "min_street_length", "threshold",
                    "margin"]
    list_editable = ["enabled"]
    readonly_fields = ["kind"]

    def has_add_permission(self, request):
        return len(RiskRule.Kind.values) > RiskRule.objects.count()

    def get_readonly_fields(self, request, obj=None):
        return ["kind"] if obj else []


@admin.register(Blacklist)
class BlacklistAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "reason", "active", "created_at"]
    list_filter = ["kind", "active"]
    search_fields = ["value", "reason"]


@admin.register(OrderDecision)
class OrderDecisionAdmin(ReadOnlyAdmin):
    list_display = ["order_link", "result", "warehouse", "carrier", "carrier_service",
                    "priority", "decided_at"]
    list_filter = ["result", "warehouse", "carrier"]
    search_fields = ["order__number"]
    list_select_related = ["order", "warehouse"]

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("orders:detail", args=[obj.order_id]),
                           obj.order.number)


@admin.register(ShadowResult)
class ShadowResultAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "rule", "order", "matched", "applied", "actions"]
    list_filter = ["rule", "matched", "applied"]
    list_select_related = ["rule", "order"]


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "action", "codes", "user", "comment"]
    list_filter = ["action"]
    list_select_related = ["order", "user"]
    search_fields = ["order__number"]


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "kind", "amount", "balance_after", "credit_limit",
                    "over_limit", "order_link", "actor", "note"]
    list_filter = ["kind", "over_limit"]
    list_select_related = ["customer", "order"]
    search_fields = ["customer__name", "order__number", "note"]

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj):
        if obj.order_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("orders:detail", args=[obj.order_id]),
                           obj.order.number)


class CreditEntryInline(admin.TabularInline):
    """The customer's credit ledger, newest first (written only by the credit service)."""

    model = CreditEntry
    extra = 0
    fields = ["created_at", "kind", "order", "amount", "balance_after", "over_limit", "actor",
              "note"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-created_at", "-id"]
    verbose_name_plural = _("credit ledger (newest first; finance changes it on the customer's "
                            "credit page)")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")


# The order core's customer admin, plus the ledger. The open balance is read-only:
# only the credit service changes it, each time with a ledger entry.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerCreditAdmin(CustomerAdmin):
    inlines = [*CustomerAdmin.inlines, CreditEntryInline]
    readonly_fields = [*CustomerAdmin.readonly_fields, "open_balance", "credit_page"]

    @admin.display(description=_("credit page"))
    def credit_page(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return format_html('<a href="{}">{}</a>',
                           reverse("fulfillment:credit-ledger", args=[obj.pk]),
                           _("Ledger, settle orders, adjust"))
