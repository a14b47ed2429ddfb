"""Change requests end to end through the services: both paths, intercept, conflicts."""

from decimal import Decimal

import pytest
from django.db.models import F

from fulfillment.changes.models import ApprovalDecision, ChangeRequest
from fulfillment.changes.services import (
    ChangeConflict,
    ChangeNotPermitted,
    ChangeRequestError,
    change_request_create,
    change_request_decide,
    change_request_withdraw,
)
from fulfillment.signals import change_request_updated
from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from orderhub.services.orders import order_update
from warehouse.models import PickList

S = OrderStatus

PROPOSAL = {
    "fields": {"ship_street": "世纪大道200号 5楼", "ship_phone": "13900139000", "priority": 2,
               "carrier": "SF"},
    "lines": [
        {"sku_code": "SKU-1", "quantity": 3, "unit_price": "59.00"},
        {"sku_code": "SKU-2", "quantity": 1, "unit_price": "120.00"},
    ],
    "note": "请用加固纸箱",
}


@pytest.fixture
def announced():
    calls = []

    def receiver(sender, **kwargs):
        calls.append({k: kwargs[k] for k in ("change_id", "order_id", "status", "step")})

    change_request_updated.connect(receiver, dispatch_uid="test-changes")
    yield calls
    change_request_updated.disconnect(dispatch_uid="test-changes")


def approve_all(change, users, comment="ok"):
    for role in ("sales_manager", "warehouse_manager", "finance"):
        change = change_request_decide(change=change.pk, actor=users[role], decision="approve",
                                       comment=comment)
    return change


# --- before picking: applied at once -----------------------------------------------------------


@pytest.mark.django_db
def test_before_picking_is_applied_at_once_versioned_and_pick_list_reprinted(
        order_on_pick_list, users, announced, django_capture_on_commit_callbacks, stock):
    # given: a ready-to-pick order on an active pick list; the warehouse has the new lines
    stock({"SKU-1": 5, "SKU-2": 5, "GIFT-1": 5})
    order, pick_list = order_on_pick_list(S.READY_TO_PICK)
    versions = order.history.count()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                       reason="buyer called", expected_status=S.READY_TO_PICK)

    # then: applied, no approval, the order carries the new values
    assert change.status == ChangeRequest.Status.APPLIED and not change.needs_approval
    assert not change.hold_placed
    order = Order.objects.get(pk=order.pk)
    assert order.ship_street == "世纪大道200号 5楼"
    assert order.ship_phone == "+8613900139000"
    assert order.priority == 2 and order.carrier == "SF"
    lines = {line.sku_code: (line.quantity, line.unit_price) for line in order.lines.all()}
    assert lines == {"SKU-1": (3, Decimal("59.00")), "SKU-2": (1, Decimal("120.00"))}
    assert order.subtotal == Decimal("297.00")
    # versioned: fields and lines together are one version naming the request
    assert order.history.count() >= versions + 1
    assert order.history.filter(history_change_reason=f"Change request #{change.pk}").count() == 1
    # the diff: old vs proposed
    rows = {r["field"]: (r["old"], r["new"]) for r in change.diff["fields"]}
    assert rows["ship_street"] == ("世纪大道100号", "世纪大道200号 5楼")
    assert rows["priority"] == (0, 2)
    assert {r["sku_code"]: r["change"] for r in change.diff["lines"]} == {
        "SKU-1": "changed", "GIFT-1": "removed", "SKU-2": "added"}
    # the pick list: old one void, a reprint active with the same order
    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.VOID
    reprint = PickList.objects.get(original=pick_list)
    assert reprint.status == PickList.Status.ACTIVE
    assert list(reprint.slots.values_list("order_id", flat=True)) == [order.pk]
    assert change.report["pick_lists"] == [{"voided": pick_list.number,
                                            "printed": reprint.number,
                                            "printed_id": reprint.pk}]
    # the warehouse note and audit rows
    kinds = list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds.count("edited") == 1 and "change_applied" in kinds
    assert OrderEvent.objects.filter(order=order, kind="note",
                                     message__contains="请用加固纸箱").exists()
    # applied without a state change; automation re-ran after commit and kept it ready
    assert change.report["after"]["status"] == S.READY_TO_PICK
    assert order.status == S.READY_TO_PICK
    assert announced == [{"change_id": change.pk, "order_id": order.pk, "status": "applied",
                          "step": None}]


