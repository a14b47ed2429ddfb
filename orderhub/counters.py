"""Order status counters: the list's tab counts without counting orders.

``orderhub_orderstatuscounter`` holds, per (status, channel, warehouse, kind,
priority), how many orders have that combination; the order list's status tabs
sum it (a few hundred rows) instead of grouping a million orders.

How it stays exact
    Database triggers on ``orderhub_order`` write every change of those five
    columns, in the same transaction as the change, whatever made it: the
    services, ``QuerySet.update``, the bulk array updates and COPY inserts of
    ``orderhub.db``, ``bulk_create``, deletes, raw SQL. Django signals would miss
    every one of those but the first. On PostgreSQL the triggers are statement
    triggers with transition tables: a COPY of 10,000 orders writes one row per
    key it touched, not 10,000. SQLite has no statement triggers, so its row
    triggers write one row per changed order (SQLite is for development and
    tests). Emptying the orders table empties the counters (PostgreSQL: a
    ``TRUNCATE`` trigger; SQLite: the delete trigger, when no order is left).

Why change rows, not ``UPDATE counter SET n = n + 1``
    Every order that arrives increments the same few keys (its channel's
    ``pending_payment``/``paid``). An in-place increment locks that key's row
    until the transaction commits, so every ingest transaction and every
    transition would queue behind each other on a handful of hot rows, and two
    transactions touching two keys in opposite order would deadlock. Slots per
    key (``n`` rows summed on read) only thin the queue. So the triggers only
    INSERT into ``orderhub_orderstatuscounterdelta``: no row is ever locked by
    a writer, so a writer never waits. ``compact()`` (Celery beat, every
    ``COMPACT_EVERY`` seconds) folds the changes into the counters in one
    statement: ``DELETE ... RETURNING`` feeding an upsert, so each change row
    is counted exactly once even with two compactions running (the second
    finds the rows gone). Readers sum counters and pending changes in one
    statement, one snapshot, so a compaction between them cannot count a
    change twice or not at all. Between compactions the change table holds a
    few thousand rows at most, summed in a few milliseconds.

Keys are plain ids, 0 for "no warehouse" (a NULL would make the key
non-unique). ``rebuild()`` (``manage.py rebuild_order_counters``) recounts
everything from the orders under a lock; ``ensure_triggers()`` runs after every
``migrate``, because SQLite's way of altering a table (copy to a new one, drop
the old) drops its triggers; it rebuilds the counters when it had to put a
trigger back.
"""

from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q, Sum

from orderhub.models import Order, OrderStatus, OrderStatusCounter, OrderStatusCounterDelta

COMPACT_EVERY = 30.0  # seconds, the beat interval of orderhub.tasks.compact_order_counters

ORDERS = Order._meta.db_table
COUNTERS = OrderStatusCounter._meta.db_table
DELTAS = OrderStatusCounterDelta._meta.db_table
KEY = "status, channel_id, warehouse_id, kind, priority"
# The key as read from an order row (NEW/OLD on SQLite, a transition table on PostgreSQL).
ROW_KEY = "{r}status, {r}channel_id, COALESCE({r}warehouse_id, 0), {r}kind, {r}priority"
TRIGGER_PREFIX = "orderhub_order_counts"

# --- triggers -----------------------------------------------------------------------

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_PREFIX}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM {DELTAS};
        DELETE FROM {COUNTERS};
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO {DELTAS} ({KEY}, n)
        SELECT {ROW_KEY.format(r="")}, count(*) FROM new_rows GROUP BY 1, 2, 3, 4, 5;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {DELTAS} ({KEY}, n)
        SELECT {ROW_KEY.format(r="")}, -count(*) FROM old_rows GROUP BY 1, 2, 3, 4, 5;
    ELSE
        -- Rows whose key did not change cancel out (+1 -1) and write nothing.
        INSERT INTO {DELTAS} ({KEY}, n)
        SELECT {KEY}, sum(d) FROM (
            SELECT {ROW_KEY.format(r="")}, 1 FROM new_rows
            UNION ALL
            SELECT {ROW_KEY.format(r="")}, -1 FROM old_rows
        ) AS changed (status, channel_id, warehouse_id, kind, priority, d)
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0;
    END IF;
    RETURN NULL;
