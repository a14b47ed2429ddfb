"""Admin building blocks shared by every app's admin."""

import json

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class ReadOnlyAdmin(admin.ModelAdmin):
    """For ledger-like rows that only services write: browse and search, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CredentialsForm(forms.ModelForm):
    """A model form with a write-only ``new_credentials`` JSON field.

    For models that keep secrets encrypted behind a ``credentials`` property and
    show them with ``masked_credentials`` (channels, carrier accounts, notification
    gateways). The secrets are never put back into the form: an empty field keeps
    what is stored, a JSON object replaces it, anything else is refused. Subclasses
    set ``credentials_help`` (what the vendor's object looks like) and may set
    ``credentials_rows``.
    """

    credentials_help = ""
    credentials_rows = 4

    new_credentials = forms.CharField(
        label=_("new credentials"), required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["new_credentials"]
        field.help_text = self.credentials_help
        field.widget.attrs["rows"] = self.credentials_rows

    def clean_new_credentials(self):
        raw = self.cleaned_data.get("new_credentials", "").strip()
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("This is not valid JSON.")) from exc
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise forms.ValidationError(_("Give a JSON object of names and values."))
        return data

    def save(self, commit=True):
        obj = super().save(commit=False)
        if self.cleaned_data.get("new_credentials") is not None:
            obj.credentials = self.cleaned_data["new_credentials"]
        if commit:
            obj.save()
            self.save_m2m()
        return obj


class CredentialsAdminMixin:
    """For a ModelAdmin whose form is a ``CredentialsForm``: list ``stored_credentials``
    in ``readonly_fields`` and the fieldsets to show the stored secrets masked."""

    @admin.display(description=_("stored credentials"))
    def stored_credentials(self, obj):
        if not obj or not obj.credentials_encrypted:
            return "—"
        return ", ".join(f"{k}: {v}" for k, v in obj.masked_credentials.items())
