"""The production compose file runs what the code needs: every queue a task is routed
to has exactly one worker group, exactly one beat, and every long-running service has a
health check and a restart policy. The Procfile (development) consumes the same queues.

The worker health check is also run for real against a worker named as compose names it.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orderhub.celery import QUEUES
from orderhub.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _argv(command) -> list[str]:
    return command if isinstance(command, list) else shlex.split(command)


def _option(argv: list[str], *names: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg in names and index + 1 < len(argv):
            return argv[index + 1]
    return None


def _celery_role(service: dict) -> str | None:
    argv = _argv(service.get("command") or [])
    if argv[:3] == ["celery", "-A", "orderhub"] and len(argv) > 3:
        return argv[3]
    return None


def _workers(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items()
            if _celery_role(service) == "worker"}


def _routed_queues() -> set[str]:
    """Every queue some task or beat entry can land on, as the code routes them."""
    celery_app.loader.import_default_modules()
    router = celery_app.amqp.router
    queues = {router.route({}, name)["queue"].name
              for name in celery_app.tasks if not name.startswith("celery.")}
    queues |= {entry["options"]["queue"] for entry in celery_app.conf.beat_schedule.values()
               if "queue" in entry.get("options", {})}
    return queues


def _one_shot(service: dict) -> bool:
    return service.get("restart") == "no"


# --- queues and workers ---------------------------------------------------------------


def test_routing_reaches_every_declared_queue():
    # Guards the test below against a router that sends everything to "default".
    assert _routed_queues() == set(QUEUES)


def test_every_routed_queue_has_exactly_one_worker_group(compose):
    consumers: dict[str, list[str]] = {}
    for name, service in _workers(compose).items():
        queues = _option(_argv(service["command"]), "-Q", "--queues")
        assert queues, f"{name} consumes no explicit queue (it would take only 'celery')"
        for queue in queues.split(","):
            consumers.setdefault(queue, []).append(name)
    routed = _routed_queues()
    assert {q: names for q, names in consumers.items() if len(names) != 1} == {}
    assert routed - set(consumers) == set(), "tasks routed to a queue no worker consumes"
    assert set(consumers) - set(QUEUES) == set(), "a worker consumes an undeclared queue"


def test_worker_groups_are_named_and_checked_by_their_group(compose):
    for name, service in _workers(compose).items():
        argv = _argv(service["command"])
        group = _option(argv, "-Q", "--queues")
        assert name == f"worker-{group}"
        # -n GROUP@%h: unique per replica (container host name), pinged by the health check.
        assert _option(argv, "-n", "--hostname") == f"{group}@%h", name
        assert service["healthcheck"]["test"] == [
            "CMD", "python", "scripts/healthcheck.py", "worker", group]
        # Concurrency per group from the environment, with a default.
        variable = f"CELERY_{group.upper()}_CONCURRENCY"
        assert re.fullmatch(r"\$\{" + variable + r":-\d+\}",
                            _option(argv, "--concurrency", "-c")), name


def test_workers_get_time_to_finish_a_task_on_stop(compose):
    limit = celery_app.conf.task_time_limit
    for name, service in _workers(compose).items():
        grace = service["stop_grace_period"]
        match = re.fullmatch(r"(\d+)s", grace)
        assert match and int(match.group(1)) > limit, (name, grace, limit)


def test_exactly_one_beat_that_cannot_be_scaled(compose):
    beats = [name for name, service in compose["services"].items()
             if _celery_role(service) == "beat"]
    assert beats == ["beat"]
    beat = compose["services"]["beat"]
    # Compose refuses `--scale beat=2` for a service with a fixed container name
    # (deploy.replicas would not stop it: --scale overrides that).
    assert beat["container_name"]
    assert "replicas" not in beat.get("deploy", {})


# --- health checks, restarts, start order ---------------------------------------------


def test_every_service_has_a_healthcheck_and_a_restart_policy(compose):
    for name, service in compose["services"].items():
        if _one_shot(service):
            continue
        assert service.get("restart") in RESTART_POLICIES, name
        check = service.get("healthcheck", {})
        assert not check.get("disable") and check.get("test"), f"{name} has no healthcheck"


def test_one_shot_migrate_runs_before_every_app_process(compose):
    services = compose["services"]
    one_shots = {name for name, service in services.items() if _one_shot(service)}
    assert one_shots == {"migrate"}
    assert _argv(services["migrate"]["command"])[-3:] == ["manage.py", "migrate", "--noinput"]
    for name, service in services.items():
        if name in {"web", "beat"} or name in _workers(compose):
            condition = service["depends_on"]["migrate"]["condition"]
            assert condition == "service_completed_successfully", name
            # Migrating from web would race once per web replica.
            assert "migrate" not in " ".join(_argv(service["command"])), name


def test_web_scales_behind_the_proxy(compose):
    services = compose["services"]
    # Only the proxy publishes a host port, so `--scale web=3` cannot clash on it.
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["proxy"]
    assert services["proxy"]["ports"] == ["${WEB_PORT:-8000}:8080"]
    conf = compose["configs"]["proxy-conf"]["content"]
    # Resolved at run time through Docker's DNS, so new web replicas are used.
    assert "resolver 127.0.0.11" in conf
    assert "set $$web http://web:8000;" in conf and "proxy_pass $$web;" in conf
    assert "listen 8080;" in conf and "location = /proxy-health" in conf


def test_procfile_worker_consumes_every_routed_queue():
    procs = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                 if line.strip())
    queues = _option(shlex.split(procs["worker"]), "-Q")
    assert set(queues.split(",")) == _routed_queues()


# --- the worker health check, for real -------------------------------------------------


def _run_check(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/healthcheck.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_worker_healthcheck_pings_the_worker_by_its_compose_name(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        ORDERHUB_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="orderhub.settings",
        DEBUG="1",
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            # The compose command's naming: -n GROUP@%h.
            [CELERY, "-A", "orderhub", "worker", "-Q", "notify", "-n", "notify@%h",
             "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        result = _run_check("worker", "notify", env=env)
        while result.returncode != 0 and time.monotonic() < deadline:
            time.sleep(2)
            result = _run_check("worker", "notify", env=env)
        assert result.returncode == 0, result.stderr + log_path.read_text(errors="replace")
        # Another group's name on this host has no worker: unhealthy, and it says whom.
        other = _run_check("worker", "ingest", env=env)
        assert other.returncode == 1
        assert "no answer from ingest@" in other.stderr
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


def test_healthcheck_rejects_a_worker_check_without_its_group():
    result = _run_check("worker", env=dict(os.environ))
    assert result.returncode != 0
    assert "worker GROUP" in result.stderr
