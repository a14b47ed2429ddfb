"""Ingest a large stream of orders with several worker processes.

One Python process tops out at about a thousand orders a second, most of it
building rows; the database could take several times that. So a big import
(``import_orders --workers N``, the file upload task) forks N workers that each
run the ordinary ``channels.ingest.batch.ingest_batch`` on their own connection.

Payloads are partitioned by platform order id, and a partition has at most
one batch in flight: every payload of one order goes to the same partition in
file order, so a later update of an order can never be applied before an
earlier one. There are ``PARTITIONS_PER_WORKER`` partitions per worker, so
while the parent waits for one partition's batch to finish, the others' are
queued: a worker that finishes its batch takes the next one at once instead
of idling until the slowest worker is done. Memory stays flat: the parent
holds at most two batches per partition, the workers one each.

Workers end with their parent: an import killed with SIGKILL (or by the OOM
killer) cannot tell its workers, which would otherwise wait on the task queue
forever, each holding a database connection (``_die_with_parent``).

The parent parses each line only to find its partition (~7 µs of a ~850 µs
CPU cost per order on 2 cores, where the workers and PostgreSQL take the
rest): it is not what limits a large import.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor

from django.db import connection, connections

from channels.connectors.base import NormalizationError
from channels.ingest.results import IngestResult

# What the forked workers need, set by the parent just before it forks them
# (inherited, never pickled: a connector may hold an HTTP client).
_FORKED: dict = {}
# Partitions per worker process: more than one keeps every worker fed (see above).
PARTITIONS_PER_WORKER = 4


def can_fork() -> bool:
    """Whether ``ingest_parallel`` may run here.

    PostgreSQL only (SQLite has one writer anyway), and not inside a transaction:
    the workers commit on their own connections, which an enclosing transaction
    of the parent could not see or roll back.
    """
    return (connection.vendor == "postgresql" and not connection.in_atomic_block
            and "fork" in multiprocessing.get_all_start_methods())


def _partition_key(item, normalizer) -> str:
    data = item
    if isinstance(item, str | bytes):
        try:
            data = json.loads(item)
        except ValueError:
            return ""  # the worker quarantines it; any partition will do
    if not isinstance(data, dict):
        return ""
    try:
        return str(normalizer.external_id(data) or "")
    except (NormalizationError, NotImplementedError, AttributeError, KeyError, TypeError,
            ValueError):
        pass
    # A shape ``external_id`` does not read (a single-order response's {"order": {...}}
    # envelope) can still be a payload of an order that also comes bare: key it by the
    # id the worker will upsert, or an update could overtake the order's creation.
    try:
        return str(normalizer.normalize(data).external_id or "")
    except Exception:  # noqa: BLE001 - the worker quarantines it; any partition will do
        return ""


# prctl(2) option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1
# Where prctl is missing: how often a worker checks that its parent still lives.
PARENT_POLL_SECONDS = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker as soon as the importing parent is gone.

    On Linux the kernel kills the worker when its parent dies (``PR_SET_PDEATHSIG``;
    SIGKILL, since a Celery parent's SIGTERM handler is inherited and an open
    transaction is rolled back by PostgreSQL either way); elsewhere a daemon
    thread polls the parent's pid. The parent may already have died before
    that was set up: then the worker ends at once. The signal follows the parent
    *thread* that forked the worker, which is the importing thread here
    (ProcessPoolExecutor forks its workers on the first ``submit``).
    """
    armed = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if not armed:
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(PARENT_POLL_SECONDS)
            os._exit(1)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def _run_batch(items: list):
    run_batch = _FORKED["run_batch"]
    return run_batch(items=items, **{k: v for k, v in _FORKED.items() if k != "run_batch"})


def ingest_parallel(*, channel, items: Iterable, source: str, normalizer, resolver,
                    batch_size: int, workers: int, run_batch: Callable):
    """``ingest_items`` over ``workers`` processes; returns the merged IngestResult.

    ``run_batch`` is ``channels.ingest.batch.ingest_batch``, handed down by its
    caller (this module sits below the batch engine and does not import it).
    """
    result = IngestResult()
    _FORKED.update(channel=channel, source=source, normalizer=normalizer, resolver=resolver,
                   run_batch=run_batch)
    # A forked child must not share the parent's database socket: close it here,
    # the children (and later the parent) open their own.
    connections.close_all()
    partitions = workers * PARTITIONS_PER_WORKER
    buffers: list[list] = [[] for _ in range(partitions)]
    inflight: list[Future | None] = [None] * partitions

    def submit(part: int) -> None:
        if inflight[part] is not None:
            result.merge(inflight[part].result())
        inflight[part] = pool.submit(_run_batch, buffers[part])
        buffers[part] = []

    try:
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("fork"),
                                 initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            for item in items:
                key = _partition_key(item, normalizer)
                part = zlib.crc32(key.encode()) % partitions
                buffers[part].append(item)
                if len(buffers[part]) >= batch_size:
                    submit(part)
            for part in range(partitions):
                if buffers[part]:
                    submit(part)
            for future in inflight:
                if future is not None:
                    result.merge(future.result())
    finally:
        _FORKED.clear()
    return result
