"""The whole scanning flow in headless Chromium at a phone viewport.

Screenshots of each step go to test-artifacts/scan/.
"""

import os
import shutil

import pytest
from django.conf import settings

from orderhub.models import Order, OrderStatus
from tests.conftest import ARTIFACTS as SHARED_ARTIFACTS
from warehouse.models import PickProblem

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ARTIFACTS = SHARED_ARTIFACTS / "scan"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian chromium"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pick_an_order_on_a_phone(browser, live_server, client, make_user, make_order,
                                  warehouse, stocked):
    # given a waiting order and a logged-in picker on a phone
    order = make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse)
    picker = make_user("picker")
    client.force_login(picker)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2, locale="en-US")
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def shot(name):
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def scan(code):
        page.fill("#scan-input", code)
        page.press("#scan-input", "Enter")

    # when the picker chooses the warehouse and takes the next task
    page.goto(f"{live_server.url}/scan/")
    shot("01-choose-warehouse")
    page.get_by_role("button", name=warehouse.name).click()
    page.get_by_role("button", name="Take next task").click()
    page.wait_for_selector(f"#order-no:text('{order.number}')")
    shot("02-task-taken")

    # scanning a right item counts it
    scan("6901234567892")
    page.wait_for_selector("#progress-text:text('1 / 3')")
    shot("03-right-item")

    # a wrong item is refused with the red flash
    scan("INT-LID-1")
    page.wait_for_selector("#flash:not([hidden])")
    assert "not in this order" in page.inner_text("#msg")
    shot("04-wrong-item-refused")
    page.wait_for_selector("#flash", state="hidden")
    assert page.inner_text("#progress-text") == "1 / 3"

    # a problem is reported in two taps (+ a note)
    page.get_by_role("button", name="Report a problem").click()
    page.get_by_label("Missing gift").check()
    page.fill("textarea[name=note]", "赠品缺货")
    shot("05-problem-dialog")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#msg:text('Problem reported')")
    shot("06-problem-reported")

    # the remaining items, then finish
    scan("SKU-1")
    page.wait_for_selector("#progress-text:text('2 / 3')")
    scan("6909876543210")
    page.wait_for_selector("#progress-text:text('3 / 3')")
    page.wait_for_selector("#finish:not([disabled])")
    shot("07-all-picked")
    page.get_by_role("button", name="Finish").click()
    page.wait_for_selector("#idle-msg:text('picked')")
    shot("08-finished")

    # then
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED
    assert PickProblem.objects.get(order=order).kind == "missing_gift"
    assert Order.objects.get(pk=order.pk).pick_tasks.get().scans.count() == 4
    assert errors == []
    context.close()
