"""The approval chain's notifications step by step: approvers, requester, warehouse lead, badge."""

import importlib

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from fulfillment.changes import notify
from fulfillment.changes.models import ApprovalChain, ApprovalStep, ChangeRequest
from fulfillment.changes.selectors import decided_for_me_count, waiting_for_me_count
from fulfillment.changes.services import (
    ChangeConflict,
    change_request_create,
    change_request_decide,
)
from fulfillment.notifications.models import (
    AlertRoute,
    Event,
    Gateway,
    Message,
    MessageTemplate,
    WarehouseContact,
)
from fulfillment.notifications.services import message_enqueue
from orderhub.models import OrderStatus
from warehouse.models import PickList

pytestmark = pytest.mark.django_db
S = OrderStatus
MOVE = {"fields": {"ship_street": "世纪大道200号 5楼"}}


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "https://hub.example"
    # Badge counts cached by an earlier test (user ids get reused) must not leak in.
    notify.waiting_changed()


@pytest.fixture
def enqueued(monkeypatch):
    """Message ids handed to the deliver task (no broker, no HTTP in these tests)."""
    from fulfillment.notifications import tasks

    ids = []
    monkeypatch.setattr(tasks.deliver_message, "delay", lambda message_id: ids.append(message_id))
    return ids


@pytest.fixture
def gateways(db):
    mail = Gateway.objects.create(name="mail", kind=Gateway.Kind.EMAIL)
    robot = Gateway.objects.create(name="robot", kind=Gateway.Kind.WECOM)
    robot.credentials = {"key": "robot-key"}
    robot.save()
    for event in (Event.CHANGE_WAITING, Event.CHANGE_DECIDED):
        AlertRoute.objects.create(event=event, gateway=robot, language="en")
    # The warehouse floor's robot: told to stop intercepted parcels, nothing else.
    floor = Gateway.objects.create(name="floor robot", kind=Gateway.Kind.DINGTALK)
    AlertRoute.objects.create(event=Event.INTERCEPT, gateway=floor, language="en")
    return {"mail": mail, "robot": robot, "floor": floor}


@pytest.fixture
def chain(db):
    """Two steps, sales then warehouse; chosen before the three-step default chain."""
    chain = ApprovalChain.objects.create(name="two steps", position=1)
    for position, role in enumerate(["sales_manager", "warehouse_manager"], start=1):
        step = ApprovalStep.objects.create(chain=chain, position=position,
                                           name=role.replace("_", " ").capitalize())
        step.groups.add(Group.objects.get(name=role))
    return chain


@pytest.fixture
def people(make_user):
    return {
        "requester": make_user("ops", first_name="Lin", email="lin@shop.example"),
        "sales": make_user("sales_manager", email="sales@shop.example"),
        "sales_no_mail": make_user("sales_manager"),
        "wh": make_user("warehouse_manager", email="wh@shop.example"),
        "finance": make_user("finance", email="fin@shop.example"),
    }


def _rows(change, stage):
    return list(Message.objects.filter(dedupe_key__startswith=f"change:{change.pk}:{stage}")
                .select_related("gateway").order_by("id"))


def _mails(rows):
    return sorted(m.recipient for m in rows if m.gateway.kind == Gateway.Kind.EMAIL)


def _robots(rows):
    return [m for m in rows if m.gateway.kind == Gateway.Kind.WECOM]


def _events(rows):
    return {m.event for m in rows}


