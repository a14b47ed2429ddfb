"""The single-order (webhook) allocation path in few statements, pinned (issue 17 item 3).

Counted with the outermost transaction real (``transaction=True``): what a
worker sends, savepoints included.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orderhub.models import Order, OrderTransitionLog
from orderhub.models import OrderStatus as S
from warehouse.models import PickList, Reservation, StockMovement, StockSource
from warehouse.services.picklists import picklist_create, picklists_drop_stale
from warehouse.services.stock import erp_check_warehouse_ids, order_allocate

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _sql(ctx) -> list[str]:
    # Transaction control (logged on both backends) is not a statement of the work.
    control = ("BEGIN", "BEGIN IMMEDIATE", "COMMIT")
    return [q["sql"] for q in ctx.captured_queries if q["sql"] not in control]


def _split(sql: list[str]) -> tuple[list[str], list[str]]:
    """(the allocation's transaction, the warehouse's after-commit probe): the probe runs first
    after commit; what follows it is other apps' receivers."""
    probes = [n for n, text in enumerate(sql) if "warehouse_pick" in text]
    assert len(probes) == 1, "\n".join(sql)
    return sql[:probes[0]], [sql[probes[0]]]


# PostgreSQL: reserved +=, movements and reservations in one statement; SQLite: three.
CORE = {"postgresql": 7}.get(connection.vendor, 9)


def test_allocate_one_order_in_seven_statements_then_one_pick_list_probe(
        stocked, warehouse, make_order):
    # given: a paid order routed to the warehouse, no ERP check configured, warm flag cache
    order = make_order(S.PAID, warehouse=warehouse)
    assert erp_check_warehouse_ids() == frozenset()

    # when
    with CaptureQueriesContext(connection) as ctx:
        result = order_allocate(order=order.pk, warehouse=warehouse, actor="system:automation")
    in_transaction, probe = _split(_sql(ctx))

    # then: lock, lines+SKUs, levels, (reserved +=, movements, reservations),
    # order row, its version, its transition log; no savepoint, no ERP flag query;
    # after commit one probe by order id for pick lists / open pick tasks
    assert result.ok and result.order.status == S.READY_TO_PICK
    assert len(in_transaction) == CORE, "\n".join(in_transaction)
    assert not any("SAVEPOINT" in sql or "warehouse_stocksource" in sql for sql in in_transaction)
    assert len(in_transaction) + len(probe) <= 10
    # the same rows the general path writes
    assert Reservation.objects.filter(order=order, status="active").count() == 2
    assert StockMovement.objects.filter(order_id=order.pk, kind="reservation").count() == 2
    log = OrderTransitionLog.objects.get(order=order, transition="mark_ready")
    assert (log.from_status, log.to_status, log.actor) == (S.PAID, S.READY_TO_PICK,
                                                           "system:automation")
    assert Order.history.filter(id=order.pk).latest("history_date").status == S.READY_TO_PICK
    assert all(r.pk for r in result.reservations)
    level = stocked["cup"].stock_levels.get(warehouse=warehouse)
    assert (level.on_hand, level.reserved) == (10, 2)


def test_a_new_warehouse_adds_the_edit_event_only(stocked, warehouse, make_order):
    order = make_order(S.PAID)  # not routed yet: allocate sets the warehouse
    erp_check_warehouse_ids()

    with CaptureQueriesContext(connection) as ctx:
        result = order_allocate(order=order.pk, warehouse=warehouse, actor="system:automation")

    sql = _sql(ctx)
    # After commit, ``order_edited`` (and the status change) make reporting read the order's
    # days to mark closed days changed, one before the warehouse's probe: other apps'
    # receivers, not the allocation.
    after_commit = [text for text in sql if "reporting_buyertrackinginfo" in text]
    assert after_commit, "\n".join(sql)
    in_transaction, _probe = _split([text for text in sql if text not in after_commit])
    assert result.ok and result.order.warehouse_id == warehouse.pk
    assert len(in_transaction) == CORE + 1, "\n".join(in_transaction)  # + the "edited" event
    assert order.events.filter(kind="edited").count() == 1


def test_erp_flag_costs_no_query_once_cached_and_follows_a_saved_source(
        stocked, warehouse, make_order, django_assert_num_queries):
    # given: no source; the flag read once
    assert erp_check_warehouse_ids() == frozenset()
    with django_assert_num_queries(0):
        assert erp_check_warehouse_ids() == frozenset()

    # when: an admin saves a source that checks each order
    source = StockSource.objects.create(
        warehouse=warehouse, kind="kingdee", base_url="https://erp.example.com/k3cloud",
        username="api", secret="pw", check_each_order=True, options={"acctid": "x"})

    # then: the cache was cleared, the next read sees it; switching off is seen too
    assert erp_check_warehouse_ids() == frozenset({warehouse.pk})
    source.check_each_order = False
    source.save()
    assert erp_check_warehouse_ids() == frozenset()
    source.delete()
    assert erp_check_warehouse_ids() == frozenset()


def test_stale_pick_list_check_is_one_probe_for_orders_on_no_list(
        make_order, warehouse, django_assert_num_queries):
    orders = [make_order(S.READY_TO_PICK, warehouse=warehouse) for _ in range(3)]

    with django_assert_num_queries(1):
        assert picklists_drop_stale(order_ids=[o.pk for o in orders],
                                    actor="system:picklists") == []


def test_stale_pick_list_check_still_replaces_a_list_holding_an_order_that_left(
        stocked, make_order, warehouse):
    # given: two orders on one active list; one is routed away from its warehouse
    first = make_order(S.READY_TO_PICK, warehouse=warehouse)
    second = make_order(S.READY_TO_PICK, warehouse=warehouse)
    pick_list = picklist_create(orders=[first, second], actor="system:test", warehouse=warehouse)
    Order.objects.filter(pk=first.pk).update(warehouse=None)

    # when
    report = picklists_drop_stale(order_ids=[first.pk], actor="system:picklists")

    # then
    assert [r["voided"] for r in report] == [pick_list.number]
    assert PickList.objects.get(pk=pick_list.pk).status == PickList.Status.VOID
    reprinted = PickList.objects.get(pk=report[0]["printed_id"])
    assert list(reprinted.slots.values_list("order_id", flat=True)) == [second.pk]