@pytest.mark.django_db
def test_fields_and_lines_together_are_one_version_and_one_automation_run(
        order_on_pick_list, users, monkeypatch, django_capture_on_commit_callbacks):
    # given: a ready-to-pick order; automation runs are counted
    from fulfillment.services import automation

    order, _pick_list = order_on_pick_list(S.READY_TO_PICK)
    runs = []
    real = automation.order_automate

    def counting(**kwargs):
        runs.append(kwargs["order"])
        return real(**kwargs)

    monkeypatch.setattr(automation, "order_automate", counting)
    versions = order.history.count()

    # when: one request changes an address field and the lines
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                       reason="buyer called", expected_status=S.READY_TO_PICK)

    # then: one version and one edit event carry both, automation ran once
    order = Order.objects.get(pk=order.pk)
    label = f"Change request #{change.pk}"
    edit_versions = order.history.filter(history_change_reason=label)
    assert edit_versions.count() == 1
    assert edit_versions.get().ship_street == "世纪大道200号 5楼"
    assert edit_versions.get().subtotal == Decimal("297.00")
    edits = OrderEvent.objects.filter(order=order, kind="edited", message=label)
    assert edits.count() == 1
    data = edits.get().data
    assert {"ship_street", "ship_phone", "lines", "subtotal"} <= set(data["changes"])
    assert [line["sku_code"] for line in data["lines"]["added"]] == ["SKU-2"]
    assert runs == [order.pk]
    assert OrderTransitionLog.objects.filter(order=order, transition="reprocess").count() == 1
    assert order.history.count() > versions


@pytest.mark.django_db
def test_automation_moving_an_edited_order_out_of_stock_takes_it_off_the_reprinted_wave(
        make_order, warehouse, catalogue, users, stock, django_capture_on_commit_callbacks):
    # given: a wave of two ready orders; the shelves hold the old lines only
    from warehouse.services.picking import PickingError, task_claim_code
    from warehouse.services.picklists import picklist_create

    stock({"SKU-1": 10, "GIFT-1": 10})
    first, second = (make_order(S.READY_TO_PICK, warehouse=warehouse) for _ in range(2))
    wave = picklist_create(orders=[first, second], actor="system:test")

    # when: a change adds SKU-2, which the warehouse does not have; automation re-runs
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=first, actor=users["ops"], proposed=PROPOSAL,
                                       reason="buyer called", expected_status=S.READY_TO_PICK)

    # then: the change's reprint was replaced by one without the order
    assert Order.objects.get(pk=first.pk).status == S.OUT_OF_STOCK
    change_copy = PickList.objects.get(pk=change.report["pick_lists"][0]["printed_id"])
    assert change_copy.status == PickList.Status.VOID
    active = PickList.objects.get(original=wave, status=PickList.Status.ACTIVE)
    assert list(active.slots.values_list("order_id", "slot")) == [(second.pk, 2)]
    assert not PickList.objects.filter(slots__order=first, status=PickList.Status.ACTIVE)
    # the copy pickers hold is void: they are sent to the newest one, which has no `first`
    picker = users["picker"]
    with pytest.raises(PickingError):
        task_claim_code(picker=picker, warehouse=warehouse, code=change_copy.number)
    assert task_claim_code(picker=picker, warehouse=warehouse,
                           code=active.number).order_id == second.pk


@pytest.mark.django_db
def test_nothing_to_change_unknown_sku_and_bad_values_are_refused(make_order, users, catalogue):
    order = make_order(S.PAID)
    with pytest.raises(ChangeRequestError, match="Nothing would change"):
        change_request_create(order=order, actor=users["ops"], reason="x",
                              proposed={"fields": {"ship_city": order.ship_city}})
    with pytest.raises(ChangeRequestError, match="Not in the catalogue: NOPE-1"):
        change_request_create(order=order, actor=users["ops"], reason="x", proposed={
            "lines": [{"sku_code": "NOPE-1", "quantity": 1, "unit_price": "1"}]})
    with pytest.raises(ChangeRequestError, match="not a"):
        change_request_create(order=order, actor=users["ops"], reason="x",
                              proposed={"fields": {"ship_phone": "12345"}})
    with pytest.raises(ChangeRequestError, match="cannot be emptied"):
        change_request_create(order=order, actor=users["ops"], reason="x",
                              proposed={"fields": {"ship_street": "  "}})
    with pytest.raises(ChangeRequestError, match="reason"):
        change_request_create(order=order, actor=users["ops"], reason=" ",
                              proposed={"fields": {"ship_city": "苏州市"}})
    assert not ChangeRequest.objects.exists()
    assert Order.objects.get(pk=order.pk).ship_city == "上海市"


