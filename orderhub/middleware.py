"""Request ids: every log line of a request (and of the tasks it queued) names the request.

The id comes from the proxy's ``X-Request-ID`` header when it is well formed (so the
proxy's access log and ours share one id), else a new one is made; the response echoes
it, so a user reporting a problem can quote it. ``RequestIdLogFilter`` (installed on
the log handlers in settings.LOGGING) copies the current request id, and the Celery
task id while a task runs (hooks in ``orderhub/celery.py``), onto each log record.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-ID"
# Ids as proxies and load balancers make them (UUIDs, nginx's hex $request_id, ...);
# nothing that could break a log line or a header (spaces, quotes, control characters).
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")

request_id_var: ContextVar[str | None] = ContextVar("orderhub_request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("orderhub_task_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled (or that queued the running task), if any."""
    return request_id_var.get()


def request_id_from(value: str | None) -> str:
    """``value`` when it is a well-formed request id, else a newly made one."""
    if value and _WELL_FORMED.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give each request an id (``request.request_id``) and echo it in the response.

    First in MIDDLEWARE, so redirects and errors of later middleware carry it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        # Not reset on the way out: Django logs error responses (4xx/5xx) after the
        # middleware chain returns; request_finished clears it once the response is sent.
        request_id_var.set(request.request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def _forget_request_id(**kwargs) -> None:
    request_id_var.set(None)


request_finished.connect(_forget_request_id, dispatch_uid="orderhub.middleware.forget_request_id")


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` and ``task_id`` to a log record when they are known (never drops)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        task_id = task_id_var.get()
        if task_id and not hasattr(record, "task_id"):
            record.task_id = task_id
        return True