END
$fn$;
"""
_PG_TRIGGERS = {
    # Transition tables allow one event per trigger, hence three (plus TRUNCATE).
    f"{TRIGGER_PREFIX}_ins": "AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows",
    f"{TRIGGER_PREFIX}_upd": "AFTER UPDATE ON {t} REFERENCING OLD TABLE AS old_rows "
                             "NEW TABLE AS new_rows",
    f"{TRIGGER_PREFIX}_del": "AFTER DELETE ON {t} REFERENCING OLD TABLE AS old_rows",
    f"{TRIGGER_PREFIX}_trunc": "AFTER TRUNCATE ON {t}",
}

_SQLITE_INSERT = f"INSERT INTO {DELTAS} ({KEY}, n) VALUES ({{key}}, {{n}});"
_SQLITE_TRIGGERS = {
    f"{TRIGGER_PREFIX}_ins": f"AFTER INSERT ON {ORDERS} BEGIN "
    + _SQLITE_INSERT.format(key=ROW_KEY.format(r="NEW."), n=1) + " END",
    f"{TRIGGER_PREFIX}_upd": (
        f"AFTER UPDATE OF status, channel_id, warehouse_id, kind, priority ON {ORDERS} "
        "WHEN OLD.status IS NOT NEW.status OR OLD.channel_id IS NOT NEW.channel_id "
        "OR OLD.warehouse_id IS NOT NEW.warehouse_id OR OLD.kind IS NOT NEW.kind "
        "OR OLD.priority IS NOT NEW.priority BEGIN "
        + _SQLITE_INSERT.format(key=ROW_KEY.format(r="OLD."), n=-1) + " "
        + _SQLITE_INSERT.format(key=ROW_KEY.format(r="NEW."), n=1) + " END"
    ),
    # No orders left, no counts: what a TRUNCATE does on PostgreSQL. Django's flush
    # (tests) empties the tables one by one in no set order; without this, orders
    # deleted after the counter tables would leave changes counting nothing.
    f"{TRIGGER_PREFIX}_del": f"AFTER DELETE ON {ORDERS} BEGIN "
    + _SQLITE_INSERT.format(key=ROW_KEY.format(r="OLD."), n=-1)
    + f" DELETE FROM {DELTAS} WHERE NOT EXISTS (SELECT 1 FROM {ORDERS});"
    + f" DELETE FROM {COUNTERS} WHERE NOT EXISTS (SELECT 1 FROM {ORDERS}); END",
}


def _existing_triggers(cursor, vendor: str) -> set[str]:
    if vendor == "postgresql":
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [ORDERS])
    else:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                       [ORDERS])
    return {name for (name,) in cursor.fetchall() if name.startswith(TRIGGER_PREFIX)}


def install_triggers(connection) -> bool:
    """Create the triggers that are missing on ``connection``; True if any was."""
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"order counters need PostgreSQL or SQLite, not {vendor}")
    wanted = _PG_TRIGGERS if vendor == "postgresql" else _SQLITE_TRIGGERS
    with connection.cursor() as cursor:
        missing = [name for name in wanted if name not in _existing_triggers(cursor, vendor)]
        if missing and vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
        for name in missing:
            if vendor == "postgresql":
                cursor.execute(f"CREATE TRIGGER {name} {wanted[name].format(t=ORDERS)} "
                               f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_PREFIX}()")
            else:
                cursor.execute(f"CREATE TRIGGER {name} {wanted[name]}")
    return bool(missing)


def drop_triggers(connection) -> None:
    with connection.cursor() as cursor:
        for name in _existing_triggers(cursor, connection.vendor):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {ORDERS}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_PREFIX}()")


def ensure_triggers(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Put back missing triggers and then recount; True if anything was missing.

    Connected to ``post_migrate`` (orderhub.apps): a migration that made SQLite
    copy the orders table lost them.
    """
    connection = connections[using]
    tables = connection.introspection.table_names()
    if ORDERS not in tables or COUNTERS not in tables:
        return False
    with transaction.atomic(using=using):
        if not install_triggers(connection):
            return False
        rebuild(using=using)
    return True


# --- writing: compact and rebuild -----------------------------------------------------


