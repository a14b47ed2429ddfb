"""In headless Chromium: select all on /review/, then reject the lot with one reason."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

import os

import pytest

from fulfillment.services.automation import order_automate
from orderhub.models import Order, OrderStatus
from tests.conftest import ARTIFACTS
from tests.conftest import browser_login as login
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    enable_risk,
    stock,
    stocked,
)

S = OrderStatus

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


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
