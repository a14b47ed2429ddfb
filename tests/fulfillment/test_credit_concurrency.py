"""Credit concurrency: workers automating one customer's orders at once cannot all pass.

PostgreSQL only (SQLite has no row locks and serialises writers anyway).
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from fulfillment.models import CreditEntry, OrderDecision
from fulfillment.services.automation import orders_automate
from orderhub.models import Customer, Order, OrderStatus
from tests.conftest import requires_postgres
from warehouse.models import SKU
from warehouse.services.stock import stock_adjust

S = OrderStatus
LINE_80 = [{"sku_code": "CUP-80", "name": "保温杯", "quantity": 1, "unit_price": "80.00"}]


def _race(batches: list[list[int]]) -> list[str]:
    """Each batch automated by its own thread (a worker), all starting together."""
    barrier = threading.Barrier(len(batches))
    errors: list[str] = []

    def worker(ids):
        try:
            barrier.wait()
            for outcome in orders_automate(order_ids=ids, raise_errors=True).values():
                if outcome.result == "error":
                    errors.append(outcome.error)
        except Exception as exc:  # a deadlock or any other failure must fail the test
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(ids,)) for ids in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.fixture
def three_orders(make_order, warehouse):
    sku = SKU.objects.create(code="CUP-80", name="cup")
    stock_adjust(warehouse=warehouse, sku=sku, delta=10, actor="system:test", reason="test",
                 kind="receipt")
    customer = Customer.objects.create(name="ACME", tier="b2b", credit_limit=Decimal("100.00"))
    orders = [make_order(S.PAID, customer=customer, kind="b2b", lines=LINE_80)
              for _ in range(3)]
    return customer, orders


def _assert_one_accepted(customer, orders):
    statuses = sorted(Order.objects.filter(pk__in=[o.pk for o in orders])
                      .values_list("status", flat=True))
    assert statuses == [S.READY_TO_PICK, S.REVIEW, S.REVIEW]
    customer.refresh_from_db()
    assert customer.open_balance == Decimal("80.00")
    assert list(CreditEntry.objects.values_list("kind", "amount", "balance_after")) == [
        ("accept", Decimal("80.00"), Decimal("80.00"))]
    for decision in OrderDecision.objects.filter(result=S.REVIEW):
        assert decision.credit_hold
        reason = decision.review_reasons[0]
        assert reason["code"] == "credit"
        assert reason["params"] == {"balance": "80.00", "total": "80.00", "limit": "100.00"}
    assert connection.vendor == "postgresql"


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_three_workers_three_orders_of_80_against_100(three_orders):
    customer, orders = three_orders
    assert _race([[o.pk] for o in orders]) == []
    _assert_one_accepted(customer, orders)


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_overlapping_batches_count_each_order_once(three_orders):
    customer, orders = three_orders
    ids = [o.pk for o in orders]
    assert _race([ids, ids[::-1], ids[1:]]) == []
    _assert_one_accepted(customer, orders)
