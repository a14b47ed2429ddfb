"""Deployment: ``check --deploy`` is clean with production settings, and the
compose file, Dockerfile and Procfile describe the stack the README promises."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker-ingest", "worker-fulfillment", "worker-notify",
                "worker-default", "beat")


def _production_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="orders.example.com",
        ORDERHUB_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="orderhub.settings",
    )
    return env


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings(tmp_path):
    # A subprocess: settings are read once per process, and these differ from the tests'.
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_production_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_production_settings_refuse_to_start_without_secret_key(tmp_path):
    env = _production_env(tmp_path)
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_whole_stack(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", *APP_SERVICES}


def test_compose_app_services_get_their_settings(compose):
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"] == "redis://redis:6379/0", name
        # Required from the operator, never a default baked into the file.
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
        # Channel credentials are encrypted with this key; production has no fallback.
        assert env["CHANNEL_CREDENTIALS_KEY"].startswith("${CHANNEL_CREDENTIALS_KEY:?"), name
        assert env["DEBUG"] == "0", name
        assert "127.0.0.1" in env["ALLOWED_HOSTS"], name


def test_compose_commands(compose):
    # Queues, beat, health checks and restarts: tests/orderhub/test_compose.py.
    services = compose["services"]
    assert "gunicorn orderhub.wsgi:application" in services["web"]["command"]
    assert "/healthz" in (ROOT / "scripts" / "healthcheck.py").read_text()
    assert services["web"]["healthcheck"]["test"][-1] == "web"
    assert services["beat"]["command"].startswith("celery -A orderhub beat")
    for name in APP_SERVICES:
        assert services[name]["depends_on"], name


def test_dockerfile_runs_as_non_root_gunicorn():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    for package in ("libpango-1.0-0", "fonts-noto-cjk", "gettext"):
        assert package in dockerfile
    assert "compilemessages" in dockerfile and "collectstatic" in dockerfile
    assert re.search(r"^USER orderhub$", dockerfile, re.M)
    assert '"gunicorn"' in dockerfile


def test_procfile_runs_web_worker_and_beat():
    procs = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(procs) == {"web", "worker", "beat"}
    assert "127.0.0.1:${WEB_PORT:-8000}" in procs["web"]
    assert "-Q ingest,fulfillment,notify,default" in procs["worker"]
    assert "celery -A orderhub beat" in procs["beat"]


def test_readme_state_diagram_matches_the_state_machine():
    """The README's diagram is hand-written: fail when a transition is added or changed."""
    from django_fsm import GET_STATE

    from orderhub.models import Order

    field = Order._meta.get_field("status")
    in_code = set()
    for transition in field.get_all_transitions(Order):
        targets = (transition.target.allowed_states if isinstance(transition.target, GET_STATE)
                   else [transition.target])
        for target in targets:
            in_code.add((str(transition.source), str(target)))

    readme = (ROOT / "README.md").read_text()
    block = readme.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = {
        (m.group(1), m.group(2))
        for m in re.finditer(r"^\s*(\w+) --> (\w+):", block, re.M)
    }
    assert drawn == in_code
