"""Structured logs: JSON lines, request ids on a request's lines, task ids on a task's.

The in-process tests build the handler from ``settings.LOGGING`` itself (its JSON
formatter and filter), so they test the shipped configuration; the subprocess tests
check that production (DEBUG=0) logs JSON by default and that a worker's lines carry
the task id and the id of the request that queued the task.
"""

import copy
import datetime as dt
import io
import json
import logging
import logging.config
import os
import re
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from orderhub.middleware import REQUEST_ID_HEADER, current_request_id, request_id_var
from orderhub.tasks import echo

ROOT = Path(__file__).resolve().parents[2]
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines():
    """The JSON log lines written while the test runs, parsed (each line must be JSON)."""
    config = copy.deepcopy(settings.LOGGING)
    configurator = logging.config.DictConfigurator(config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(config["formatters"]["json"]))
    for name in config["handlers"]["console"]["filters"]:
        handler.addFilter(configurator.configure_filter(config["filters"][name]))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_requests_log_lines_are_json_with_its_id_and_the_header_echoes_it(client, db,
                                                                            json_lines):
    response = client.get("/no-such-page/")
    request_id = response[REQUEST_ID_HEADER]
    assert GENERATED.fullmatch(request_id)
    # Django logs a 404 after the middleware chain has returned: it still has the id.
    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == request_id
    assert line["level"] == "WARNING" and "Not Found: /no-such-page/" in line["message"]
    # UTC, ISO 8601: a log collector needs no TIME_ZONE to read it.
    assert dt.datetime.fromisoformat(line["time"]).utcoffset() == dt.timedelta(0)
    # Once the response is sent, lines no longer name the request.
    logging.getLogger("orderhub.test").info("after the request")
    assert "request_id" not in json_lines()[-1]


def test_a_well_formed_incoming_id_is_kept(client, db, json_lines):
    incoming = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=incoming)
    assert response[REQUEST_ID_HEADER] == incoming
    assert [line["request_id"] for line in json_lines()
            if line["logger"] == "django.request"] == [incoming]


@pytest.mark.parametrize("incoming", [
    "has spaces in it", 'quote"d', "x" * 200, "line\nbreak", "-leading-dash", "<script>",
])
def test_a_malformed_incoming_id_is_replaced(client, db, json_lines, incoming):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=incoming)
    request_id = response[REQUEST_ID_HEADER]
    assert GENERATED.fullmatch(request_id) and request_id != incoming
    assert all(line["request_id"] == request_id for line in json_lines()
               if line["logger"] == "django.request")


def test_each_request_gets_its_own_id(client, db):
    first, second = client.get("/track/"), client.get("/track/")
    assert first[REQUEST_ID_HEADER] != second[REQUEST_ID_HEADER]


def test_error_responses_of_views_carry_the_id_too(client, db, json_lines, settings):
    # The tracking page's 429 is returned (not raised), so Django logs it after the chain.
    settings.TRACK_RATE_LIMIT = "1/m"
    for _ in range(2):
        response = client.post("/track/", {"number": "OH-NOPE", "phone": "0000"})
    assert response.status_code == 429
    [line] = [line for line in json_lines() if "Too Many Requests" in line["message"]]
    assert line["request_id"] == response[REQUEST_ID_HEADER]


def test_a_task_logs_its_task_id_and_the_queuing_requests_id(json_lines):
    token = request_id_var.set("req-from-the-view")
    try:
        result = echo.apply(args=["hi"], task_id="task-123")
        # The request's id is back once the task is done (eager tasks run inside it).
        assert current_request_id() == "req-from-the-view"
    finally:
        request_id_var.reset(token)
    assert result.get() == "hi"
    traced = [line for line in json_lines() if line["logger"] == "celery.app.trace"]
    assert traced, "the task's success line was not logged"
    assert all(line["task_id"] == "task-123" and line["request_id"] == "req-from-the-view"
               for line in traced)