@pytest.mark.django_db
def test_picker_cannot_file_and_shipped_orders_cannot_change(make_order, users):
    with pytest.raises(ChangeNotPermitted):
        change_request_create(order=make_order(S.PAID), actor=users["picker"], reason="x",
                              proposed={"fields": {"ship_city": "苏州市"}})
    with pytest.raises(ChangeRequestError, match="no longer be changed"):
        change_request_create(order=make_order(S.SHIPPED), actor=users["ops"], reason="x",
                              proposed={"fields": {"ship_city": "苏州市"}})
    with pytest.raises(ChangeRequestError, match="cancel the order instead"):
        change_request_create(order=make_order(S.PAID), actor=users["ops"], reason="x",
                              kind="intercept")


# --- from picking on: hold and approval chain ---------------------------------------------------


@pytest.mark.django_db
def test_after_picking_hold_three_approvals_applied_pick_list_reprinted_hold_released(
        order_on_pick_list, users, announced, django_capture_on_commit_callbacks):
    # given: an order being picked, on an active pick list
    order, pick_list = order_on_pick_list(S.PICKING)

    # when: ops file the change
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                       reason="buyer moved", expected_status=S.PICKING)

    # then: the order is held, nothing applied yet
    assert change.status == ChangeRequest.Status.PENDING and change.hold_placed
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.held_from) == (S.ON_HOLD, S.PICKING)
    assert f"#{change.pk}" in order.hold_reason
    assert order.ship_street == "世纪大道100号" and order.lines.count() == 2
    assert [s["name"] for s in change.steps] == ["Sales manager", "Warehouse manager",
                                                 "Finance"]
    assert announced[-1]["step"] == "Sales manager"

    # when: the three steps approve in turn
    change = change_request_decide(change=change.pk, actor=users["sales_manager"],
                                   decision="approve", comment="ok for sales")
    assert change.status == "pending" and change.current_step == 1
    change = change_request_decide(change=change.pk, actor=users["warehouse_manager"],
                                   decision="approve", expected_step=1)
    assert change.step["name"] == "Finance"
    assert Order.objects.get(pk=order.pk).status == S.ON_HOLD
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_decide(change=change.pk, actor=users["finance"],
                                       decision="approve")

    # then: applied, hold released back to picking, pick list voided and reprinted
    assert change.status == ChangeRequest.Status.APPLIED and change.apply_error == ""
    order = Order.objects.get(pk=order.pk)
    assert order.status == S.PICKING and order.held_from == ""
    assert order.ship_street == "世纪大道200号 5楼" and order.priority == 2
    assert sorted(order.lines.values_list("sku_code", "quantity")) == [("SKU-1", 3),
                                                                      ("SKU-2", 1)]
    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.VOID
    new_list = PickList.objects.get(original=pick_list)
    assert new_list.status == PickList.Status.ACTIVE
    # the diff report: before and after as applied
    report = change.report
    assert report["before"]["fields"]["ship_street"] == "世纪大道100号"
    assert report["after"]["fields"]["ship_street"] == "世纪大道200号 5楼"
    assert {r["field"] for r in report["rows"]["fields"]} == {"ship_street", "ship_phone",
                                                              "priority", "carrier"}
    assert report["pick_lists"][0]["printed"] == new_list.number
    # audit: three decisions, the log shows hold and release by the change service
    assert list(change.decisions.values_list("step_name", "decision", "user__username")) == [
        ("Sales manager", "approve", users["sales_manager"].username),
        ("Warehouse manager", "approve", users["warehouse_manager"].username),
        ("Finance", "approve", users["finance"].username),
    ]
    log = list(OrderTransitionLog.objects.filter(order=order).values_list("transition",
                                                                          "actor"))
    assert log[-2:] == [("hold", users["ops"].username), ("release", "system:changes")]
    assert OrderEvent.objects.filter(order=order, kind="change_applied").exists()
    assert announced[-1] == {"change_id": change.pk, "order_id": order.pk,
                             "status": "applied", "step": None}


