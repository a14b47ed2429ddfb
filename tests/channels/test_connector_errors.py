"""Connector errors are the adapter kit's errors: one base, one HTTP status mapping."""

import httpx
import pytest

from channels.connectors.base import (
    AmbiguousReply,
    AuthError,
    ConnectorError,
    PermanentError,
    channel_error,
    status_error,
)
from channels.connectors.once import request_once
from orderhub.adapters import (
    AdapterAuthError,
    AdapterError,
    AdapterPermanentError,
    http_status_error,
    is_retryable,
)


def test_channel_errors_are_adapter_errors_with_the_same_retry_flag():
    assert isinstance(ConnectorError("x"), AdapterError)
    assert isinstance(AuthError("x"), AdapterAuthError)
    assert isinstance(PermanentError("x"), AdapterPermanentError)
    assert is_retryable(ConnectorError("x")) and is_retryable(AmbiguousReply("x"))
    assert not is_retryable(AuthError("x")) and not is_retryable(PermanentError("x"))


@pytest.mark.parametrize(("status", "kind", "retryable"), [
    (429, ConnectorError, True), (500, ConnectorError, True), (503, ConnectorError, True),
    (401, AuthError, False), (403, AuthError, False),
    (400, PermanentError, False), (404, PermanentError, False), (422, PermanentError, False),
])
def test_reads_map_statuses_like_the_adapter_kit(status, kind, retryable):
    error = status_error("shopify", status, "nope")
    assert type(error) is kind and error.retryable is retryable
    assert error.status_code == status and f"HTTP {status}" in error.message
    assert error.retryable == http_status_error(status, "nope", vendor="shopify").retryable


def test_a_success_is_no_error():
    assert status_error("shopify", 200, "") is None
    assert status_error("shopify", 304, "") is None


def test_a_5xx_to_a_write_may_have_taken_effect_but_429_did_not():
    assert isinstance(status_error("taobao", 502, "bad gateway", write=True), AmbiguousReply)
    rate = status_error("taobao", 429, "slow down", write=True)
    assert type(rate) is ConnectorError and rate.retryable
    assert type(status_error("taobao", 401, "no", write=True)) is AuthError


def test_channel_error_keeps_kind_message_and_status():
    error = channel_error(http_status_error(403, "scope", vendor="amazon"))
    assert type(error) is AuthError and error.status_code == 403 and "scope" in error.message


class _Connector:
    platform = "woocommerce"

    def __init__(self, handler):
        self.client = httpx.Client(transport=httpx.MockTransport(handler))

    def before_request(self, kwargs):
        pass

    def after_response(self, response):
        pass

    def error_text(self, response):
        return response.text[:200]


@pytest.mark.parametrize(("status", "kind"), [
    (500, AmbiguousReply), (429, ConnectorError), (401, AuthError), (422, PermanentError),
])
def test_the_one_attempt_write_uses_the_same_mapping(status, kind):
    connector = _Connector(lambda request: httpx.Response(status, text="refused"))
    with pytest.raises(kind) as caught:
        request_once(connector, "POST", "https://shop.example/wp-json/x")
    assert type(caught.value) is kind and caught.value.status_code == status
