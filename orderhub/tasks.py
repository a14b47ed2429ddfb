"""Core Celery tasks. Tasks are thin: they take ids and call a service."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

BEAT_KEY = "orderhub:last-beat"


@shared_task(name="orderhub.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Record that beat and a worker are alive; /healthz reports the age."""
    cache.set(BEAT_KEY, timezone.now().isoformat(), None)


@shared_task(name="orderhub.tasks.echo")
def echo(value):
    """Return what it was given: proves a round trip through broker and worker."""
    return value


@shared_task(name="orderhub.tasks.compact_order_counters", ignore_result=True)
def compact_order_counters() -> None:
    """Fold pending status-counter changes into the counters (orderhub.counters)."""
    from orderhub import counters

    counters.compact()
