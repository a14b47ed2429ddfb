"""Read replica routing: lag-tolerant reads go to ``DATABASES["replica"]`` when set.

``DATABASE_REPLICA_URL`` (settings) adds a ``replica`` alias, a PostgreSQL streaming
replica of ``default``. Nothing goes there on its own: code opts in by running inside
``replica_reads()``, and only code whose every read may be a few seconds old and
decides no write. Today that is the dashboard and its wall screen (reporting views):
GET-only pages of aggregates that are cached for a minute anyway. Everything else,
including the permission check before the dashboard, the rollup refresh (reads orders,
writes the rollup), reconciliation and export jobs (read, then write their rows), keeps
reading the primary, so a user never misses a row they just wrote.

Without the alias the router answers "no opinion" and Django uses ``default``; so it
does, with a warning in the log, while the replica does not answer: a replica outage
slows the dashboard down to the primary's speed and never fails it.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"

_replica_reads: ContextVar[bool] = ContextVar("orderhub_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in connections.settings


def _replica_answers() -> bool:
    """Connect (or keep the connection) to the replica; False when it does not answer."""
    connection = connections[REPLICA]
    try:
        # Reconnects when a kept connection broke since the last request (the replica
        # restarted): CONN_HEALTH_CHECKS, as Django's own first query would.
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError as exc:
        # Tolerated: the primary holds the same rows, only fresher.
        logger.warning("read replica unreachable, reading the primary: %s", exc)
        return False
    return True


@contextmanager
def replica_reads():
    """Send this block's ORM reads to the replica, if one is configured.

    Callers promise that nothing they read here is written back or decides a write:
    the replica may lag the primary. Writes always go to the primary, and so do reads
    inside a transaction on the primary (they must see that transaction's own writes).
    Usable as a decorator too (``@replica_reads()``).
    """
    token = _replica_reads.set(replica_configured() and _replica_answers())
    try:
        yield
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry; see the module docstring."""

    def db_for_read(self, model, **hints):
        if not _replica_reads.get() or not replica_configured():
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        return REPLICA

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same rows: an order read from the replica may be linked
        # to one read from the primary.
        aliases = {DEFAULT_DB_ALIAS, REPLICA}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica copies the primary's schema by streaming replication.
        return db != REPLICA