def test_publishing_a_task_sends_the_request_id_as_a_header():
    from orderhub.celery import REQUEST_ID_HEADER as TASK_HEADER
    from orderhub.celery import _send_request_id

    headers = {}
    _send_request_id(headers=headers)
    assert TASK_HEADER not in headers  # no request, nothing to send
    token = request_id_var.set("req-42")
    try:
        _send_request_id(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers[TASK_HEADER] == "req-42"


def test_a_line_outside_any_request_or_task_has_no_ids(json_lines):
    # No request_id / task_id key at all (not null, not "-").
    logging.getLogger("orderhub.test").warning("no request here")
    assert json_lines()[-1]["message"] == "no request here"
    assert "request_id" not in json_lines()[-1] and "task_id" not in json_lines()[-1]


# --- the real configuration, in processes of their own ------------------------------------

def _env(tmp_path, **extra) -> dict:
    # WhiteNoise warns (on stderr, not a log line) about a missing static folder.
    (tmp_path / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "SECURE_", "LOG_"))}
    env.update(SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="testserver",
               ORDERHUB_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="orderhub.settings",
               SECURE_SSL_REDIRECT="0", **extra)
    return env


LOG_A_REQUEST = textwrap.dedent("""
    import django
    django.setup()
    from django.conf import settings
    from django.test import Client, override_settings
    # No collectstatic here: the 404 page's static links need plain storage.
    storages = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=storages):
        response = Client().get("/no-such-page/", HTTP_X_REQUEST_ID="proxy-id-1")
    print("ECHOED", response["X-Request-ID"], flush=True)
""")


def _run(env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LOG_A_REQUEST], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_production_logs_json_by_default_and_development_plain_text(tmp_path):
    production = _run(_env(tmp_path, DEBUG="0"))
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip() == "ECHOED proxy-id-1"
    lines = [json.loads(line) for line in production.stderr.splitlines()]
    assert [(line["logger"], line["request_id"]) for line in lines] == [
        ("django.request", "proxy-id-1")]

    development = _run(_env(tmp_path, DEBUG="1"))
    assert development.returncode == 0, development.stderr
    assert "WARNING django.request Not Found: /no-such-page/" in development.stderr
    assert not development.stderr.lstrip().startswith("{")

    forced = _run(_env(tmp_path, DEBUG="1", LOG_FORMAT="json"))
    assert json.loads(forced.stderr.splitlines()[0])["request_id"] == "proxy-id-1"


@pytest.mark.slow
def test_an_unknown_log_format_is_refused_with_a_clear_message(tmp_path):
    result = _run(_env(tmp_path, DEBUG="1", LOG_FORMAT="xml"))
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'json' or 'plain', not 'xml'" in result.stderr


QUEUE_FROM_A_REQUEST = textwrap.dedent("""
    import django
    django.setup()
    from orderhub.middleware import request_id_var
    from orderhub.tasks import echo
    request_id_var.set("req-queued-it")
    result = echo.delay("ping")
    assert result.get(timeout=90) == "ping"
    print(result.id)
""")


@pytest.mark.slow
def test_a_workers_task_lines_carry_the_task_id_and_the_queuing_requests_id(tmp_path):
    from tests.orderhub.test_celery import _start_worker, _stop, _worker_log

    env = _env(tmp_path, DEBUG="1", LOG_FORMAT="json",
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.pop("REDIS_URL", None)  # the on-disk broker under tmp_path: no other test's messages
    log_path = tmp_path / "worker.log"
    worker = _start_worker("default", env, log_path)
    try:
        sender = subprocess.run([sys.executable, "-c", QUEUE_FROM_A_REQUEST], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        assert sender.returncode == 0, f"{sender.stderr}\n--- worker ---\n{_worker_log(log_path)}"
        task_id = sender.stdout.strip()
    finally:
        _stop(worker)
    # The worker's banner is printed, not logged; every log line is JSON.
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    succeeded = [line for line in lines if line["logger"] == "celery.app.trace"]
    assert succeeded, _worker_log(log_path)
    assert all(line["task_id"] == task_id and line["request_id"] == "req-queued-it"
               for line in succeeded)
    # The worker's own lines outside the task name no task.
    assert any("task_id" not in line for line in lines)
