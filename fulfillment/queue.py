"""Enqueueing Celery tasks by name (services never import the tasks that call them),
and the one retry rule of fulfillment tasks.

A tasks module imports its services; a service that queues follow-up work names
the task instead of importing it (which would close an import circle). When the
task is registered in this process its own ``delay`` is used (its routing and
options apply, and so do test doubles of it); otherwise the message is sent by
name and the worker that has the task runs it.
"""

from __future__ import annotations

from celery import current_app
from celery.utils.time import get_exponential_backoff_interval

from orderhub.adapters import is_retryable

# Exponential backoff of a retried task: 5 s, 10 s, 20 s... at most 10 minutes.
RETRY_BACKOFF = 5
RETRY_BACKOFF_MAX = 600


def enqueue(name: str, *args) -> None:
    """Queue task ``name`` with positional ``args``."""
    task = current_app.tasks.get(name)
    if task is not None:
        task.delay(*args)
    else:
        current_app.send_task(name, args=list(args))


def retry_or_raise(task, exc: BaseException, *, backoff: int = RETRY_BACKOFF,
                   maximum: int = RETRY_BACKOFF_MAX):
    """Retry ``task`` after ``exc`` when trying again may help, else raise ``exc``.

    Permanent errors (``is_retryable`` false: an adapter's refusal, bad
    credentials) fail at once instead of repeating the same refusal; the rest
    retry with exponential backoff and full jitter, up to the task's
    ``max_retries`` (then ``exc`` is raised).
    """
    if not is_retryable(exc):
        raise exc
    countdown = get_exponential_backoff_interval(
        factor=backoff, retries=task.request.retries, maximum=maximum, full_jitter=True)
    raise task.retry(exc=exc, countdown=max(1, countdown))
