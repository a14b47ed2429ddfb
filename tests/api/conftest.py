"""Helpers of the open API tests: tokens for a role's integration user, a JSON client."""

from __future__ import annotations

import json

import pytest

from api.models import ApiToken
from api.tokens import token_create


@pytest.fixture
def make_token(make_user):
    def make(role: str = "manager", scope: str = "write", **extra) -> tuple[ApiToken, str]:
        user = make_user(role, username=extra.pop("username", None))
        return token_create(name=extra.pop("name", f"{role} integration"), user=user,
                            scope=scope, **extra)

    return make


class Api:
    """A Django test client that speaks JSON with a bearer token."""

    def __init__(self, client, raw: str | None):
        self.client = client
        self.raw = raw

    def _headers(self, headers):
        out = {} if self.raw is None else {"Authorization": f"Bearer {self.raw}"}
        out.update(headers or {})
        return out

    def get(self, path, params=None, headers=None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self._headers(headers))

    def post(self, path, body=None, *, raw_body: str | None = None, headers=None):
        data = raw_body if raw_body is not None else json.dumps(body)
        return self.client.post(f"/api/v1{path}", data, content_type="application/json",
                                headers=self._headers(headers))


@pytest.fixture
def api_as(client):
    def make(raw: str | None) -> Api:
        return Api(client, raw)

    return make


@pytest.fixture(autouse=True)
def no_sync_lag(settings):
    # Tests stamp rows and read them at once; the lag itself has its own test.
    settings.API_SYNC_LAG_SECONDS = 0


def assert_error(response, status: int, code: str | None = None):
    """The one error shape: {"code", "message", "fields"}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], list)
    if code is not None:
        assert body["code"] == code, body
    return body