@pytest.mark.django_db
def test_rejection_releases_the_hold_and_changes_nothing(order_on_pick_list, users):
    order, pick_list = order_on_pick_list(S.PICKED)
    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="buyer moved")
    change_request_decide(change=change.pk, actor=users["sales_manager"], decision="approve")

    with pytest.raises(ChangeRequestError, match="why"):
        change_request_decide(change=change.pk, actor=users["warehouse_manager"],
                              decision="reject", comment="")
    change = change_request_decide(change=change.pk, actor=users["warehouse_manager"],
                                   decision="reject", comment="already packed")

    assert change.status == ChangeRequest.Status.REJECTED
    order = Order.objects.get(pk=order.pk)
    assert order.status == S.PICKED and order.hold_reason == ""
    assert order.ship_street == "世纪大道100号" and order.lines.count() == 2
    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.ACTIVE
    assert OrderEvent.objects.get(order=order, kind="change_rejected").message.endswith(
        "already packed")
    # a decided request takes no more decisions
    with pytest.raises(ChangeConflict):
        change_request_decide(change=change.pk, actor=users["finance"], decision="approve")


@pytest.mark.django_db
def test_intercept_goes_through_the_chain_and_ends_cancelled(order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKED)
    change = change_request_create(order=order, actor=users["ops"], kind="intercept",
                                   reason="buyer cancelled", expected_status=S.PICKED)
    assert Order.objects.get(pk=order.pk).status == S.ON_HOLD

    change = approve_all(change, users)

    assert change.status == ChangeRequest.Status.APPLIED
    order = Order.objects.get(pk=order.pk)
    assert order.status == S.CANCELLED
    assert "buyer cancelled" in order.cancel_reason
    last = OrderTransitionLog.objects.filter(order=order).last()
    assert (last.transition, last.from_status, last.actor) == ("intercept", S.ON_HOLD,
                                                              "system:changes")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.PICKING, S.PICKED])
def test_an_approved_intercept_takes_the_order_off_its_wave_pick_list(
        make_order, make_user, warehouse, catalogue, users, status):
    # given: a wave of three orders; the second is being picked (or picked) when intercepted
    from warehouse.models import PickTask
    from warehouse.services.picking import PickingError, task_claim_code, task_scan
    from warehouse.services.picklists import picklist_create

    orders = [make_order(S.READY_TO_PICK, warehouse=warehouse) for _ in range(3)]
    wave = picklist_create(orders=orders, actor="system:test")
    picker = users["picker"]
    task = task_claim_code(picker=picker, warehouse=warehouse, code=wave.number)
    assert task.order_id == orders[0].pk
    if status == S.PICKED:
        task.lines.update(picked=F("quantity"))
        from warehouse.services.picking import task_finish

        task_finish(task_id=task.pk, picker=picker)
    target = orders[0]
    change = change_request_create(order=target, actor=users["ops"], kind="intercept",
                                   reason="buyer cancelled", expected_status=status)

    # when
    change = approve_all(change, users)

    # then: cancelled, and the wave was voided and reprinted without it
    assert Order.objects.get(pk=target.pk).status == S.CANCELLED
    wave.refresh_from_db()
    assert wave.status == PickList.Status.VOID
    reprint = PickList.objects.get(original=wave, status=PickList.Status.ACTIVE)
    assert list(reprint.slots.values_list("order_id", "slot")) == [(orders[1].pk, 2),
                                                                   (orders[2].pk, 3)]
    assert change.report["pick_lists"] == [{"voided": wave.number, "printed": reprint.number,
                                            "printed_id": reprint.pk}]
    # pickers can no longer pick it: its open task is closed, the lists never hand it out
    task.refresh_from_db()
    if status == S.PICKING:
        assert task.status == PickTask.Status.ABANDONED
        with pytest.raises(PickingError):
            task_scan(task_id=task.pk, picker=picker, barcode="SKU-1", key="after-intercept")
    with pytest.raises(PickingError):
        task_claim_code(picker=picker, warehouse=warehouse, code=wave.number)
    other = make_user("picker", username="picker2")
    claimed = {task_claim_code(picker=p, warehouse=warehouse, code=reprint.number).order_id
               for p in (picker, other)}
    assert claimed == {orders[1].pk, orders[2].pk}


