"""The known-orders check uses the unique (channel, external id) index whatever the statistics.

Issue 17: on an analysed database whose statistics had the importing channel
small, PostgreSQL probed the channel's own index and read the channel's whole
order list per order. These tests build that skew (a channel analysed while
nearly empty, then grown; a big neighbour channel), ANALYZE, and read the plan
with ``EXPLAIN (FORMAT JSON)``. PostgreSQL only: SQLite has no such planner.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection

from channels.ingest.batch import _known_external_ids, known_orders_sql
from channels.models import Channel
from orderhub.models import Order

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'",
                       reason="PostgreSQL's planner and indexes"),
]

UNIQUE_INDEX = "order_unique_channel_external_id"


def _clone(template: Order, channel: Channel, prefix: str, count: int) -> None:
    """``count`` copies of ``template`` in ``channel`` (external ids ``<prefix>1``..), in SQL."""
    table = Order._meta.db_table
    columns = [f.column for f in Order._meta.concrete_fields
               if f.column not in ("id", "number", "channel_id", "external_id")]
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} ({cols}, "number", "channel_id", "external_id") '
            f"SELECT {cols}, %s || g, %s, %s || g FROM {table}, generate_series(1, %s) AS g "
            f"WHERE id = %s",
            [f"N{prefix}", channel.pk, prefix, count, template.pk])


def _indexes_used(plan) -> set[str]:
    found = set()

    def walk(node):
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def _indexes_with(column: str, *, leading: bool) -> set[str]:
    """Indexes on the order table with ``column`` first (``leading``) or anywhere among its keys."""
    keys = "x.indkey[0]" if leading else "ANY(x.indkey)"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            f"JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = {keys} "
            "WHERE x.indrelid = %s::regclass AND a.attname = %s",
            [Order._meta.db_table, column])
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def skewed(make_order):
    """A big channel (20k orders) and a channel analysed at 3 orders that then grew to 10k."""
    template = make_order(external_id="TEMPLATE")
    big = Channel.objects.create(code="big", name="Big", platform="manual")
    growing = Channel.objects.create(code="growing", name="Growing", platform="manual")
    _clone(template, big, "B", 20_000)
    _clone(template, growing, "G", 3)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Order._meta.db_table}")
    # Grown after the statistics were taken: the planner still believes it holds 3.
    _clone(template, growing, "H", 10_000)
    return {"big": big, "growing": growing}


def _plan(channel: Channel, external_ids: list[str]):
    sql, params = known_orders_sql(channel.pk, external_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return json.loads(plan) if isinstance(plan, str) else plan


@pytest.mark.parametrize("which, prefix", [("big", "B"), ("growing", "H"), ("growing", "G")])
@pytest.mark.parametrize("batch", [1, 500])
def test_known_orders_probe_uses_the_unique_index(skewed, which, prefix, batch):
    # given: a batch half of known ids, half of new ones
    channel = skewed[which]
    ids = [f"{prefix}{n}" for n in range(1, batch // 2 + 2)] + [f"NEW{n}" for n in range(batch)]
    ids = ids[:batch]

    # when
    used = _indexes_used(_plan(channel, ids))

    # then: one unique-index descent per id, never a channel-wide index scan
    assert UNIQUE_INDEX in used
    assert not used & _indexes_with("channel_id", leading=True)


def test_the_unique_index_is_the_only_one_on_external_id(db):
    # The plain channel and external id indexes were what the planner probed
    # instead: both are gone (orderhub migration 0013_order_index_audit).
    assert _indexes_with("external_id", leading=False) == {UNIQUE_INDEX}
    assert _indexes_with("channel_id", leading=True) == {"order_channel_placed_idx"}


def test_known_orders_answer(skewed):
    ids = {"G1", "G3", "H10000", "B1", "NEW1", "G4"}
    assert _known_external_ids(skewed["growing"], set(ids)) == {"G1", "G3", "H10000"}
    assert _known_external_ids(skewed["big"], set(ids)) == {"B1"}
