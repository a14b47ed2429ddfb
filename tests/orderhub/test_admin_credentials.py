"""One credential form for every admin that keeps secrets: channels, carriers, gateways."""

import pytest

from channels.admin import ChannelAdmin, ChannelForm
from fulfillment.notifications.admin import GatewayAdmin, GatewayForm
from fulfillment.shipping.admin import CarrierAccountAdmin, CarrierAccountForm
from orderhub.admin_mixins import CredentialsAdminMixin, CredentialsForm

FORMS = [(ChannelForm, 4), (CarrierAccountForm, 4), (GatewayForm, 3)]


@pytest.mark.parametrize(("form_class", "rows"), FORMS)
def test_each_form_is_the_shared_one_with_its_own_help(form_class, rows):
    assert issubclass(form_class, CredentialsForm)
    field = form_class().fields["new_credentials"]
    assert not field.required and field.help_text == form_class.credentials_help
    assert "never shown again" in str(field.help_text)
    assert field.widget.attrs["rows"] == rows and field.widget.attrs["autocomplete"] == "off"


@pytest.mark.parametrize(("form_class", "rows"), FORMS)
@pytest.mark.parametrize(("raw", "error"), [
    ("{not json", "This is not valid JSON."),
    ('["a", "b"]', "Give a JSON object of names and values."),
])
def test_bad_credentials_are_refused_by_every_form(form_class, rows, raw, error):
    form = form_class(data={"new_credentials": raw})
    form.is_valid()
    assert form.errors["new_credentials"] == [error]


@pytest.mark.parametrize(("form_class", "rows"), FORMS)
def test_an_empty_field_keeps_what_is_stored(form_class, rows):
    form = form_class(data={"new_credentials": "  "})
    form.is_valid()
    assert "new_credentials" not in form.errors
    assert form.cleaned_data["new_credentials"] is None


def test_the_forms_do_not_share_one_widget():
    # The rows of one form must not leak into another (widgets are copied per form).
    assert GatewayForm().fields["new_credentials"].widget.attrs["rows"] == 3
    assert ChannelForm().fields["new_credentials"].widget.attrs["rows"] == 4


@pytest.mark.parametrize("admin_class", [ChannelAdmin, CarrierAccountAdmin, GatewayAdmin])
def test_every_credential_admin_shows_secrets_masked_only(admin_class):
    assert issubclass(admin_class, CredentialsAdminMixin)
    assert "stored_credentials" in admin_class.readonly_fields

    class Stored:
        credentials_encrypted = "gAAAA..."
        masked_credentials = {"access_token": "shpa…9999"}

    shown = admin_class.stored_credentials(None, Stored())
    assert shown == "access_token: shpa…9999"
    assert admin_class.stored_credentials(None, None) == "—"