@pytest.mark.django_db
def test_an_intercept_of_the_only_order_voids_its_single_pick_list(order_on_pick_list, users):
    order, pick_list = order_on_pick_list(S.PICKED)
    change = change_request_create(order=order, actor=users["ops"], kind="intercept",
                                   reason="buyer cancelled", expected_status=S.PICKED)

    change = approve_all(change, users)

    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.VOID
    assert not PickList.objects.filter(original=pick_list).exists()
    assert change.report["pick_lists"] == [{"voided": pick_list.number, "printed": None,
                                            "printed_id": None}]


@pytest.mark.django_db
def test_order_already_on_hold_from_picking_keeps_its_hold_after_rejection(
        order_on_pick_list, users):
    from orderhub.services.orders import order_transition

    order, _ = order_on_pick_list(S.PICKING)
    order_transition(order=order.pk, name="hold", actor="system:test", reason="damaged box")
    change = change_request_create(order=order, actor=users["ops"], reason="fix address",
                                   proposed={"fields": {"ship_city": "苏州市"}})
    assert change.needs_approval and not change.hold_placed
    change_request_decide(change=change.pk, actor=users["sales_manager"], decision="reject",
                          comment="no")
    order = Order.objects.get(pk=order.pk)
    # not our hold: it stays until whoever placed it releases it
    assert order.status == S.ON_HOLD and order.hold_reason == "damaged box"


# --- permissions -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_the_steps_group_may_decide_and_never_twice(order_on_pick_list, users, make_user):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="r")

    for role in ("picker", "finance", "warehouse_manager", "ops"):
        with pytest.raises(ChangeNotPermitted):
            change_request_decide(change=change.pk, actor=users[role], decision="approve")
    # a manager may decide either manager step, but only one of them
    change_request_decide(change=change.pk, actor=users["manager"], decision="approve")
    with pytest.raises(ChangeNotPermitted, match="earlier step"):
        change_request_decide(change=change.pk, actor=users["manager"], decision="approve")
    assert ApprovalDecision.objects.filter(change=change).count() == 1
    # another manager may take the warehouse step
    change = change_request_decide(change=change.pk, actor=make_user("manager"),
                                   decision="approve")
    assert change.step["name"] == "Finance"


@pytest.mark.django_db
def test_requester_cannot_approve_own_request_unless_the_chain_allows(order_on_pick_list,
                                                                     users):
    from fulfillment.changes.models import ApprovalChain

    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["manager"], proposed=PROPOSAL,
                                   reason="r")
    with pytest.raises(ChangeNotPermitted, match="filed this request"):
        change_request_decide(change=change.pk, actor=users["manager"], decision="approve")
    change_request_withdraw(change=change.pk, actor=users["manager"])

    ApprovalChain.objects.update(distinct_approvers=False)
    change = change_request_create(order=order, actor=users["manager"], proposed=PROPOSAL,
                                   reason="r")
    change = change_request_decide(change=change.pk, actor=users["manager"], decision="approve")
    change = change_request_decide(change=change.pk, actor=users["manager"], decision="approve")
    assert change.current_step == 2


# --- conflicts -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_conflict_when_the_order_moved_on_before_filing(order_on_pick_list, users):
    order, pick_list = order_on_pick_list(S.PICKING)
    with pytest.raises(ChangeConflict, match="moved on meanwhile"):
        change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL, reason="r",
                              expected_status=S.READY_TO_PICK)
    order = Order.objects.get(pk=order.pk)
    assert order.status == S.PICKING and order.lines.count() == 2
    assert not ChangeRequest.objects.exists()


@pytest.mark.django_db
def test_second_open_request_is_refused(order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL, reason="r")
    with pytest.raises(ChangeConflict, match="already has an open"):
        change_request_create(order=order, actor=users["ops"], reason="again",
                              proposed={"fields": {"ship_city": "苏州市"}})


