"""``/healthz``: 200 when the database and the broker answer, 503 when either does not."""

import pytest
from django.db import OperationalError
from django.test import Client

from orderhub.celery import app as celery_app
from orderhub.views import health


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthy_without_login():
    response = Client().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_unreachable_broker_is_503(monkeypatch):
    # Nothing listens on that port: the broker check must fail fast, not hang.
    monkeypatch.setitem(celery_app.conf, "broker_url", f"redis://127.0.0.1:{_free_port()}/0")
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})

    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error")


class _BrokenConnection:
    def cursor(self):
        raise OperationalError("could not connect to server")


@pytest.mark.django_db
def test_failing_database_is_503(monkeypatch):
    monkeypatch.setattr(health, "connection", _BrokenConnection())

    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "error: OperationalError"
    assert body["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_healthz_is_not_redirected_to_https(settings):
    # Load balancers and container health checks probe over plain HTTP.
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/healthz").status_code == 200
    assert Client().get("/login/").status_code == 301


@pytest.mark.django_db
def test_healthz_only_answers_get():
    assert Client().post("/healthz").status_code == 405
