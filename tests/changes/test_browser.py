"""In headless Chromium: ops file a change from the order page; an approver decides via HTMX."""

import os

import pytest

from fulfillment.changes.models import ChangeRequest
from orderhub.models import Order
from tests.conftest import ARTIFACTS
from tests.conftest import browser_login as login

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"




@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_file_after_picking_then_approve_in_place(live_server, browser, users,
                                                  order_on_pick_list):
    order, _ = order_on_pick_list("picking")

    # ops: order page → "Request a change" → new street → submit
    page = login(browser, live_server, users["ops"])
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    page.click('[data-testid="request-change"]')
    page.fill("input[name=ship_street]", "世纪大道300号")
    page.fill("textarea[name=reason]", "buyer moved")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "change-request-form.png"), full_page=True)
    page.click("form.change-form button[type=submit]")
    page.wait_for_selector("#change-diff")
    assert "世纪大道300号" in page.locator("#change-diff td.new").first.inner_text()
    assert Order.objects.get(pk=order.pk).status == "on_hold"
    change = ChangeRequest.objects.get()

    # the sales manager approves; the fragment swaps in place (no page load)
    page = login(browser, live_server, users["sales_manager"])
    page.goto(f"{live_server.url}/changes/{change.pk}/")
    page.evaluate("window.__noReload = true")
    page.fill("textarea[name=comment]", "fine")
    page.click('button[data-decision="approve"]')
    page.wait_for_function(
        "() => document.querySelector('#approval-steps li.current')"
        "?.innerText.includes('Warehouse')")
    assert page.evaluate("window.__noReload") is True
    assert "fine" in page.locator("#approval-steps").inner_text()

    page.screenshot(path=str(ARTIFACTS / "change-request.png"), full_page=True)
