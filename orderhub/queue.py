"""Enqueueing Celery tasks by name: services never import the tasks that call them.

A tasks module imports its services; a service that queues follow-up work names
the task instead of importing it (which would close an import circle). The
task's module is imported on first use (at run time, so no circle) and the
task's own ``delay`` is used: its routing and options apply, and so do eager
mode and test doubles of it (``send_task`` would ignore both). Only a task no
module of this process defines is sent by name for the worker that has it.
"""

from __future__ import annotations

from importlib import import_module

from celery import current_app


def enqueue(name: str, *args) -> None:
    """Queue task ``name`` with positional ``args``."""
    task = current_app.tasks.get(name)
    if task is None:
        # Celery registers a task when its module is imported (a web process has
        # not imported every tasks module).
        try:
            import_module(name.rpartition(".")[0])
        except ImportError:
            pass
        task = current_app.tasks.get(name)
    if task is not None:
        task.delay(*args)
    else:
        current_app.send_task(name, args=list(args))
