"""Forms for filing and deciding change requests (input parsing only)."""

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from fulfillment.changes.models import ApprovalDecision, ChangeRequest
from orderhub.models import Order


class ChangeRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Request"), choices=ChangeRequest.Kind.choices,
                             widget=forms.RadioSelect, initial=ChangeRequest.Kind.CHANGE)
    reason = forms.CharField(label=_("Reason"), max_length=1000,
                             widget=forms.Textarea(attrs={"rows": 2}))
    expected_status = forms.CharField(widget=forms.HiddenInput)
    ship_name = forms.CharField(label=_("Recipient"), max_length=120, required=False)
    ship_phone = forms.CharField(label=_("Recipient phone"), max_length=32, required=False)
    ship_province = forms.CharField(label=_("Province / state"), max_length=64, required=False)
    ship_city = forms.CharField(label=_("City"), max_length=64, required=False)
    ship_district = forms.CharField(label=_("District"), max_length=64, required=False)
    ship_street = forms.CharField(label=_("Street address"), max_length=255, required=False)
    ship_postcode = forms.CharField(label=_("Postcode"), max_length=16, required=False)
    carrier = forms.CharField(label=_("Carrier code"), max_length=40, required=False)
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Order.Priority.choices,
                                      coerce=int)
    note = forms.CharField(label=_("Note for the warehouse"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class LineForm(forms.Form):
    sku_code = forms.CharField(label=_("SKU"), max_length=64, required=False)
    quantity = forms.IntegerField(label=_("Qty"), min_value=1, required=False)
    unit_price = forms.DecimalField(label=_("Unit price"), min_value=0, max_digits=14,
                                    decimal_places=2, required=False)
    is_gift = forms.BooleanField(label=_("Gift"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("sku_code") and not data.get("DELETE") and data.get("quantity") is None:
            self.add_error("quantity", _("Give a quantity."))
        return data


LineFormSet = formset_factory(LineForm, extra=3, can_delete=True, max_num=100,
                              validate_max=True)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=ApprovalDecision.Decision.choices)
    comment = forms.CharField(label=_("Comment"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))
    expected_step = forms.IntegerField(min_value=0)


class WithdrawForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), max_length=2000, required=False)


class ChangeFilterForm(forms.Form):
    STATUS_CHOICES = [("", _("All")), ("open", _("Open")), *ChangeRequest.Status.choices]
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    mine = forms.BooleanField(label=_("Waiting for me"), required=False)
    filed = forms.BooleanField(label=_("Filed by me"), required=False)
    q = forms.CharField(label=_("Order number"), max_length=64, required=False)
    page = forms.IntegerField(min_value=1, required=False)
