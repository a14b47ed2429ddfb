"""Carriers share the adapter kit: errors are AdapterErrors, HTTP statuses map once."""

import httpx
import pytest
import respx

from fulfillment.shipping.carriers import (
    CarrierAuthError,
    CarrierError,
    CarrierRefused,
    get_adapter,
)
from orderhub.adapters import AdapterAuthError, AdapterError, AdapterPermanentError, is_retryable
from tests.shipping.conftest import SF_SERVICE
from tests.shipping.test_carriers import PARCEL


@respx.mock
@pytest.mark.parametrize("status, error, base, retryable", [
    (503, CarrierError, AdapterError, True),
    (429, CarrierError, AdapterError, True),
    (401, CarrierAuthError, AdapterAuthError, False),
    (403, CarrierAuthError, AdapterAuthError, False),
    (400, CarrierRefused, AdapterPermanentError, False),
])
def test_http_statuses_map_to_carrier_errors_of_the_kit(sf_account, status, error, base,
                                                          retryable):
    respx.post(SF_SERVICE).mock(return_value=httpx.Response(status, text="no"))
    with pytest.raises(error) as caught:
        get_adapter(sf_account).book(PARCEL)
    assert isinstance(caught.value, base)
    assert caught.value.status_code == status
    assert is_retryable(caught.value) is retryable
    assert f"HTTP {status}" in caught.value.message


def test_a_refusal_is_a_permanent_adapter_error():
    assert issubclass(CarrierRefused, AdapterPermanentError)
    assert not is_retryable(CarrierRefused("bad address"))
    assert is_retryable(CarrierError("busy"))