def test_two_step_chain_notifies_each_step_then_the_requester_and_the_warehouse_lead(
        order_on_pick_list, gateways, chain, people, warehouse, enqueued,
        django_capture_on_commit_callbacks):
    # given: the warehouse's lead is reached through the robot (@mention)
    WarehouseContact.objects.create(warehouse=warehouse, role="lead", name="王主管",
                                    phone="13700137000", gateway=gateways["robot"],
                                    language="en")
    # and: an admin routes reprints to the same robot (its post must keep the @mention)
    AlertRoute.objects.create(event=Event.PICKLIST_REPRINTED, gateway=gateways["robot"],
                              language="en")
    order, pick_list = order_on_pick_list(S.PICKING)

    # when: the requester files a change while the order is being picked
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                       reason="buyer moved", expected_status=S.PICKING)

    # then: step 1's approvers with an address get an e-mail, the robot one post
    step1 = _rows(change, "step:0")
    assert _mails(step1) == ["sales@shop.example"]
    [robot] = _robots(step1)
    url = f"https://hub.example/changes/{change.pk}/"
    for message in step1:
        assert order.number in message.body and f"#{change.pk}" in message.body
        assert "Lin" in message.body and "buyer moved" in message.body and url in message.body
        assert "“Sales manager”" in message.subject
        assert message.order_id == order.pk and message.status == Message.Status.QUEUED
    assert sorted(enqueued) == sorted(m.pk for m in step1)
    assert _events(step1) == {Event.CHANGE_WAITING}
    assert not _rows(change, "step:1") and not _rows(change, "outcome")

    # when: sales approves
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_decide(change=change.pk, actor=people["sales"],
                                       decision="approve")

    # then: step 2's approvers are told; step 1 was told once only
    assert len(_rows(change, "step:0")) == len(step1)
    step2 = _rows(change, "step:1")
    assert _mails(step2) == ["wh@shop.example"] and len(_robots(step2)) == 1
    assert all("“Warehouse manager”" in m.subject for m in step2)
    assert _events(step2) == {Event.CHANGE_WAITING}

    # when: the warehouse approves, the last step
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_decide(change=change.pk, actor=people["wh"],
                                       decision="approve")

    # then: applied; the requester hears the outcome by e-mail and the robot posts it
    assert change.status == ChangeRequest.Status.APPLIED
    outcome = _rows(change, "outcome")
    assert _mails(outcome) == ["lin@shop.example"] and len(_robots(outcome)) == 1
    assert all("approved and applied" in m.body and url in m.body for m in outcome)
    assert _events(outcome) == {Event.CHANGE_DECIDED}

    # and: the warehouse lead (robot @mention) and the warehouse managers hear of the reprint
    new_list = PickList.objects.get(original=pick_list)
    reprint = _rows(change, "reprint")
    assert _mails(reprint) == ["wh@shop.example"]
    [lead] = _robots(reprint)  # contact and route share the robot: one post, @mention kept
    assert lead.recipient == "13700137000"
    assert _events(reprint) == {Event.PICKLIST_REPRINTED}
    for message in reprint:
        assert f"Pick list {pick_list.number} is void: use its reprint {new_list.number}." \
            in message.body
        assert order.number in message.body

    # and: the intercept-only floor robot got none of it
    assert not Message.objects.filter(gateway=gateways["floor"]).exists()
    assert not Message.objects.filter(event=Event.INTERCEPT).exists()


def test_a_step_entered_is_announced_once(order_on_pick_list, gateways, chain, people,
                                          enqueued):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")
    before = Message.objects.count()

    # when: the same step entry is announced again (a retried call)
    again = notify.notify_step_entered(ChangeRequest.objects.get(pk=change.pk))

    # then: the same rows, nothing new
    assert Message.objects.count() == before == 2
    assert sorted(m.pk for m in again) == sorted(
        Message.objects.values_list("pk", flat=True))


def test_rejection_tells_the_requester_with_the_reason_and_nobody_at_the_next_step(
        order_on_pick_list, gateways, chain, people, enqueued):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")

    change = change_request_decide(change=change.pk, actor=people["sales"], decision="reject",
                                   comment="too late, parcel is packed")

    outcome = _rows(change, "outcome")
    assert _mails(outcome) == ["lin@shop.example"] and len(_robots(outcome)) == 1
    for message in outcome:
        assert "rejected" in message.subject
        assert "“Sales manager”" in message.body and people["sales"].username in message.body
        assert "too late, parcel is packed" in message.body
    assert not _rows(change, "step:1") and not _rows(change, "reprint")
    assert _events(outcome) == {Event.CHANGE_DECIDED}


def test_a_refused_decision_writes_no_message(order_on_pick_list, gateways, chain, people,
                                              enqueued):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")
    before = Message.objects.count()

    with pytest.raises(ChangeConflict):
        change_request_decide(change=change.pk, actor=people["sales"], decision="approve",
                              expected_step=1)

    assert Message.objects.count() == before


def test_no_email_gateway_still_posts_to_the_robot(order_on_pick_list, gateways, chain, people,
                                                    enqueued):
    gateways["mail"].enabled = False
    gateways["mail"].save()
    order, _ = order_on_pick_list(S.PICKING)

    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")

    rows = _rows(change, "step:0")
    assert len(rows) == 1 and rows[0].gateway.kind == Gateway.Kind.WECOM


def test_chinese_robot_gets_the_chinese_text(order_on_pick_list, gateways, chain, people,
                                             enqueued):
    AlertRoute.objects.update(language="zh-hans")
    order, _ = order_on_pick_list(S.PICKING)

    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")

    [robot] = _robots(_rows(change, "step:0"))
    assert robot.language == "zh-hans"
    assert f"变更申请 #{change.pk}" in robot.subject and "等待" in robot.subject
    assert "销售经理" in robot.subject  # the step name, translated
    assert "等待" in robot.body and "buyer moved" in robot.body


