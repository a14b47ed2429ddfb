"""Killing a parallel import (SIGKILL) ends its worker processes too: none is left behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

# The parent: the real ``ingest_parallel`` with two workers whose batches never end
# (each writes its pid first), as an import that is still busy when it is killed.
PARENT = textwrap.dedent("""
    import os, sys, time
    import django

    django.setup()
    from channels.ingest import parallel

    pid_file = sys.argv[1]

    class Normalizer:
        def external_id(self, data):
            return str(data["id"])

    def run_batch(*, items, **kwargs):
        with open(pid_file, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(300)

    parallel.ingest_parallel(channel=None, items=[{"id": n} for n in range(40)],
                             source="import", normalizer=Normalizer(), resolver=None,
                             batch_size=1, workers=2, run_batch=run_batch)
""")


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for init to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_import_is_killed(tmp_path):
    pid_file = tmp_path / "workers"
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "orderhub.settings"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        def both_busy() -> bool:
            workers.update(int(p) for p in
                           (pid_file.read_text().split() if pid_file.exists() else []))
            return len(workers) == 2

        assert _wait(both_busy, 60), parent.stderr.read1().decode() if parent.poll() else ""
        assert all(_alive(pid) for pid in workers)

        parent.send_signal(signal.SIGKILL)
        parent.wait(10)

        assert _wait(lambda: not any(_alive(pid) for pid in workers), 10), (
            f"workers {workers} outlived their killed parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        for pid in workers:  # only if the test failed: never leave them running
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
