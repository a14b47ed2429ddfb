"""In headless Chromium: ops open a ticket by hand, take it, hand it on and close it."""

import os

import pytest

from fulfillment.tickets.models import Ticket, TicketEvent
from fulfillment.tickets.services import ticket_open
from tests.conftest import ARTIFACTS
from tests.conftest import browser_login as login

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"




@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_create_assign_and_close_a_ticket(live_server, browser, make_user, make_order):
    # given: an order, an automatic ticket already in the queue, two ops people
    order = make_order("paid")
    stalled, _created = ticket_open(kind="stalled_parcel", title="包裹停滞 48 小时",
                                    actor="system:test")
    ops, colleague = make_user("ops"), make_user("ops", username="li.lei")

    # when: the queue page
    page = login(browser, live_server, ops)
    page.goto(f"{live_server.url}/tickets/")

    # then: the existing ticket is listed
    assert "包裹停滞 48 小时" in page.locator(f"#ticket-{stalled.pk}").inner_text()

    # when: a new complaint ticket from the queue's "New ticket" button
    page.get_by_role("link", name="New ticket").click()
    page.wait_for_url(f"{live_server.url}/tickets/new/")
    page.select_option("select[name=kind]", "complaint")
    page.fill("input[name=title]", "买家投诉包装破损")
    page.fill("textarea[name=description]", "外箱破损，杯子有划痕")
    page.fill("input[name=order_number]", order.number)
    page.get_by_role("button", name="Open ticket").click()
    page.wait_for_url(f"{live_server.url}/tickets/*/")

    # then: stored, linked to the order, open and unassigned
    ticket = Ticket.objects.get(title="买家投诉包装破损")
    assert page.url.endswith(f"/tickets/{ticket.pk}/")
    assert (ticket.kind, ticket.status, ticket.order_id, ticket.assignee_id) == (
        "complaint", "open", order.pk, None)

    # when: back in the queue, "Assign to me" on its row (HTMX swaps the row)
    page.goto(f"{live_server.url}/tickets/")
    page.evaluate("window.__noReload = true")
    row = page.locator(f"#ticket-{ticket.pk}")
    row.get_by_role("button", name="Assign to me").click()
    page.wait_for_function(
        f"() => document.querySelector('#ticket-{ticket.pk} .assignee')?.innerText"
        f".includes('{ops.username}')")
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == ops.pk
    # htmx wires the swapped-in row's forms only when it settles (after its settle
    # delay); a change fired before that would go unheard.
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')")

    # when: the status select on the row moves it to "In progress"
    row.locator("select[name=status]").select_option("in_progress")
    page.wait_for_selector(f"#ticket-{ticket.pk}[data-status=in_progress]")
    assert Ticket.objects.get(pk=ticket.pk).status == "in_progress"
    assert page.evaluate("window.__noReload") is True

    # when: on the detail page, hand it to a colleague, then close it with a note
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    page.select_option("select[name=assignee]", str(colleague.pk))
    page.get_by_role("button", name="Assign", exact=True).click()
    page.wait_for_load_state()
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == colleague.pk
    page.select_option("form:has(input[name=expected_status]) select[name=status]", "closed")
    page.fill("input[name=comment]", "已补发新杯子")
    page.get_by_role("button", name="Change status").click()
    page.wait_for_load_state()

    # then: closed, and every step is in the ticket's history
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.status == "closed"
    kinds = list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert kinds.count("assign") == 2 and kinds.count("status") == 2
    assert "已补发新杯子" in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ticket-detail.png"), full_page=True)
