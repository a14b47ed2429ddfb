"""Ticket services: idempotent open, assign, comment, status (with permissions), selectors."""

import datetime as dt

import pytest
from django.utils import timezone
from freezegun import freeze_time

from fulfillment.tickets import selectors, services
from fulfillment.tickets.models import Ticket, TicketEvent
from orderhub.models import OrderStatus

pytestmark = pytest.mark.django_db


def test_open_sets_sla_due_and_audit_row(make_user):
    ops = make_user("ops")
    now = timezone.now()
    with freeze_time(now):
        ticket, created = services.ticket_open(kind="picking_problem", title="  Box  broken ",
                                               actor=ops)
    assert created and ticket.title == "Box broken"
    assert ticket.due_at == now + dt.timedelta(hours=services.SLA_HOURS["picking_problem"])
    assert ticket.created_by == ops and ticket.created_by_label == ops.username
    event = ticket.events.get()
    assert event.kind == TicketEvent.Kind.CREATED and event.actor_user == ops


def test_sla_can_be_overridden(settings):
    settings.TICKET_SLA_HOURS = {"complaint": 2}
    ticket, _ = services.ticket_open(kind="complaint", title="x", actor="system:test")
    assert ticket.due_at - ticket.created_at == dt.timedelta(hours=2)


def test_auto_tickets_are_idempotent(make_order):
    order = make_order()
    first, created1 = services.ticket_open(kind="intercept", title="a", order=order,
                                           dedupe_key="intercept:order:1", actor="system:test")
    second, created2 = services.ticket_open(kind="intercept", title="b", order=order,
                                            dedupe_key="intercept:order:1", actor="system:test")
    assert (created1, created2) == (True, False) and first.pk == second.pk
    assert Ticket.objects.count() == 1 and TicketEvent.objects.count() == 1
    assert first.channel == order.channel


def test_hand_tickets_do_not_collide():
    services.ticket_open(kind="other", title="a", actor="system:test")
    services.ticket_open(kind="other", title="b", actor="system:test")
    assert Ticket.objects.count() == 2


@pytest.mark.parametrize("kwargs", [{"kind": "nope", "title": "x"}, {"kind": "other",
                                                                        "title": "  "}])
def test_bad_input_is_refused(kwargs):
    with pytest.raises(services.TicketError):
        services.ticket_open(actor="system:test", **kwargs)
    assert not Ticket.objects.exists()


def test_picker_cannot_open_or_work_tickets(make_user):
    picker = make_user("picker")
    with pytest.raises(services.TicketNotPermitted):
        services.ticket_open(kind="other", title="x", actor=picker)
    ticket, _ = services.ticket_open(kind="other", title="x", actor="system:test")
    for call in (lambda: services.ticket_assign(ticket=ticket, assignee=picker, actor=picker),
                 lambda: services.ticket_comment(ticket=ticket, text="hi", actor=picker),
                 lambda: services.ticket_set_status(ticket=ticket, status="closed",
                                                    actor=picker)):
        with pytest.raises(services.TicketNotPermitted):
            call()
    assert ticket.events.count() == 1


def test_finance_can_view_but_not_change(make_user):
    # Issue 14: tickets are ops' and managers'; finance does not see them at all.
    finance = make_user("finance")
    assert not finance.has_perm("tickets.view_ticket")
    assert not finance.has_perm("tickets.change_ticket")
    assert make_user("manager").has_perm("tickets.change_ticket")


def test_assign_comment_status_leave_a_trail(make_user):
    ops, other = make_user("ops"), make_user("manager")
    ticket, _ = services.ticket_open(kind="complaint", title="x", actor=ops)
    services.ticket_assign(ticket=ticket, assignee=other, actor=ops)
    services.ticket_assign(ticket=ticket, assignee=other, actor=ops)  # no change, no row
    services.ticket_comment(ticket=ticket, text="买家已回电", actor=other)
    services.ticket_set_status(ticket=ticket, status="resolved", actor=other, comment="补发")
    ticket.refresh_from_db()
    assert ticket.assignee == other and ticket.status == "resolved" and ticket.resolved_at
    trail = list(ticket.events.values_list("kind", "actor", "text"))
    assert trail == [("created", ops.username, ""), ("assign", ops.username, ""),
                     ("comment", other.username, "买家已回电"),
                     ("status", other.username, "补发")]
    services.ticket_set_status(ticket=ticket, status="open", actor=other)
    ticket.refresh_from_db()
    assert ticket.resolved_at is None


def test_empty_comment_refused(make_user):
    ticket, _ = services.ticket_open(kind="other", title="x", actor="system:test")
    with pytest.raises(services.TicketError):
        services.ticket_comment(ticket=ticket, text="  ", actor=make_user("ops"))


def test_stale_status_change_is_a_conflict(make_user):
    ops = make_user("ops")
    ticket, _ = services.ticket_open(kind="other", title="x", actor=ops)
    services.ticket_set_status(ticket=ticket, status="in_progress", actor=ops)
    with pytest.raises(services.TicketConflict) as info:
        services.ticket_set_status(ticket=ticket, status="closed", expected_status="open",
                                   actor=ops)
    assert info.value.status == 409
    ticket.refresh_from_db()
    assert ticket.status == "in_progress"


def test_complaint_count_counts_orders_once(make_order):
    a, b, c = make_order(OrderStatus.PAID), make_order(OrderStatus.PAID), make_order()
    for order, key in ((a, "1"), (a, "2"), (b, "3")):
        services.ticket_open(kind="complaint", title="x", order=order, dedupe_key=key,
                             actor="system:test")
    services.ticket_open(kind="complaint", title="no order", actor="system:test")
    services.ticket_open(kind="other", title="x", order=c, actor="system:test")
    from orderhub.models import Order

    assert selectors.complaint_count() == 2
    assert selectors.complaint_count(orders=Order.objects.filter(pk__in=[a.pk, c.pk])) == 1
    future = timezone.now() + dt.timedelta(days=1)
    assert selectors.complaint_count(start=future) == 0
    assert selectors.complaint_count(end=future) == 2
