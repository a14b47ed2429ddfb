"""Claim and finish happen only through a pick task, and finish means every line scanned.

Issue 15 item 5: a person holding ``pick_order`` (a manager, an admin) can no
longer move an order to picking or picked from the order page, its admin
actions or the service; the scan task can, and its finish refuses a short line
unless a problem was reported on the task.
"""

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from orderhub.models import OrderStatus, OrderTransitionLog
from orderhub.services.orders import ScanFlowOnly, order_transition
from orderhub.stored_text import translate_stored
from warehouse.models import PickTask
from warehouse.services.picking import (
    PickingError,
    task_claim_next,
    task_finish,
    task_report_problem,
    task_scan,
)

S = OrderStatus
FULL_PICK = ["SKU-1", "SKU-1", "6909876543210"]  # 2 cups and the gift sleeve


@pytest.fixture
def ready(make_order, warehouse, stocked):
    return make_order(S.READY_TO_PICK, warehouse=warehouse)


def claimed(picker, warehouse):
    return task_claim_next(picker=picker, warehouse=warehouse)


def scan_all(task, picker, codes):
    for n, code in enumerate(codes):
        assert task_scan(task_id=task.pk, picker=picker, barcode=code, key=f"{task.pk}-{n}").ok


def logs(order):
    return OrderTransitionLog.objects.filter(order=order).count()


@pytest.mark.parametrize("role", ["manager", "admin", "picker"])
@pytest.mark.parametrize(("status", "name"), [(S.READY_TO_PICK, "claim"),
                                              (S.PICKING, "finish")])
def test_a_person_cannot_claim_or_finish_outside_the_scan_flow(make_order, make_user, role,
                                                                status, name):
    # given a person whose role carries pick_order
    user = make_user(role)
    if role == "admin":
        User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
        user = User.objects.get(pk=user.pk)
    assert user.has_perm("orderhub.pick_order")
    order = make_order(status)
    before = logs(order)
    # when they ask the order service directly
    with pytest.raises(ScanFlowOnly, match="scan screen") as refused:
        order_transition(order=order.pk, name=name, actor=user, expected_status=status)
    # then it is refused as forbidden and nothing changed
    assert refused.value.status == 403
    order.refresh_from_db()
    assert order.status == status
    assert logs(order) == before


def test_automation_still_moves_orders_through_picking(make_order):
    # System actors (tests, the demo seeder) are not people: the rule is for people.
    order = make_order(S.READY_TO_PICK)
    order_transition(order=order.pk, name="claim", actor="system:test")
    order_transition(order=order.pk, name="finish", actor="system:test")
    order.refresh_from_db()
    assert order.status == S.PICKED


def test_manager_posting_finish_on_the_order_page_is_refused(client, make_user, make_order):
    # given a manager looking at an order being picked
    order = make_order(S.PICKING)
    client.force_login(make_user("manager"))
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-transition="finish"' not in page
    before = logs(order)
    # when they post finish anyway (an old tab, a hand-made request)
    response = client.post(f"/orders/{order.pk}/transition/",
                           {"name": "finish", "expected_status": "picking"})
    # then it is refused with the reason, and the order is unchanged
    assert response.status_code == 403
    assert "scan screen" in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.PICKING
    assert logs(order) == before