def compact(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Fold the pending change rows into the counters; returns how many were folded.

    Safe to run at any time and concurrently with itself and with writers.
    """
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"""
                WITH moved AS (DELETE FROM {DELTAS} RETURNING {KEY}, n),
                     folded AS (SELECT {KEY}, sum(n) AS n, count(*) AS moved_rows
                                FROM moved GROUP BY 1, 2, 3, 4, 5),
                     written AS (
                         INSERT INTO {COUNTERS} ({KEY}, n) SELECT {KEY}, n FROM folded
                         ON CONFLICT ({KEY}) DO UPDATE SET n = {COUNTERS}.n + EXCLUDED.n)
                SELECT COALESCE(sum(moved_rows), 0) FROM folded""")
            return int(cursor.fetchone()[0])
        # SQLite: transactions take the write lock at BEGIN (settings), so nothing can
        # add a change between the DELETE and the upsert.
        cursor.execute(f"DELETE FROM {DELTAS} RETURNING {KEY}, n")
        moved = cursor.fetchall()
        folded: dict[tuple, int] = defaultdict(int)
        for *key, n in moved:
            folded[tuple(key)] += n
        cursor.executemany(
            f"INSERT INTO {COUNTERS} ({KEY}, n) VALUES (%s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT ({KEY}) DO UPDATE SET n = {COUNTERS}.n + excluded.n",
            [(*key, n) for key, n in folded.items()])
        return len(moved)


def rebuild(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Recount every counter from the orders; returns the number of orders counted.

    On PostgreSQL it locks the orders table against writes (SHARE: pages still
    read) for the length of one GROUP BY over all orders, ~1 s per million; run
    it to repair, not on a schedule.
    """
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {ORDERS} IN SHARE MODE")
            cursor.execute(f"LOCK TABLE {COUNTERS}, {DELTAS} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {DELTAS}")
        cursor.execute(f"DELETE FROM {COUNTERS}")
        cursor.execute(f"""
            INSERT INTO {COUNTERS} ({KEY}, n)
            SELECT {ROW_KEY.format(r="")}, count(*) FROM {ORDERS} GROUP BY 1, 2, 3, 4, 5""")
        cursor.execute(f"SELECT COALESCE(sum(n), 0) FROM {COUNTERS}")
        return int(cursor.fetchone()[0])


# --- reading ----------------------------------------------------------------------------

# The list filters a counter can answer: the rest need the orders themselves.
COUNTER_FILTERS = frozenset({"status", "channel", "warehouse", "priority", "priority_min",
                             "kind", "platform"})
# Keys of the filter dict that do not narrow the orders.
NOT_FILTERS = frozenset({"sort", "page"})


def answers(filters: dict) -> bool:
    """True if the counters can count the orders ``filters`` (the list's) select."""
    return set(filters) - NOT_FILTERS <= COUNTER_FILTERS


def _counter_q(filters: dict) -> Q:
    q = Q()
    if filters.get("channel"):
        q &= Q(channel_id=getattr(filters["channel"], "pk", filters["channel"]))
    if filters.get("platform"):
        Channel = apps.get_model("channels", "Channel")
        q &= Q(channel_id__in=Channel.objects.filter(platform=filters["platform"]).values("pk"))
    if filters.get("warehouse"):
        q &= Q(warehouse_id=getattr(filters["warehouse"], "pk", filters["warehouse"]))
    if filters.get("kind"):
        q &= Q(kind=filters["kind"])
    if filters.get("priority") is not None:
        q &= Q(priority=filters["priority"])
    if filters.get("priority_min") is not None:
        q &= Q(priority__gte=filters["priority_min"])
    return q


def status_counts(filters: dict, *, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Orders per status under ``filters`` (status itself ignored); ``answers()`` must hold.

    One statement over counters and pending changes, so it sees one snapshot.
    """
    q = _counter_q(filters)

    def part(model):
        return (model.objects.using(using).filter(q).order_by().values("status")
                .annotate(total=Sum("n")).values_list("status", "total"))

    counts = dict.fromkeys(OrderStatus.values, 0)
    for status, total in part(OrderStatusCounter).union(part(OrderStatusCounterDelta), all=True):
        counts[status] = counts.get(status, 0) + int(total or 0)
    return counts
