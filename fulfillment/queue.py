"""Enqueueing Celery tasks by name, so services never import the tasks that call them.

A tasks module imports its services; a service that queues follow-up work names
the task instead of importing it (which would close an import circle). When the
task is registered in this process its own ``delay`` is used (its routing and
options apply, and so do test doubles of it); otherwise the message is sent by
name and the worker that has the task runs it.
"""

from __future__ import annotations

from celery import current_app


def enqueue(name: str, *args) -> None:
    """Queue task ``name`` with positional ``args``."""
    task = current_app.tasks.get(name)
    if task is not None:
        task.delay(*args)
    else:
        current_app.send_task(name, args=list(args))
