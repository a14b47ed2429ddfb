"""The development stack really runs: the Procfile's web and worker commands, on
SQLite and the on-disk broker, serve a logged-in order list and answer tasks.

This is what ``./scripts/run.sh`` starts (through honcho); everything the test
starts is killed at the end, whatever happened.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


CREATE_USER = """
from django.contrib.auth.models import Group, User
user = User.objects.create_user("runstack-ops", password="Runstack-pw-1")
user.groups.add(Group.objects.get(name="ops"))
"""

SEND_ECHO = """
import django
django.setup()
from orderhub.tasks import echo
print(echo.delay("stack ok").get(timeout=60))
"""


def test_web_and_worker_from_the_procfile_serve_the_order_list(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        ORDERHUB_VAR_DIR=str(tmp_path / "var"),
        DEBUG="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        WEB_PORT=str(port),
        WEB_CONCURRENCY="1",
        CELERY_CONCURRENCY="1",
    )

    def manage(*args, code=None):
        cmd = [sys.executable, "manage.py", *args] + (["-c", code] if code else [])
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr

    manage("migrate", "--noinput")
    manage("shell", code=CREATE_USER)

    procfile = _procfile()
    procs = {}
    try:
        for name in ("web", "worker"):
            log = tmp_path / f"{name}.log"
            procs[name] = (subprocess.Popen(
                ["bash", "-c", f"exec {procfile[name].strip()}"], cwd=ROOT, env=env,
                stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            ), log)

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            for name, (proc, log) in procs.items():
                assert proc.poll() is None, f"{name} exited:\n{_tail(log)}"
            try:
                status = httpx.get(f"{base}/healthz", timeout=5).status_code
            except httpx.TransportError:
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"/healthz never answered 200\n{_tail(procs['web'][1])}"

        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
            # Not logged in: the order list sends us to the login page.
            page = client.get("/orders/")
            assert page.status_code == 200
            assert page.url.path == "/login/"
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert token, page.text[:2000]

            response = client.post(
                "/login/",
                data={"username": "runstack-ops", "password": "Runstack-pw-1",
                      "csrfmiddlewaretoken": token.group(1), "next": "/orders/"},
                headers={"Referer": f"{base}/login/"},
            )
            assert response.status_code == 200, response.text[:2000]
            assert response.url.path == "/orders/", response.text[:2000]

            orders = client.get("/orders/")
            assert orders.status_code == 200
            assert orders.url.path == "/orders/"

        # The Procfile's worker consumes the default queue of the on-disk broker.
        sent = subprocess.run(
            [sys.executable, "-c", SEND_ECHO], cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "orderhub.settings"},
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert sent.returncode == 0, sent.stderr + _tail(procs["worker"][1])
        assert sent.stdout.strip() == "stack ok"
    finally:
        for proc, _log in procs.values():
            _stop(proc)
