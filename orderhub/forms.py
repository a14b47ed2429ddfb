"""Forms that parse what staff pages send: list filters, transitions, notes, version picks.

Forms only validate and convert; the list query lives in ``orderhub.selectors``
and every write goes through ``orderhub.services.orders``.
"""

from django import forms
from django.apps import apps
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from orderhub.models import Order, OrderStatus, Tag

# URL value -> (label, ORDER BY fields). "-" in front of a key means descending.
# A whitelist: nothing from the query string ever reaches order_by() unchecked.
SORT_FIELDS = {
    "placed": pgettext_lazy("time", "Placed"),
    "paid": pgettext_lazy("time", "Paid"),
    "total": _("Total"),
    "priority": _("Priority"),
}
DEFAULT_SORT = "-placed"
SORT_CHOICES = [
    (f"{prefix}{key}", f"{label} {arrow}")
    for key, label in SORT_FIELDS.items()
    for prefix, arrow in (("-", "↓"), ("", "↑"))
]

# The filter keys that narrow the set of orders (not sorting or paging).
FILTER_KEYS = ("status", "channel", "warehouse", "priority", "kind", "tag", "date_from",
               "date_to", "q", "priority_min", "paid_from", "paid_to", "shipped_from",
               "shipped_to", "platform")
# Filters that drill-down links (dashboard cards) use; the filter bar keeps them as
# hidden fields so changing another filter does not drop them.
DRILL_DOWN_KEYS = ("priority_min", "paid_from", "paid_to", "shipped_from", "shipped_to",
                   "platform")


class RepeatableChoiceField(forms.MultipleChoiceField):
    """A choice that may be given once (``status=paid``) or repeated; always a list."""

    def to_python(self, value):
        return super().to_python([value] if isinstance(value, str) else value)


class OrderFilterForm(forms.Form):
    """The query string of ``/orders/``.

    Channel, warehouse and tag are given by code/name so a shared URL reads well
    (``?channel=tmall&tag=vip``). ``from``/``to`` are local dates (TIME_ZONE).
    """

    # Repeatable (``status=paid&status=review`` means any of them); a tab sets one.
    status = RepeatableChoiceField(label=_("Status"), required=False,
                                   choices=list(OrderStatus.choices))
    channel = forms.ModelChoiceField(
        label=_("Channel"), required=False, queryset=None, to_field_name="code",
        empty_label=_("All channels"),
    )
    warehouse = forms.ModelChoiceField(
        label=_("Warehouse"), required=False, queryset=None, to_field_name="code",
        empty_label=_("All warehouses"),
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"), required=False, coerce=int, empty_value=None,
        choices=[("", _("Any priority"))] + list(Order.Priority.choices),
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False,
                             choices=[("", _("Any kind"))] + list(Order.Kind.choices))
    tag = forms.ModelChoiceField(
        label=_("Tag"), required=False, queryset=None, to_field_name="name",
        empty_label=_("Any tag"),
    )
    date_from = forms.DateField(label=_("Placed from"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Placed to"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(
        label=_("Search"), required=False, max_length=64, strip=True,
        widget=forms.TextInput(attrs={
            "type": "search",
            "placeholder": _("Order no., platform id, tracking no. or phone"),
            "autocomplete": "off",
        }),
    )
    priority_min = forms.TypedChoiceField(
        label=_("At least priority"), required=False, coerce=int, empty_value=None,
        choices=[("", _("Any priority"))] + list(Order.Priority.choices),
    )
    paid_from = forms.DateField(label=_("Paid from"), required=False)
    paid_to = forms.DateField(label=_("Paid to"), required=False)
    shipped_from = forms.DateField(label=_("Shipped from"), required=False)
    shipped_to = forms.DateField(label=_("Shipped to"), required=False)
    platform = forms.ChoiceField(label=_("Platform"), required=False, choices=[])
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)
    page = forms.IntegerField(label=_("Page"), required=False, min_value=1)

    # "from" is a Python keyword: the fields are date_from/date_to, their URL names from/to.
    URL_NAMES = {"date_from": "from", "date_to": "to"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The core imports no app: the channel and warehouse models by name.
        Channel = apps.get_model("channels", "Channel")
        Warehouse = apps.get_model("warehouse", "Warehouse")
        self.fields["channel"].queryset = Channel.objects.all()
        self.fields["warehouse"].queryset = Warehouse.objects.all()
        self.fields["tag"].queryset = Tag.objects.all()
        self.fields["platform"].choices = [("", _("Any platform"))] + list(
            Channel.Platform.choices
        )
        # The list page re-queries as soon as one of these changes (see orders/_list.html).
        for name in ("channel", "warehouse", "priority", "kind", "tag", "date_from", "date_to"):
            self.fields[name].widget.attrs["class"] = "js-auto"

    def add_prefix(self, field_name):
        # Both reading the data and rendering the inputs go through here.
        return self.URL_NAMES.get(field_name, field_name)

    def clean(self):
        cleaned = super().clean()
        for start_key, end_key in (("date_from", "date_to"), ("paid_from", "paid_to"),
                                   ("shipped_from", "shipped_to")):
            start, end = cleaned.get(start_key), cleaned.get(end_key)
            if start and end and start > end:
                self.add_error(end_key, _("The end date is before the start date."))
        return cleaned

    def filters(self) -> dict:
        """The valid filter values, for the selectors; invalid fields are left out."""
        data = getattr(self, "cleaned_data", {})
        out = {k: data.get(k) for k in FILTER_KEYS if data.get(k) not in (None, "", [])}
        out["sort"] = data.get("sort") or DEFAULT_SORT
        return out


class TransitionForm(forms.Form):
    name = forms.CharField(max_length=30)
    expected_status = forms.ChoiceField(choices=OrderStatus.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=1000, strip=True,
                             widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=4000, strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Add an internal note…")}),
        error_messages={"required": _("A note cannot be empty.")},
    )
