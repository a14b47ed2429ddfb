"""Forms of manual order entry (``/orders/new/``): the order's head and its lines.

Forms only validate and convert; the order is written by ``order_create`` (and
``order_transition("pay")``) in ``orderhub.views.new_order``.

The core may not import the apps (import-linter contract), so the channel model
is reached through ``Order.channel`` and the SKU catalogue through the app
registry (``catalogue_skus``), the way ``seed_demo`` does.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from orderhub.models import Order, normalize_phone

# Who may type a price other than the catalogue's: money decisions belong to
# whoever may mark an order paid (managers, admins); the role table has no
# separate pricing permission and this item adds no migration.
PRICE_OVERRIDE_PERMS = ("orderhub.pay_order", "orderhub.change_orderline")
# Offline payment is the ``pay`` transition: the same permission the order page asks for.
MARK_PAID_PERM = "orderhub.pay_order"
LINE_ROWS = 5
SEARCH_LIMIT = 20


def may_override_price(user) -> bool:
    return any(user.has_perm(p) for p in PRICE_OVERRIDE_PERMS)


def manual_channels():
    """Enabled channels whose orders are typed in by staff (platform "manual")."""
    channel_model = Order._meta.get_field("channel").related_model
    return channel_model.objects.filter(platform="manual", enabled=True).order_by("name")


def catalogue_skus():
    return apps.get_model("warehouse", "SKU").objects.filter(active=True)


def sku_search(text: str) -> list:
    """Active SKUs whose code, name or a barcode contains ``text`` (at most SEARCH_LIMIT)."""
    text = (text or "").strip()
    if not text:
        return []
    query = Q(code__icontains=text) | Q(name__icontains=text) | Q(barcodes__code=text)
    return list(catalogue_skus().filter(query).distinct().order_by("code")[:SEARCH_LIMIT])


def sku_by_code(code: str):
    """The active SKU with this code (or barcode), or None."""
    code = (code or "").strip()
    if not code:
        return None
    skus = catalogue_skus()
    return (skus.filter(code=code).first()
            or skus.filter(barcodes__code=code).first())


def sku_price(sku) -> Decimal | None:
    """The catalogue price of ``sku`` (``attributes["price"]``), or None when it has none."""
    raw = (sku.attributes or {}).get("price") if sku is not None else None
    if raw in (None, ""):
        return None
    try:
        return Decimal(str(raw)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return None


def _phone(value: str, country: str = "CN") -> str:
    return normalize_phone(value, country) if value else ""


class NewOrderForm(forms.Form):
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=None, empty_label=None)
    kind = forms.ChoiceField(label=_("Kind"), initial=Order.Kind.B2C,
                             choices=[(Order.Kind.B2C, Order.Kind.B2C.label),
                                      (Order.Kind.B2B, Order.Kind.B2B.label)])
    buyer_phone = forms.CharField(label=_("Buyer phone"), max_length=32)
    buyer_name = forms.CharField(label=_("Buyer"), max_length=120)
    buyer_email = forms.EmailField(label=_("Buyer e-mail"), required=False)
    ship_name = forms.CharField(label=_("Recipient"), max_length=120, required=False,
                                help_text=_("Empty: the buyer."))
    ship_phone = forms.CharField(label=_("Recipient phone"), max_length=32, required=False,
                                 help_text=_("Empty: the buyer's phone."))
    ship_province = forms.CharField(label=_("Province / state"), max_length=64)
    ship_city = forms.CharField(label=_("City"), max_length=64)
    ship_district = forms.CharField(label=_("District"), max_length=64, required=False)
    ship_street = forms.CharField(label=_("Street address"), max_length=255)
    ship_postcode = forms.CharField(label=_("Postcode"), max_length=16, required=False)
    shipping_fee = forms.DecimalField(label=_("Shipping fee"), min_value=0, max_digits=12,
                                      decimal_places=2, required=False)
    buyer_message = forms.CharField(label=_("Note from the buyer"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 2}))
    paid = forms.BooleanField(label=_("Paid (offline payment received)"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["channel"].queryset = manual_channels()
        if not user.has_perm(MARK_PAID_PERM):
            self.fields["paid"].disabled = True
            self.fields["paid"].help_text = _("Only a manager can mark an order paid.")

    def clean_buyer_phone(self):
        return _phone(self.cleaned_data["buyer_phone"])

    def clean_ship_phone(self):
        return _phone(self.cleaned_data["ship_phone"])

    def clean(self):
        data = super().clean()
        if not data.get("ship_name") and data.get("buyer_name"):
            data["ship_name"] = data["buyer_name"]
        if not data.get("ship_phone") and data.get("buyer_phone"):
            data["ship_phone"] = data["buyer_phone"]
        return data

    def create_fields(self) -> dict:
        """Keyword fields for ``order_create`` (channel and paid excluded)."""
        data = dict(self.cleaned_data)
        data.pop("channel")
        data.pop("paid")
        data["shipping_fee"] = data.get("shipping_fee") or Decimal("0")
        return data


class LineForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64, required=False)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, required=False)
    unit_price = forms.DecimalField(label=_("Unit price"), min_value=0, max_digits=12,
                                    decimal_places=2, required=False)
    is_gift = forms.BooleanField(label=_("Gift"), required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        code = (data.get("sku") or "").strip()
        if not code:
            return data  # an empty row
        sku = sku_by_code(code)
        if sku is None:
            self.add_error("sku", ValidationError(
                _("No active SKU “%(code)s” in the catalogue."), params={"code": code}))
            return data
        if not data.get("quantity"):
            data["quantity"] = 1
        default = sku_price(sku)
        price = data.get("unit_price")
        if data.get("is_gift"):
            # A gift is free: its price is never typed.
            price = Decimal("0")
        elif price is None:
            if default is None:
                self.add_error("unit_price", _("This SKU has no price: type one."))
                return data
            price = default
        elif default is not None and price != default and not may_override_price(self.user):
            self.add_error("unit_price", ValidationError(
                _("Only a manager may change the price (catalogue price %(price)s)."),
                params={"price": default}))
            return data
        data["line"] = {"sku_code": sku.code, "name": sku.name, "quantity": data["quantity"],
                        "unit_price": price, "is_gift": bool(data.get("is_gift"))}
        return data


class BaseLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        lines = [form.cleaned_data["line"] for form in self.forms
                 if form.cleaned_data.get("line")]
        if not lines:
            raise ValidationError(_("Add at least one line."))
        keys = [(line["sku_code"], line["is_gift"]) for line in lines]
        if len(set(keys)) != len(keys):
            raise ValidationError(_("Each SKU may appear only once (once more as a gift)."))
        self.lines = lines


LineFormSet = forms.formset_factory(LineForm, formset=BaseLineFormSet, extra=LINE_ROWS,
                                    max_num=50, validate_max=True)