# --- the "waiting for me" badge ---------------------------------------------------------------


def test_badge_counts_what_waits_for_each_user_and_follows_the_chain(
        order_on_pick_list, gateways, chain, people, enqueued, client,
        django_capture_on_commit_callbacks):
    order, _ = order_on_pick_list(S.PICKING)
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                       reason="buyer moved")

    assert waiting_for_me_count(people["sales"]) == 1
    assert waiting_for_me_count(people["wh"]) == 0
    assert waiting_for_me_count(people["requester"]) == 0  # files, does not approve

    client.force_login(people["sales"])
    page = client.get(reverse("orders:list")).content.decode()
    assert 'id="nav-waiting"' in page and f"{reverse('changes:list')}?mine=on" in page

    # when: sales approves, the badge moves to the warehouse (no stale cached count)
    with django_capture_on_commit_callbacks(execute=True):
        change_request_decide(change=change.pk, actor=people["sales"], decision="approve")

    assert waiting_for_me_count(people["sales"]) == 0
    assert waiting_for_me_count(people["wh"]) == 1
    assert 'id="nav-waiting"' not in client.get(reverse("orders:list")).content.decode()


def test_badge_is_rendered_in_chinese(order_on_pick_list, gateways, chain, people, enqueued,
                                      client, django_capture_on_commit_callbacks):
    order, _ = order_on_pick_list(S.PICKING)
    with django_capture_on_commit_callbacks(execute=True):
        change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                              reason="buyer moved")
    client.force_login(people["sales"])

    page = client.get(reverse("orders:list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "待我审批" in page and "1 个变更申请等待您审批" in page


def test_badge_costs_no_query_once_cached(order_on_pick_list, gateways, chain, people,
                                          enqueued, django_assert_num_queries):
    order, _ = order_on_pick_list(S.PICKING)
    change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                          reason="buyer moved")
    user = people["sales"]
    assert waiting_for_me_count(user) == 1  # computes and caches (permissions loaded too)

    with django_assert_num_queries(0):
        assert waiting_for_me_count(user) == 1


def test_requester_sees_the_outcome_in_the_menu_and_in_their_list(
        order_on_pick_list, gateways, chain, people, enqueued, client,
        django_capture_on_commit_callbacks):
    order, _ = order_on_pick_list(S.PICKING)
    with django_capture_on_commit_callbacks(execute=True):
        change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                       reason="buyer moved")
    requester = people["requester"]
    assert decided_for_me_count(requester) == 0  # pending: nothing decided yet

    # when: step 1 rejects it
    with django_capture_on_commit_callbacks(execute=True):
        change_request_decide(change=change.pk, actor=people["sales"], decision="reject",
                              comment="no")

    # then: the requester's menu shows it, linking to their own requests
    assert decided_for_me_count(requester) == 1
    assert decided_for_me_count(people["sales"]) == 0  # decided it, did not file it
    client.force_login(requester)
    page = client.get(reverse("orders:list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="nav-decided"' in page and "我的申请" in page
    assert "您有 1 个变更申请在过去24小时内已有结果" in page
    listing = client.get(reverse("changes:list"), {"filed": "on"}).content.decode()
    assert f'data-change="{change.pk}"' in listing

    # and: another user's "filed by me" list does not show it
    client.force_login(people["wh"])
    listing = client.get(reverse("changes:list"), {"filed": "on"}).content.decode()
    assert f'data-change="{change.pk}"' not in listing


def test_a_change_before_picking_tells_the_warehouse_lead_of_the_reprint(
        order_on_pick_list, gateways, people, warehouse, enqueued):
    # given: a ready-to-pick order on a pick list; the lead is reached by e-mail
    WarehouseContact.objects.create(warehouse=warehouse, role="lead", name="王主管",
                                    email="lead@wh.example", gateway=gateways["mail"],
                                    language="zh-hans")
    order, pick_list = order_on_pick_list(S.READY_TO_PICK)

    # when: the change is applied at once (no approval before picking)
    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")

    # then: no approver was asked; the lead and the warehouse manager hear of the reprint
    assert change.status == ChangeRequest.Status.APPLIED
    assert not _rows(change, "step") and not _rows(change, "outcome")
    new_list = PickList.objects.get(original=pick_list)
    reprint = {m.recipient: m for m in _rows(change, "reprint")}
    assert sorted(reprint) == ["lead@wh.example", "wh@shop.example"]
    lead = reprint["lead@wh.example"]
    assert lead.language == "zh-hans"
    assert f"拣货单{pick_list.number}已作废，请改用重印单{new_list.number}。" in lead.body
    assert order.number in lead.subject and "重印" in lead.subject
    assert _events(reprint.values()) == {Event.PICKLIST_REPRINTED}
    # no reprint route: the robots routed for approvals are not told
    assert not _robots(reprint.values())


# --- the events ------------------------------------------------------------------------------


def test_only_the_change_request_routes_get_approval_posts(order_on_pick_list, gateways, chain,
                                                           people, enqueued):
    # given: the ops robot is routed intercepts only, the floor robot intercepts too
    AlertRoute.objects.filter(gateway=gateways["robot"]).update(event=Event.INTERCEPT)
    order, _ = order_on_pick_list(S.PICKING)

    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")
    change_request_decide(change=change.pk, actor=people["sales"], decision="reject",
                          comment="no")

    # then: approvers and the requester get their e-mails, no robot posts anything
    rows = _rows(change, "")
    assert _mails(rows) == ["lin@shop.example", "sales@shop.example"]
    assert all(m.gateway.kind == Gateway.Kind.EMAIL for m in rows)


def test_message_list_names_the_change_request_events(order_on_pick_list, gateways, chain,
                                                      people, enqueued, client, make_user):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=people["requester"], proposed=MOVE,
                                   reason="buyer moved")
    change_request_decide(change=change.pk, actor=people["sales"], decision="reject",
                          comment="no")
    client.force_login(make_user("manager"))

    html = client.get(reverse("notifications:log")).content.decode()
    assert "Change request waiting for approval" in html and "Change request decided" in html
    assert "Order intercepted</td>" not in html and "Order intercepted<div" not in html

    filtered = client.get(reverse("notifications:log"),
                          {"event": Event.CHANGE_DECIDED}).content.decode()
    assert "was rejected" in filtered and "waits for" not in filtered

    chinese = client.get(reverse("notifications:log"),
                         HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "变更申请待审批" in chinese and "变更申请已有结果" in chinese


def test_change_request_events_take_no_template():
    template = MessageTemplate(event=Event.CHANGE_WAITING, audience="team", language="en",
                               body="waiting")
    with pytest.raises(ValidationError) as refused:
        template.save()
    assert "event" in refused.value.message_dict
    assert not MessageTemplate.objects.filter(event=Event.CHANGE_WAITING).exists()


def test_migration_relabels_old_rows_and_keeps_robots_routed(gateways, enqueued):
    """Upgrading: approval rows stored as intercepts get their event; intercept robots
    keep hearing of approvals through routes of their own, which the admin can switch off."""
    from django.apps import apps

    migration = importlib.import_module(
        "fulfillment.notifications.migrations.0006_change_request_events")
    AlertRoute.objects.exclude(event=Event.INTERCEPT).delete()  # as before the upgrade
    email_intercept = AlertRoute.objects.create(event=Event.INTERCEPT, gateway=gateways["mail"],
                                                recipient="ops@shop.example")
    rows = {}
    for key in ("change:7:step:0:1:r1", "change:7:outcome:applied:1:r1",
                "change:7:reprint:PL1:1:c1", "intercept:9:1:r1"):
        rows[key], _ = message_enqueue(kind=Message.Kind.TEAM, event=Event.INTERCEPT,
                                       gateway=gateways["floor"], recipient="", body="x",
                                       dedupe_key=key,
                                       actor="system:test")

    migration.forwards(apps, None)
    migration.forwards(apps, None)  # a second run copies nothing twice

    events = dict(Message.objects.values_list("dedupe_key", "event"))
    assert events == {"change:7:step:0:1:r1": Event.CHANGE_WAITING,
                      "change:7:outcome:applied:1:r1": Event.CHANGE_DECIDED,
                      "change:7:reprint:PL1:1:c1": Event.PICKLIST_REPRINTED,
                      "intercept:9:1:r1": Event.INTERCEPT}
    copied = AlertRoute.objects.exclude(event=Event.INTERCEPT)
    assert sorted(copied.values_list("event", "gateway_id")) == [
        (Event.CHANGE_DECIDED, gateways["floor"].pk), (Event.CHANGE_WAITING, gateways["floor"].pk)]
    assert email_intercept.gateway_id not in set(copied.values_list("gateway_id", flat=True))
