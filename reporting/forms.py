"""Forms that parse the dashboard's query string and the reconciliation upload."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from channels.models import Channel
from reporting.reconciliation import template_choices
from reporting.selectors import DashboardFilters, sku_categories
from warehouse.models import Warehouse

# A year and a day: enough for any yearly comparison, small enough to stay fast.
MAX_RANGE_DAYS = 367


class DashboardFilterForm(forms.Form):
    """``?from=2026-11-01&to=2026-11-22&channel=tmall&platform=taobao&warehouse=sh&category=tea``.

    Dates are local days in TIME_ZONE; both default to today. Channel and
    warehouse are given by code, as on the order list, so links read well;
    category is a SKU category as written on the SKUs.
    """

    # "From"/"To" alone mean a sender and a recipient elsewhere (notifications): the
    # date range has its own context.
    date_from = forms.DateField(label=pgettext_lazy("date range", "From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=pgettext_lazy("date range", "To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ModelChoiceField(label=_("Channel"), required=False, queryset=None,
                                     to_field_name="code", empty_label=_("All channels"))
    platform = forms.ChoiceField(label=_("Platform"), required=False, choices=())
    warehouse = forms.ModelChoiceField(label=_("Warehouse"), required=False, queryset=None,
                                       to_field_name="code", empty_label=_("All warehouses"))
    category = forms.ChoiceField(label=_("SKU category"), required=False, choices=())

    URL_NAMES = {"date_from": "from", "date_to": "to"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.all()
        self.fields["warehouse"].queryset = Warehouse.objects.all()
        self.fields["platform"].choices = [("", _("All platforms")),
                                           *Channel.Platform.choices]
        self.fields["category"].choices = [("", _("All categories")),
                                           *[(c, c) for c in sku_categories()]]
        self.fields["date_from"].error_messages["invalid"] = _(
            "“From” is not a date; use YYYY-MM-DD."
        )
        self.fields["date_to"].error_messages["invalid"] = _(
            "“To” is not a date; use YYYY-MM-DD."
        )

    def add_prefix(self, field_name):
        return self.URL_NAMES.get(field_name, field_name)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        today = timezone.localdate()
        start = cleaned.get("date_from") or cleaned.get("date_to") or today
        end = cleaned.get("date_to") or max(start, today)
        if start > end:
            raise forms.ValidationError(_("The end date is before the start date."))
        if (end - start).days >= MAX_RANGE_DAYS:
            raise forms.ValidationError(
                _("Pick at most %(days)s days."), params={"days": MAX_RANGE_DAYS}
            )
        cleaned["date_from"], cleaned["date_to"] = start, end
        return cleaned

    def dashboard_filters(self) -> DashboardFilters:
        """The validated filters; call only after ``is_valid()`` returned True."""
        data = self.cleaned_data
        return DashboardFilters(
            date_from=data["date_from"], date_to=data["date_to"],
            channel=data.get("channel"), platform=data.get("platform") or "",
            warehouse=data.get("warehouse"), category=data.get("category") or "",
        )


class ReconciliationUploadForm(forms.Form):
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=None)
    template = forms.ChoiceField(label=_("Column template"), choices=())
    period_from = forms.DateField(label=_("Settlement period from"),
                                  widget=forms.DateInput(attrs={"type": "date"}))
    period_to = forms.DateField(label=_("Settlement period to"),
                                widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(label=_("Settlement file (CSV or XLSX, UTF-8 or GBK)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.all()
        self.fields["template"].choices = template_choices()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("period_from"), cleaned.get("period_to")
        if start and end and start > end:
            self.add_error("period_to", _("The end date is before the start date."))
        upload = cleaned.get("file")
        if upload and not upload.name.lower().endswith((".csv", ".txt", ".xlsx")):
            self.add_error("file", _("Upload a .csv or .xlsx file."))
        return cleaned
