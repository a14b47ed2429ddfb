"""Enqueueing Celery tasks by name: services never import the tasks that call them.

A tasks module imports its services; a service that queues follow-up work names
the task instead of importing it (which would close an import circle). The
task's module is imported on first use (at run time, so no circle) and the
task's own ``delay`` is used: its routing and options apply, and so do eager
mode and test doubles of it (``send_task`` would ignore both). Only a task no
module of this process defines is sent by name for the worker that has it.

The broker only speeds work up. Every caller has written its work down in the
database first (a pending payload, a paid order, an outbox row) and a beat sweep
queues whatever is still pending, so a broker that cannot be reached is logged
here and never fails the request that committed the change.
"""

from __future__ import annotations

import logging
from importlib import import_module

from celery import current_app

logger = logging.getLogger(__name__)


def enqueue(name: str, *args, **options) -> bool:
    """Queue task ``name`` with positional ``args``; False when the broker refused it.

    ``options`` go to ``apply_async`` (``expires``, ``countdown``). In eager mode
    the task runs here; its errors propagate only with ``task_eager_propagates`` on.
    """
    task = current_app.tasks.get(name)
    if task is None:
        # Celery registers a task when its module is imported (a web process has
        # not imported every tasks module).
        try:
            import_module(name.rpartition(".")[0])
        except ImportError:
            pass
        task = current_app.tasks.get(name)
    if current_app.conf.task_always_eager and task is not None:
        return _send(task, name, args, options)
    try:
        return _send(task, name, args, options)
    except Exception as exc:  # noqa: BLE001 - kombu, redis-py and socket errors alike
        # Why this may fail: the broker (or the result store) is unreachable. The
        # work is a database row already; the beat sweep for it queues it again.
        # One line, not a traceback: an outage fails every enqueue the same way.
        logger.error("could not queue %s%r (%s: %s); its sweep will pick it up",
                     name, args, type(exc).__name__, exc)
        return False


def _send(task, name: str, args: tuple, options: dict) -> bool:
    if task is not None:
        if options:
            task.apply_async(args, **options)
        else:
            task.delay(*args)
    else:
        current_app.send_task(name, args=list(args), **options)
    return True
