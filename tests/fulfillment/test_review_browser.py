"""In headless Chromium: ops approve and reject held orders on the review queue (/review/),
one at a time and in bulk (select all, one reason)."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

import os

import pytest

from fulfillment.models import ReviewAction
from fulfillment.services.automation import order_automate
from orderhub.models import Order, OrderStatus
from tests.conftest import ARTIFACTS
from tests.conftest import browser_login as login
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    eager,
    enable_risk,
    reserved,
    stock,
    stocked,
)

S = OrderStatus

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"




@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ops_approve_one_held_order_and_reject_another_in_place(
        live_server, browser, make_user, make_order, stocked, eager):
    # given: two orders automation held for a street address too short
    enable_risk("vague_address", min_street_length=6)
    approve_me = make_order(S.PAID, ship_street="1号")
    reject_me = make_order(S.PAID, ship_street="2号")
    for order in (approve_me, reject_me):
        order_automate(order=order)
        assert Order.objects.get(pk=order.pk).status == S.REVIEW

    # when: ops open the queue
    page = login(browser, live_server, make_user("ops"))
    page.goto(f"{live_server.url}/review/")

    # then: both rows, with the reason in words and the phone masked
    for order in (approve_me, reject_me):
        row = page.locator(f"#review-row-{order.pk}")
        assert order.number in row.inner_text()
        assert "The street address is too short" in row.inner_text()
        assert "138****8000" in row.inner_text()
    page.evaluate("window.__noReload = true")

    # when: approve the first with a comment (HTMX swaps the row, no page load)
    row = page.locator(f"#review-row-{approve_me.pk}")
    row.locator("input[name=comment]").fill("called the buyer")
    row.get_by_role("button", name="Approve").click()
    page.wait_for_function(
        f"() => document.querySelector('#review-row-{approve_me.pk}')?.innerText"
        ".includes('Approved')")

    # then: automation took it on and reserved its stock
    order = Order.objects.get(pk=approve_me.pk)
    assert order.status == S.READY_TO_PICK
    assert reserved(order)
    action = ReviewAction.objects.get(order=order)
    assert action.action == "approve" and "called the buyer" in action.comment

    # when: reject the second; an empty reason is refused by the form first
    row = page.locator(f"#review-row-{reject_me.pk}")
    row.get_by_role("button", name="Reject").click()
    assert row.locator("input[name=reason]:invalid").count() == 1
    assert Order.objects.get(pk=reject_me.pk).status == S.REVIEW
    row.locator("input[name=reason]").fill("fake address")
    row.get_by_role("button", name="Reject").click()
    page.wait_for_function(
        f"() => document.querySelector('#review-row-{reject_me.pk}')?.innerText"
        ".includes('Rejected')")

    # then: cancelled with the reason; still the same page
    order = Order.objects.get(pk=reject_me.pk)
    assert order.status == S.CANCELLED and "fake address" in order.cancel_reason
    assert ReviewAction.objects.get(order=order).action == "reject"
    assert page.evaluate("window.__noReload") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_select_all_and_reject_with_one_reason(live_server, browser, make_user, make_order,
                                               stocked):
    enable_risk("vague_address", min_street_length=6)
    held = [make_order(S.PAID, ship_street=f"{i}号") for i in range(3)]
    for order in held:
        order_automate(order=order)
    page = login(browser, live_server, make_user("ops"))
    page.goto(f"{live_server.url}/review/")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # nothing ticked: the bar refuses before posting
    page.get_by_role("button", name="Approve selected").click()
    assert dialogs == ["Tick at least one order."]

    page.check("#review-select-all")
    assert page.locator("input.bulk-pick:checked").count() == 3
    assert "3" in page.locator("#review-selected").inner_text()

    # reject without a reason: refused in the page, nothing posted
    page.get_by_role("button", name="Reject selected").click()
    assert dialogs[-1] == "Please give a reason."
    assert all(Order.objects.get(pk=o.pk).status == S.REVIEW for o in held)

    page.fill("#review-bulk-reason", "test orders")
    page.get_by_role("button", name="Reject selected").click()
    page.wait_for_selector("#bulk-results")
    results = page.locator("#bulk-results").inner_text()
    assert "3 done, 0 refused." in results
    for order in held:
        assert order.number in results
        assert Order.objects.get(pk=order.pk).status == S.CANCELLED
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-bulk.png"), full_page=True)
