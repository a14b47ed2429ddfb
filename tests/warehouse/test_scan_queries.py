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
    # task lock (with the key check, and on PostgreSQL the fast commit), lines (with
    # SKUs and the barcode's SKU), update, insert, commit: no query per line
    assert len(ok) == 10
    lock = next(sql for sql in ok if 'FROM "warehouse_picktask"' in sql)
    assert "warehouse_scanevent" in lock
    if connection.vendor == "postgresql":
        assert "set_config" in lock
    assert not any(sql.startswith("SET ") for sql in ok)
    # nothing to update; no barcode row has the code, so it is tried as a SKU code
    assert len(unknown) == 10
    # a replayed key answers from the stored scan, then reads the lines for the state
    assert len(replay) == 9


def test_a_scan_counts_by_barcode_and_by_sku_code_and_refuses_the_rest(
        picker_client, make_order, warehouse, stocked):
    # given an order of 2 cups and a lid (a lid is known by an internal barcode)
    make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 2, "unit_price": "1"},
        {"sku_code": "LID-1", "name": "lid", "quantity": 1, "unit_price": "1"}])
    task = picker_client.post("/scan/next/").json()["task"]
    url = f"/scan/task/{task['id']}/scan/"

    def scan(code, key):
        return picker_client.post(url, {"barcode": code, "key": key}).json()

    # when / then: an EAN, a UPC of the same cup, the lid by its SKU code
    assert scan("6901234567892", "k1")["result"] == "ok"
    assert scan("012345678905", "k2")["result"] == "ok"
    assert scan("LID-1", "k3")["result"] == "ok"
    # a third cup is too many, the sleeve's barcode is not in the order (a known SKU
    # by barcode and by code), a made-up code is unknown
    assert scan("6901234567892", "k4")["result"] == "over_pick"
    assert scan("6909876543210", "k5")["result"] == "wrong_item"
    assert scan("GIFT-1", "k6")["result"] == "wrong_item"
    assert scan("NOPE", "k7")["result"] == "unknown"
    state = scan("INT-LID-1", "k8")
    assert state["result"] == "over_pick"
    assert state["task"]["complete"] is True


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
    real_lookup = picking._scanned_sku

    def other_phone_sends_the_same_key():
        try:
            ScanEvent.objects.create(key="dup", task=other_task, barcode="SKU-1", result="ok")
        finally:
            connections.close_all()

    def lookup_while_the_other_scan_lands(lines, code):
        # the other scan commits between our key check and our insert
        thread = threading.Thread(target=other_phone_sends_the_same_key)
        thread.start()
        thread.join()
        return real_lookup(lines, code)

    monkeypatch.setattr(picking, "_scanned_sku", lookup_while_the_other_scan_lands)
    with pytest.raises(picking.PickingError, match="already used"):
        picking.task_scan(task_id=task.pk, picker=picker, barcode="SKU-1", key="dup")
    assert sum(ln.picked for ln in task.lines.all()) == 0  # the count was rolled back too
    assert not ScanEvent.objects.filter(task=task).exists()
