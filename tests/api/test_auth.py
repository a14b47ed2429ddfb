"""Token auth, scopes, revocation, rate limit and body size: refused before any work,
in the one JSON error shape."""

from __future__ import annotations

import pytest
from django.test import override_settings

from api import auth
from api.models import ApiToken
from api.tokens import token_revoke
from orderhub.models import Order, OrderEvent
from tests.api.conftest import assert_error


def test_no_token_or_a_wrong_one_is_401(api_as, make_token):
    _token, raw = make_token("ops", "read")
    assert_error(api_as(None).get("/orders"), 401, "unauthenticated")
    assert_error(api_as("oh_nope_nope").get("/orders"), 401, "unauthenticated")
    # Right prefix, wrong secret.
    assert_error(api_as(raw[:-2] + "xx").get("/orders"), 401, "unauthenticated")
    assert api_as(raw).get("/orders").status_code == 200


def test_the_secret_is_not_stored_and_last_use_is_recorded(api_as, make_token):
    token, raw = make_token("ops", "read")
    assert token.last_used_at is None
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in {str(v) for v in stored.values()}
    assert raw.startswith(f"oh_{token.prefix}_") and len(token.key_hash) == 64
    api_as(raw).get("/orders")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_read_token_cannot_write(api_as, make_token, make_order):
    order = make_order("paid")
    _token, raw = make_token("manager", "read")
    api = api_as(raw)
    assert api.get(f"/orders/{order.number}").status_code == 200
    response = api.post(f"/orders/{order.number}/notes", {"text": "hello"})
    assert_error(response, 403, "insufficient_scope")
    assert not OrderEvent.objects.filter(order=order, kind="note").exists()


def test_a_revoked_token_is_refused_at_once(api_as, make_token, make_order):
    order = make_order("paid")
    token, raw = make_token("manager", "write")
    api = api_as(raw)
    assert api.get("/orders").status_code == 200
    token_revoke(token=token)
    # The very next request, same client, no cache to expire.
    assert_error(api.get("/orders"), 401, "token_revoked")
    assert_error(api.post(f"/orders/{order.number}/notes", {"text": "x"}), 401,
                 "token_revoked")
    assert not OrderEvent.objects.filter(order=order, kind="note").exists()


def test_the_users_role_limits_the_token(api_as, make_token, make_order):
    order = make_order("paid")
    _token, raw = make_token("finance", "write")  # finance may not add notes
    assert_error(api_as(raw).post(f"/orders/{order.number}/notes", {"text": "x"}), 403,
                 "forbidden")
    _token, raw = make_token("sales_manager", "read")  # no stock pages
    assert_error(api_as(raw).get("/stock"), 403, "forbidden")


def test_rate_limit_per_token(api_as, make_token):
    _token, raw = make_token("ops", "read", rate_limit=3)
    _other, other_raw = make_token("ops", "read", rate_limit=3)
    api = api_as(raw)
    for _ in range(3):
        assert api.get("/channels").status_code == 200
    response = api.get("/channels")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another token has its own budget.
    assert api_as(other_raw).get("/channels").status_code == 200


def test_rate_limit_fails_open_without_the_cache(api_as, make_token, monkeypatch):
    _token, raw = make_token("ops", "read", rate_limit=1)

    class Down:
        def add(self, *args, **kwargs):
            raise ConnectionError("redis is down")

        incr = add

    monkeypatch.setattr(auth, "cache", Down())
    api = api_as(raw)
    assert [api.get("/channels").status_code for _ in range(3)] == [200, 200, 200]


@override_settings(API_MAX_BODY_BYTES=2000)
def test_an_oversized_body_is_413_and_changes_nothing(api_as, make_token, make_order):
    order = make_order("paid")
    _token, raw = make_token("manager", "write")
    response = api_as(raw).post(f"/orders/{order.number}/notes", {"text": "x" * 5000})
    assert_error(response, 413, "body_too_large")
    assert not OrderEvent.objects.filter(order=order, kind="note").exists()


@pytest.mark.parametrize("body, field", [
    ({"text": "hi", "colour": "red"}, "colour"),  # unknown field
    ({"text": 5}, "text"),  # wrong type
    ({}, "text"),  # missing
    ({"text": "nul\u0000"}, "text"),
])
def test_bad_input_is_422_with_field_errors(api_as, make_token, make_order, body, field):
    order = make_order("paid")
    _token, raw = make_token("manager", "write")
    error = assert_error(api_as(raw).post(f"/orders/{order.number}/notes", body), 422,
                         "invalid")
    assert field in [f["field"] for f in error["fields"]]
    assert not OrderEvent.objects.filter(order=order, kind="note").exists()


def test_broken_json_is_400(api_as, make_token, make_order):
    order = make_order("paid")
    _token, raw = make_token("manager", "write")
    assert_error(api_as(raw).post(f"/orders/{order.number}/notes", raw_body="{nope"), 400,
                 "bad_request")


def test_unknown_order_is_404(api_as, make_token):
    _token, raw = make_token("manager", "write")
    assert_error(api_as(raw).get("/orders/OH000"), 404, "not_found")
    assert_error(api_as(raw).post("/orders/OH000/notes", {"text": "x"}), 404, "not_found")
    assert Order.objects.count() == 0


def test_errors_speak_chinese_when_asked(api_as):
    response = api_as(None).get("/orders", headers={"Accept-Language": "zh-hans"})
    body = assert_error(response, 401, "unauthenticated")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
