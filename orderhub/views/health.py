"""``/healthz``: is the database reachable, is the broker reachable.

503 with the failing check's reason when either is not. The cache is not a check
(pages serve from the database without it); reading the last beat from it must
never turn this page into a 500 either.
"""

import datetime as dt
import logging

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orderhub.celery import app as celery_app
from orderhub.tasks import BEAT_KEY

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        # Opening a channel proves the broker answers, not just that a socket opened.
        conn.default_channel  # noqa: B018
    return "ok"


@never_cache
@require_GET
def healthz(request):
    checks = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means "not healthy"; the reason is reported
            logger.warning("healthz: %s unreachable: %s", name, exc)
            checks[name] = f"error: {exc.__class__.__name__}"
            healthy = False
    try:
        last_beat = cache.get(BEAT_KEY)
    except Exception as exc:  # noqa: BLE001 - a cache backend that raises: the beat is unknown
        logger.warning("healthz: cache unreachable: %s", exc)
        last_beat = None
    body = {
        "status": "ok" if healthy else "error",
        "checks": checks,
        # What a load balancer's log or an on-call page shows: which check failed.
        "reason": ", ".join(f"{name} unreachable" for name, result in checks.items()
                            if result != "ok"),
        "broker": celery_app.connection_for_write().transport_cls,
        "last_beat": last_beat,
        "time": dt.datetime.now(dt.UTC).isoformat(),
    }
    return JsonResponse(body, status=200 if healthy else 503)
