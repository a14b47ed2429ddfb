"""The one retry rule of fulfillment tasks; ``enqueue`` (tasks by name) lives in the core
(``orderhub.queue``) and is re-exported here for fulfillment's services.
"""

from __future__ import annotations

from celery.utils.time import get_exponential_backoff_interval

from orderhub.adapters import is_retryable
from orderhub.queue import enqueue

# Exponential backoff of a retried task: 5 s, 10 s, 20 s... at most 10 minutes.
RETRY_BACKOFF = 5
RETRY_BACKOFF_MAX = 600

__all__ = ["RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "enqueue", "retry_or_raise"]


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
