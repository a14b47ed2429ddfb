"""Container health checks: ``python scripts/healthcheck.py web|beat``.

- ``web``: ``/healthz`` on this container answers 200 (database and broker reachable).
- ``beat``: the heartbeat task that beat schedules every minute ran recently, which
  proves beat, the broker and a worker all work (beat has no ping of its own).

Exit status 0 means healthy.
"""

import datetime as dt
import os
import sys
import urllib.request
from pathlib import Path

BEAT_MAX_AGE = dt.timedelta(minutes=3)


def check_web() -> int:
    port = os.environ.get("PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:  # HTTPError (503) is an OSError too
        sys.stderr.write(f"healthz: {exc}\n")
        return 1


def check_beat() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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
    checks = {"web": check_web, "beat": check_beat}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(checks)}")
    sys.exit(checks[sys.argv[1]]())