@pytest.mark.django_db
def test_order_edited_meanwhile_keeps_approvals_applies_nothing(order_on_pick_list, users):
    # given: a pending change; then someone edits the held order's street directly
    order, pick_list = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="r")
    order_update(order=order.pk, actor="system:test", changes={"ship_street": "别的路1号"})

    # when: the chain approves
    change = approve_all(change, users)

    # then: a clear conflict, nothing half-applied, the order still held
    assert change.status == ChangeRequest.Status.APPROVED
    assert "edited after this request was filed" in change.apply_error
    order = Order.objects.get(pk=order.pk)
    assert order.status == S.ON_HOLD and order.ship_street == "别的路1号"
    assert order.lines.count() == 2 and order.priority == 0
    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.ACTIVE
    assert OrderEvent.objects.filter(order=order, kind="change_apply_failed").exists()
    # withdrawing releases the hold
    change_request_withdraw(change=change.pk, actor=users["ops"])
    assert Order.objects.get(pk=order.pk).status == S.PICKING


@pytest.mark.django_db
def test_released_meanwhile_is_a_conflict_at_final_approval(order_on_pick_list, users):
    from orderhub.services.orders import order_transition

    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="r")
    order_transition(order=order.pk, name="release", actor="system:test")
    change = approve_all(change, users)
    assert change.status == "approved" and "no longer on hold" in change.apply_error
    assert Order.objects.get(pk=order.pk).lines.count() == 2


@pytest.mark.django_db
def test_stale_step_is_a_conflict(order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="r")
    change_request_decide(change=change.pk, actor=users["sales_manager"], decision="approve")
    with pytest.raises(ChangeConflict, match="meanwhile"):
        change_request_decide(change=change.pk, actor=users["warehouse_manager"],
                              decision="approve", expected_step=0)


def _reserved(order) -> dict:
    from warehouse.models import Reservation

    return dict(Reservation.objects.filter(order=order, status=Reservation.Status.ACTIVE)
                .values_list("sku__code", "quantity"))


@pytest.fixture
def stock(warehouse, catalogue):
    """Put ``{sku code: units}`` on the warehouse's shelves."""
    from warehouse.services.stock import stock_adjust

    def put(on_hand: dict):
        for code, qty in on_hand.items():
            stock_adjust(warehouse=warehouse, sku=catalogue[code], delta=qty,
                         actor="system:test", reason="count")

    return put


@pytest.fixture
def stocked_order(order_on_pick_list, warehouse, catalogue):
    """An order being picked that holds its stock, in a warehouse with ``on_hand`` units."""
    from orderhub.services.orders import order_transition
    from warehouse.services.stock import stock_adjust, stock_reserve

    def make(on_hand: dict):
        for code, qty in on_hand.items():
            stock_adjust(warehouse=warehouse, sku=catalogue[code], delta=qty,
                         actor="system:test", reason="count")
        order, _pick_list = order_on_pick_list(S.READY_TO_PICK)
        stock_reserve(order=order.pk, warehouse=warehouse, actor="system:test")
        order = order_transition(order=order.pk, name="claim", actor="system:test")
        return order

    return make


@pytest.mark.django_db
def test_an_approved_line_change_after_picking_moves_the_reservation(stocked_order, users):
    from warehouse.services.stock import stock_drift

    order = stocked_order({"SKU-1": 10, "GIFT-1": 10, "SKU-2": 5})
    before = _reserved(order)
    assert before["SKU-1"] == 2 and "SKU-2" not in before

    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="buyer wants more", expected_status=S.PICKING)
    change = approve_all(change, users)

    assert change.status == ChangeRequest.Status.APPLIED
    assert _reserved(order) == {"SKU-1": 3, "SKU-2": 1}
    assert stock_drift() == []


@pytest.mark.django_db
def test_a_line_change_the_warehouse_cannot_cover_is_approved_but_not_applied(
        stocked_order, users):
    order = stocked_order({"SKU-1": 10, "GIFT-1": 10})  # no SKU-2 on the shelf
    before = _reserved(order)

    change = change_request_create(order=order, actor=users["ops"], proposed=PROPOSAL,
                                   reason="buyer wants tea", expected_status=S.PICKING)
    change = approve_all(change, users)

    assert change.status == ChangeRequest.Status.APPROVED
    assert "SKU-2" in change.apply_error
    order = Order.objects.get(pk=order.pk)
    assert order.status == S.ON_HOLD
    assert sorted(order.lines.values_list("sku_code", flat=True)) != ["SKU-1", "SKU-2"]
    assert _reserved(order) == before
