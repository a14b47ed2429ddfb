import datetime as dt
import threading

import pytest
from django.db import connections
from django.utils import timezone

from orderhub.models import OrderEvent, OrderStatus
from tests.conftest import requires_postgres
from warehouse.models import PickProblem, PickTask, ScanEvent
from warehouse.services.picking import (
    PickingError,
    TaskNotYours,
    task_claim_code,
    task_claim_next,
    task_finish,
    task_report_problem,
    task_scan,
    task_state,
)
from warehouse.services.picklists import picklist_create, picklist_reprint
from warehouse.signals import pick_problem_reported

S = OrderStatus


@pytest.fixture
def picker(make_user):
    return make_user("picker")


@pytest.fixture
def ready(make_order, warehouse, stocked):
    def make(**kw):
        return make_order(S.READY_TO_PICK, warehouse=warehouse, **kw)
    return make


def scan(task, picker, code, key):
    return task_scan(task_id=task.pk, picker=picker, barcode=code, key=key)


def test_next_task_is_urgent_first_then_oldest_paid(ready, picker, warehouse):
    old = ready()
    old.paid_at = timezone.now() - dt.timedelta(hours=5)
    old.save(update_fields=["paid_at"])
    ready()
    urgent = ready(priority=2)
    task = task_claim_next(picker=picker, warehouse=warehouse)
    assert task.order == urgent
    task.order.refresh_from_db()
    assert task.order.status == S.PICKING
    # the picker's open task comes back until it is finished
    assert task_claim_next(picker=picker, warehouse=warehouse) == task


def test_two_pickers_get_different_orders(ready, make_user, warehouse):
    a, b = ready(), ready()
    t1 = task_claim_next(picker=make_user("picker"), warehouse=warehouse)
    t2 = task_claim_next(picker=make_user("picker"), warehouse=warehouse)
    assert {t1.order_id, t2.order_id} == {a.pk, b.pk}
    assert task_claim_next(picker=make_user("picker"), warehouse=warehouse) is None


def test_task_lines_expand_kits_and_keep_gifts_apart(make_order, warehouse, stocked, picker):
    make_order(S.READY_TO_PICK, warehouse=warehouse, lines=[
        {"sku_code": "KIT-1", "name": "礼盒", "quantity": 1, "unit_price": "99"},
        {"sku_code": "SKU-1", "name": "杯", "quantity": 1, "unit_price": "9"},
        {"sku_code": "GIFT-1", "name": "杯套", "quantity": 1, "unit_price": "0", "is_gift": True},
    ])
    task = task_claim_next(picker=picker, warehouse=warehouse)
    got = {(ln["sku"], ln["quantity"], ln["gift"], ln["bin"]) for ln in task_state(task)["lines"]}
    assert got == {("SKU-1", 3, False, "B-02-03"), ("LID-1", 1, False, "A-01-01"),
                   ("GIFT-1", 1, True, "C-09-01")}


def test_scanning_counts_refuses_and_is_idempotent(ready, picker, warehouse, make_order):
    ready()
    other = make_order(S.PAID, lines=[
        {"sku_code": "LID-1", "name": "lid", "quantity": 1, "unit_price": "1"}])
    assert other  # LID-1 belongs to another order only
    task = task_claim_next(picker=picker, warehouse=warehouse)
    # any of the SKU's barcodes, or its code, counts
    assert scan(task, picker, "6901234567892", "k1").ok
    again = scan(task, picker, "6901234567892", "k1")  # a network retry
    assert again.replay and again.ok
    assert task_state(task)["picked"] == 1
    assert scan(task, picker, "012345678905", "k2").ok  # UPC of the same cup
    over = scan(task, picker, "SKU-1", "k3")
    assert over.result == "over_pick" and "already picked" in over.message
    wrong = scan(task, picker, "INT-LID-1", "k4")
    assert wrong.result == "wrong_item" and "not in this order" in wrong.message
    unknown = scan(task, picker, "999", "k5")
    assert unknown.result == "unknown"
    state = task_state(task)
    assert (state["picked"], state["total"], state["complete"]) == (2, 3, False)
    assert ScanEvent.objects.filter(task=task).count() == 5
    with pytest.raises(PickingError):
        scan(task, picker, "", "k6")
    with pytest.raises(PickingError):
        scan(task, picker, "SKU-1", "")


def test_scan_by_someone_else_is_refused(ready, picker, make_user, warehouse):
    ready()
    task = task_claim_next(picker=picker, warehouse=warehouse)
    with pytest.raises(TaskNotYours):
        scan(task, make_user("picker"), "SKU-1", "x1")
    assert task_state(task)["picked"] == 0


