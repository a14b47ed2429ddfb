"""The scan request is the hot path of the warehouse (bench/scan.py): keep its queries fixed."""

import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orderhub.models import OrderStatus
from tests.conftest import requires_postgres


@pytest.fixture
def picker_client(client, make_user, warehouse):
    client.force_login(make_user("picker"))
    client.post(reverse("scan"), {"warehouse": warehouse.pk})
    return client


def scan_queries(client, url, code, key):
    with CaptureQueriesContext(connection) as ctx:
        res = client.post(url, {"barcode": code, "key": key})
    assert res.status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("lines", [1, 3])
def test_a_scan_costs_the_same_queries_whatever_the_order_size(picker_client, make_order,
                                                                warehouse, stocked, lines):
    order_lines = [{"sku_code": "SKU-1", "name": "cup", "quantity": 2, "unit_price": "1"},
                   {"sku_code": "GIFT-1", "name": "sleeve", "quantity": 1, "unit_price": "0",
                    "is_gift": True},
                   {"sku_code": "LID-1", "name": "lid", "quantity": 1, "unit_price": "1"}]
    make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse, lines=order_lines[:lines])
    task = picker_client.post("/scan/next/").json()["task"]
    url = f"/scan/task/{task['id']}/scan/"
    ok = scan_queries(picker_client, url, "6901234567892", "q1")
    unknown = scan_queries(picker_client, url, "NOPE", "q2")
    replay = scan_queries(picker_client, url, "6901234567892", "q1")
    # session, user, 2× permissions, begin (a savepoint under the test's transaction),
    # task lock, key lookup, barcode lookup, lines (with SKUs), update, insert, commit:
    # no query per line
    assert len(ok) == 12
    # nothing to update, but the code is tried as a barcode and as a SKU code
    assert len(unknown) == 12
    # a replayed key answers from the stored scan, then reads the lines for the state
    assert len(replay) == 9


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_racing_in_on_another_task_rolls_the_whole_scan_back(make_user, make_order,
                                                                   warehouse, stocked,
                                                                   monkeypatch):
    from warehouse.models import ScanEvent
    from warehouse.services import picking

    picker, other = make_user("picker"), make_user("picker")
    make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse)
    make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse)
    task = picking.task_claim_next(picker=picker, warehouse=warehouse)
    other_task = picking.task_claim_next(picker=other, warehouse=warehouse)
    real_lookup = picking._sku_for_barcode

    def other_phone_sends_the_same_key():
        try:
            ScanEvent.objects.create(key="dup", task=other_task, barcode="SKU-1", result="ok")
        finally:
            connections.close_all()

    def lookup_while_the_other_scan_lands(code):
        # the other scan commits between our key check and our insert
        thread = threading.Thread(target=other_phone_sends_the_same_key)
        thread.start()
        thread.join()
        return real_lookup(code)

    monkeypatch.setattr(picking, "_sku_for_barcode", lookup_while_the_other_scan_lands)
    with pytest.raises(picking.PickingError, match="already used"):
        picking.task_scan(task_id=task.pk, picker=picker, barcode="SKU-1", key="dup")
    assert sum(ln.picked for ln in task.lines.all()) == 0  # the count was rolled back too
    assert not ScanEvent.objects.filter(task=task).exists()
