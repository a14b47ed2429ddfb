"""CI version of ``bench/drills/reservations.py``: 50 concurrent allocations of the
last 10 units on PostgreSQL (row locks; SQLite serialises writers anyway).

``tests/warehouse/test_stock.py::test_twenty_threads_race_for_the_last_five_units``
races ``stock_reserve`` alone; this races ``order_allocate``, the whole path
automation takes (lock the order, reserve, move it to ready_to_pick or
out_of_stock), at the drill's size.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.db.models import Sum

from orderhub.models import OrderStatus as S
from tests.conftest import requires_postgres
from warehouse.models import SKU, Reservation, StockLevel
from warehouse.services.stock import order_allocate, stock_adjust, stock_drift

ORDERS, UNITS = 50, 10


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_fifty_concurrent_allocations_of_the_last_ten_units(warehouse, make_order):
    # given ten units on hand and fifty paid orders of one unit each
    sku = SKU.objects.create(code="LAST-10", name="last ten")
    stock_adjust(warehouse=warehouse, sku=sku, delta=UNITS, actor="system:test",
                 reason="receipt", kind="receipt")
    orders = [make_order(S.PAID, lines=[{"sku_code": sku.code, "name": "x", "quantity": 1,
                                         "unit_price": "1"}]) for _ in range(ORDERS)]
    barrier = threading.Barrier(ORDERS)
    results = []

    def allocate(order_id):
        try:
            barrier.wait()
            results.append("ok" if order_allocate(order=order_id, warehouse=warehouse,
                                                  actor="system:test").ok else "short")
        except Exception as exc:  # a deadlock or any other error must fail the test
            results.append(repr(exc))
        finally:
            connections.close_all()

    # when all fifty are allocated at once, one connection each
    threads = [threading.Thread(target=allocate, args=(o.pk,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then exactly ten got a unit, nothing is oversold and the ledger agrees
    assert sorted(results) == ["ok"] * UNITS + ["short"] * (ORDERS - UNITS)
    level = StockLevel.objects.get(warehouse=warehouse, sku=sku)
    assert (level.on_hand, level.reserved) == (UNITS, UNITS)
    active = Reservation.objects.filter(sku=sku, status=Reservation.Status.ACTIVE)
    assert active.aggregate(n=Sum("quantity"))["n"] == UNITS
    statuses = [o.status for o in type(orders[0]).objects.filter(pk__in=[o.pk for o in orders])]
    assert statuses.count(S.READY_TO_PICK) == UNITS
    assert statuses.count(S.OUT_OF_STOCK) == ORDERS - UNITS
    assert stock_drift() == []
