"""Container health checks: ``python scripts/healthcheck.py web|beat|worker GROUP``.

- ``web``: ``/healthz`` on this container answers 200 (database and broker reachable).
- ``worker GROUP``: the Celery worker of this container answers a ping. Compose names
  it ``GROUP@%h`` (``-n``); ``%h`` is this container's host name, unique per replica,
  so the ping reaches exactly this worker, not another replica of the same group.
- ``beat``: the heartbeat task that beat schedules every minute ran recently, which
  proves beat, the broker and a worker all work (beat has no ping of its own).

Exit status 0 means healthy.
"""

import datetime as dt
import os
import socket
import sys
import urllib.request
from pathlib import Path

BEAT_MAX_AGE = dt.timedelta(minutes=3)
PING_TIMEOUT_SECONDS = 10.0
ROOT = Path(__file__).resolve().parent.parent


def check_web() -> int:
    port = os.environ.get("PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:  # HTTPError (503) is an OSError too
        sys.stderr.write(f"healthz: {exc}\n")
        return 1


def worker_node_name(group: str) -> str:
    """The name ``celery worker -n GROUP@%h`` gives the worker in this container."""
    return f"{group}@{socket.gethostname()}"


def check_worker(group: str) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
    from orderhub.celery import app

    node = worker_node_name(group)
    replies = app.control.ping(destination=[node], timeout=PING_TIMEOUT_SECONDS)
    if not any(node in reply for reply in replies):
        sys.stderr.write(f"no answer from {node}\n")
        return 1
    return 0


def check_beat() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
    import django

    django.setup()
    from django.core.cache import cache

    from orderhub.tasks import BEAT_KEY

    last = cache.get(BEAT_KEY)
    if not last:
        sys.stderr.write("no heartbeat yet\n")
        return 1
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(last)
    if age > BEAT_MAX_AGE:
        sys.stderr.write(f"last heartbeat {age} ago\n")
        return 1
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["web"]:
        sys.exit(check_web())
    if args == ["beat"]:
        sys.exit(check_beat())
    if len(args) == 2 and args[0] == "worker":
        sys.exit(check_worker(args[1]))
    sys.exit(f"usage: {sys.argv[0]} web|beat|worker GROUP")
