"""The ticket queue, detail and create pages, and their HTMX actions."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfillment.tickets.models import Ticket
from fulfillment.tickets.services import ticket_assign, ticket_open

pytestmark = pytest.mark.django_db


def _open(title, kind="other", **kwargs):
    return ticket_open(kind=kind, title=title, actor="system:test", **kwargs)[0]


def _login(client, user):
    client.force_login(user)
    return client


def test_queue_url_and_permissions(client, make_user):
    assert reverse("tickets:queue") == "/tickets/"
    assert client.get("/tickets/").status_code == 302
    assert _login(client, make_user("picker")).get("/tickets/").status_code == 403
    assert _login(client, make_user("finance")).get("/tickets/").status_code == 403
    assert _login(client, make_user("ops")).get("/tickets/").status_code == 200


def test_queue_filters_and_sort(client, make_user):
    ops = make_user("ops")
    late = _open("Late one", kind="complaint")
    Ticket.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    mine = _open("Mine one", kind="stalled_parcel")
    ticket_assign(ticket=mine, assignee=ops, actor="system:test")
    closed = _open("Closed one")
    Ticket.objects.filter(pk=closed.pk).update(status="closed")
    c = _login(client, ops)

    def titles(query=""):
        html = c.get(f"/tickets/{query}").content.decode()
        return [t for t in ("Late one", "Mine one", "Closed one") if t in html]

    assert titles() == ["Late one", "Mine one"]  # open only, by due date
    assert titles("?kind=complaint") == ["Late one"]
    assert titles("?mine=1") == ["Mine one"]
    assert titles("?overdue=1") == ["Late one"]
    assert titles("?status=closed") == ["Closed one"]
    assert titles("?status=all") == ["Late one", "Mine one", "Closed one"]
    html = c.get("/tickets/?sort=-due").content.decode()
    assert html.index("Mine one") < html.index("Late one")
    partial = c.get("/tickets/?kind=complaint", HTTP_HX_REQUEST="true").content.decode()
    assert "Late one" in partial and "<html" not in partial


def test_assign_to_me_with_htmx(client, make_user):
    ops = make_user("ops")
    ticket = _open("Help")
    response = _login(client, ops).post(reverse("tickets:assign-me", args=[ticket.pk]),
                                        HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="ticket-{ticket.pk}"' in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee == ops


def test_status_change_and_conflict(client, make_user):
    ticket = _open("Help")
    c = _login(client, make_user("ops"))
    url = reverse("tickets:status", args=[ticket.pk])
    response = c.post(url, {"status": "waiting", "expected_status": "open"},
                      HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-status="waiting"' in response.content.decode()
    stale = c.post(url, {"status": "closed", "expected_status": "open"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409 and "meanwhile" in stale.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == "waiting"


def test_comment_and_detail_history(client, make_user):
    ticket = _open("Help")
    c = _login(client, make_user("ops"))
    response = c.post(reverse("tickets:comment", args=[ticket.pk]), {"text": "已联系快递"})
    assert response.status_code == 302
    html = c.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert "已联系快递" in html
    empty = c.post(reverse("tickets:comment", args=[ticket.pk]), {"text": ""},
                   HTTP_HX_REQUEST="true")
    assert empty.status_code == 400


def test_finance_and_picker_cannot_act(client, make_user):
    ticket = _open("Help")
    for role in ("finance", "picker"):
        c = _login(client, make_user(role))
        for name, data in (("tickets:assign-me", {}), ("tickets:status", {"status": "closed"}),
                           ("tickets:comment", {"text": "x"})):
            assert c.post(reverse(name, args=[ticket.pk]), data).status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == "open" and ticket.assignee is None
    assert ticket.events.count() == 1
    html = _login(client, make_user("finance")).get("/tickets/").content.decode()
    assert "Assign to me" not in html


def test_create_by_hand_from_the_order(client, make_user, make_order):
    order = make_order()
    c = _login(client, make_user("ops"))
    form = c.get(f"{reverse('tickets:create')}?order={order.pk}").content.decode()
    assert order.number in form
    response = c.post(reverse("tickets:create"), {
        "kind": "complaint", "title": "买家投诉包装", "order_number": order.number,
        "description": "外箱破损"})
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response.url == f"/tickets/{ticket.pk}/"
    assert ticket.order == order and ticket.kind == "complaint"


def test_create_with_unknown_order_keeps_the_input(client, make_user):
    response = _login(client, make_user("ops")).post(reverse("tickets:create"), {
        "kind": "complaint", "title": "买家投诉", "order_number": "NOPE"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "NOPE" in html and "买家投诉" in html
    assert not Ticket.objects.exists()


def test_picker_cannot_create(client, make_user):
    assert _login(client, make_user("picker")).get(reverse("tickets:create")).status_code == 403


def test_order_panel(client, make_user, make_order):
    order = make_order()
    _open("Order problem", order=order)
    html = _login(client, make_user("ops")).get(
        reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'id="tickets-panel"' in html and "Order problem" in html
    assert f"{reverse('tickets:create')}?order={order.pk}" in html
    html = _login(client, make_user("picker")).get(
        reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'id="tickets-panel"' not in html


def test_demo_seed_is_idempotent(make_order):
    import io

    from fulfillment.tickets import demo
    from orderhub.models import OrderStatus

    make_order(OrderStatus.SHIPPED)
    demo.seed(io.StringIO())
    count = Ticket.objects.count()
    demo.seed(io.StringIO())
    assert Ticket.objects.count() == count == 2


def test_queue_queries_do_not_grow_with_tickets(client, make_user, make_order,
                                                django_assert_max_num_queries):
    ops = make_user("ops")
    for n in range(3):
        ticket = _open(f"T{n}", order=make_order())
        ticket_assign(ticket=ticket, assignee=ops, actor="system:test")
    c = _login(client, ops)
    c.get("/tickets/")  # warm the session and permission caches
    with django_assert_max_num_queries(8) as few:
        c.get("/tickets/")
    for n in range(3, 15):
        _open(f"T{n}", order=make_order())
    with django_assert_max_num_queries(len(few.captured_queries)):
        c.get("/tickets/")