def test_finish_needs_every_line_then_order_is_picked(ready, picker, warehouse):
    ready()
    task = task_claim_next(picker=picker, warehouse=warehouse)
    with pytest.raises(PickingError, match="Still to pick"):
        task_finish(task_id=task.pk, picker=picker)
    for n, code in enumerate(["SKU-1", "SKU-1", "6909876543210"]):
        assert scan(task, picker, code, f"f{n}").ok
    task_finish(task_id=task.pk, picker=picker)
    task.refresh_from_db()
    task.order.refresh_from_db()
    assert task.status == "done" and task.order.status == S.PICKED
    with pytest.raises(TaskNotYours):  # a scan after finishing
        scan(task, picker, "SKU-1", "late")


def test_report_problem_records_it_and_tells_ops(
    ready, picker, warehouse, django_capture_on_commit_callbacks
):
    ready()
    task = task_claim_next(picker=picker, warehouse=warehouse)
    heard = []
    pick_problem_reported.connect(lambda **kw: heard.append(kw), weak=False, dispatch_uid="t3")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            task_report_problem(task_id=task.pk, picker=picker, kind="damaged", note="盒子破了")
    finally:
        pick_problem_reported.disconnect(dispatch_uid="t3")
    assert PickProblem.objects.get().note == "盒子破了"
    event = OrderEvent.objects.get(order=task.order, kind="pick_problem")
    assert "Damaged" in event.message
    assert heard[0]["kind"] == "damaged"
    with pytest.raises(PickingError):
        task_report_problem(task_id=task.pk, picker=picker, kind="other", note="")
    with pytest.raises(PickingError):
        task_report_problem(task_id=task.pk, picker=picker, kind="nonsense")


def test_claim_by_order_or_pick_list_number(ready, picker, make_user, warehouse):
    a, b = ready(), ready()
    task = task_claim_code(picker=picker, warehouse=warehouse, code=a.number)
    assert task.order == a
    with pytest.raises(PickingError, match="Finish order"):
        task_claim_code(picker=picker, warehouse=warehouse, code=b.number)
    other = make_user("picker")
    with pytest.raises(PickingError, match="cannot be picked now"):
        task_claim_code(picker=other, warehouse=warehouse, code=a.number)
    pick_list = picklist_create(orders=[b], actor="system:test")
    reprint = picklist_reprint(pick_list=pick_list, actor="system:test")
    with pytest.raises(PickingError, match="void"):
        task_claim_code(picker=other, warehouse=warehouse, code=pick_list.number)
    task2 = task_claim_code(picker=other, warehouse=warehouse, code=reprint.number)
    assert task2.order == b and task2.pick_list == reprint
    with pytest.raises(PickingError, match="not an order"):
        task_claim_code(picker=make_user("picker"), warehouse=warehouse, code="???")


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pickers_asking_at_the_same_instant_never_share_an_order(
    make_order, warehouse, stocked, make_user, monkeypatch
):
    # django-fsm's refresh_from_db flips the status field's class-wide "protected"
    # flag off and on, which races between threads of one process (not between
    # worker processes). Serialise just that Python step; the database race
    # under test (SKIP LOCKED claiming) is untouched.
    from orderhub.models import Order

    guard, original = threading.Lock(), Order.refresh_from_db

    def refresh(self, *args, **kwargs):
        with guard:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(Order, "refresh_from_db", refresh)
    orders = [make_order(S.READY_TO_PICK, warehouse=warehouse) for _ in range(6)]
    pickers = [make_user("picker") for _ in range(10)]
    barrier = threading.Barrier(len(pickers))
    got, errors = [], []

    def worker(user):
        try:
            barrier.wait()
            task = task_claim_next(picker=user, warehouse=warehouse)
            got.append(task.order_id if task else None)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(u,)) for u in pickers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors
    claimed = [g for g in got if g is not None]
    assert sorted(claimed) == sorted(o.pk for o in orders)  # each order exactly once
    assert got.count(None) == 4
    assert PickTask.objects.filter(status="open").count() == 6


def test_an_order_put_on_hold_while_picking_refuses_scans_until_released(
        ready, picker, warehouse, make_user):
    from orderhub.services.orders import order_transition

    ready()
    task = task_claim_next(picker=picker, warehouse=warehouse)
    assert scan(task, picker, "SKU-1", "h1").ok
    order_transition(order=task.order_id, name="hold", actor=make_user("ops"),
                     reason="buyer asked to wait")
    with pytest.raises(TaskNotYours, match="on hold.*buyer asked to wait"):
        scan(task, picker, "SKU-1", "h2")
    with pytest.raises(TaskNotYours, match="on hold"):
        task_finish(task_id=task.pk, picker=picker)
    assert task_state(task)["picked"] == 1
    assert not ScanEvent.objects.filter(key="h2").exists()
    # a retry of a scan made before the hold is still answered with its first result
    assert scan(task, picker, "SKU-1", "h1").replay

    order_transition(order=task.order_id, name="release", actor=make_user("ops"))
    assert scan(task, picker, "SKU-1", "h3").ok
    assert task_state(task)["picked"] == 2