def test_manager_posting_claim_over_htmx_gets_the_message_in_the_alert_box(
        client, make_user, make_order):
    order = make_order(S.READY_TO_PICK)
    client.force_login(make_user("manager"))
    response = client.post(f"/orders/{order.pk}/transition/",
                           {"name": "claim", "expected_status": "ready_to_pick"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#action-alert"
    assert "scan screen" in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK


def test_the_refusal_is_translated(client, make_user, make_order):
    order = make_order(S.PICKING)
    client.force_login(make_user("manager"))
    response = client.post(f"/orders/{order.pk}/transition/",
                           {"name": "finish", "expected_status": "picking"},
                           HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 403
    assert "订单只能在扫描页面领取和完成拣货" in response.content.decode()


def test_admin_actions_offer_no_claim_or_finish(client, make_user, make_order):
    # given an admin on the order changelist
    admin = make_user("admin")
    User.objects.filter(pk=admin.pk).update(is_superuser=True, is_staff=True)
    client.force_login(admin)
    order = make_order(S.PICKING)
    page = client.get("/admin/orderhub/order/").content.decode()
    assert "transition_hold" in page  # the actions are there…
    assert "transition_finish" not in page and "transition_claim" not in page  # …but not these
    # and a hand-made action post changes nothing
    client.post("/admin/orderhub/order/", {"action": "transition_finish",
                                            "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert order.status == S.PICKING


def test_picker_finishing_with_a_missing_scan_is_refused(ready, make_user, warehouse):
    # given a picker who scanned the cups but not the gift sleeve
    picker = make_user("picker")
    task = claimed(picker, warehouse)
    scan_all(task, picker, FULL_PICK[:2])
    # when they finish
    with pytest.raises(PickingError, match="Still to pick: 杯套 Cup sleeve ×1") as refused:
        task_finish(task_id=task.pk, picker=picker)
    # then the message names what is missing and says what to do; nothing moved
    assert "report a problem" in refused.value.message
    task.refresh_from_db()
    ready.refresh_from_db()
    assert task.status == PickTask.Status.OPEN and ready.status == S.PICKING


def test_picker_finishing_over_the_scan_api_with_a_missing_scan_gets_the_message(
        client, ready, make_user, warehouse):
    picker = make_user("picker")
    task = claimed(picker, warehouse)
    client.force_login(picker)
    response = client.post(f"/scan/task/{task.pk}/finish/")
    assert response.status_code == 400
    assert "Still to pick" in response.json()["error"]
    ready.refresh_from_db()
    assert ready.status == S.PICKING


def test_picker_with_every_line_scanned_gets_the_order_picked(ready, make_user, warehouse):
    picker = make_user("picker")
    task = claimed(picker, warehouse)
    scan_all(task, picker, FULL_PICK)
    task_finish(task_id=task.pk, picker=picker)
    ready.refresh_from_db()
    assert ready.status == S.PICKED
    log = OrderTransitionLog.objects.filter(order=ready).last()
    assert (log.transition, log.actor_user, log.reason) == ("finish", picker, "")


def test_a_reported_problem_lets_the_picker_finish_short_and_says_so(
        ready, make_user, warehouse):
    # given the gift sleeve is not on the shelf and the picker reported it
    picker = make_user("picker")
    task = claimed(picker, warehouse)
    scan_all(task, picker, FULL_PICK[:2])
    task_report_problem(task_id=task.pk, picker=picker, kind="missing_gift", note="没有杯套")
    # when they finish
    task_finish(task_id=task.pk, picker=picker)
    # then the order is picked, and its log says what is missing and why
    ready.refresh_from_db()
    task.refresh_from_db()
    assert ready.status == S.PICKED and task.status == PickTask.Status.DONE
    log = OrderTransitionLog.objects.filter(order=ready, transition="finish").get()
    assert log.reason == "Picked short: 杯套 Cup sleeve ×1 (problem reported: Missing gift)"
    # stored in the site language, shown in the reader's
    with translation.override("zh-hans"):
        shown = translate_stored(log.reason)
    assert shown == "缺件拣货完成：杯套 Cup sleeve ×1（已上报问题：缺赠品）"


def test_a_problem_on_another_task_of_the_order_does_not_count(
        ready, make_user, warehouse):
    # A problem belongs to the walk it was reported on: an abandoned earlier
    # task's problem must not let a later picker skip scans.
    first = make_user("picker")
    task = claimed(first, warehouse)
    task_report_problem(task_id=task.pk, picker=first, kind="damaged", note="裂了")
    PickTask.objects.filter(pk=task.pk).update(status=PickTask.Status.ABANDONED)
    again = PickTask.objects.create(order=ready, warehouse=warehouse, picker=first)
    for line in task.lines.all():
        line.pk = None
        line.task = again
        line.picked = 0
        line.save()
    with pytest.raises(PickingError, match="Still to pick"):
        task_finish(task_id=again.pk, picker=first)
