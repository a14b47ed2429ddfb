"""A hardware (wedge) scanner on the scanning screen, in headless Chromium.

A wedge scanner types the code's keystrokes and Enter into whatever has focus:
these tests never click the input first. They type after "Take next task",
after Finish, after ops held and released the order mid-pick, and after a task
was taken on another device, at a phone and a desktop viewport.
Screenshots go to test-artifacts/scan-focus/.
"""

import os
import shutil

import pytest

from orderhub.models import OrderStatus
from orderhub.services.orders import order_transition
from tests.conftest import ARTIFACTS as SHARED_ARTIFACTS
from tests.conftest import PASSWORD
from warehouse.models import PickTask
from warehouse.services import picking

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ARTIFACTS = SHARED_ARTIFACTS / "scan-focus"
CUP, SLEEVE = "6901234567892", "6909876543210"
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian chromium"),
]


def _login(browser, live_server, user, device):
    """Log in through the form, as a picker does on the phone."""
    context = browser.new_context(locale="en-US", **VIEWPORTS[device])
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    return context, page


def _wedge(page, code):
    """What a wedge scanner does: keystrokes into the focused element, then Enter."""
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")


def _focused(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def _wait_focused(page):
    page.wait_for_function("() => document.activeElement && "
                           "document.activeElement.id === 'scan-input'",
                           timeout=3000)


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_wedge_scanner_keeps_scanning_through_take_next_hold_release_and_finish(
        browser, live_server, make_user, make_order, warehouse, stocked, device):
    # given two waiting orders and a picker who logs in
    first = make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse, priority=1)
    second = make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse)
    picker = make_user("picker")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page = _login(browser, live_server, picker, device)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def shot(name):
        page.screenshot(path=str(ARTIFACTS / f"{device}-{name}.png"))

    # then the picker lands on the scanning screen
    page.wait_for_url(f"{live_server.url}/scan/")
    page.get_by_role("button", name=warehouse.name).click()
    page.wait_for_selector("#take")
    _wait_focused(page)
    page.evaluate("window.__noReload = true")

    # when the picker taps "Take next task" and scans at once
    page.get_by_role("button", name="Take next task").click()
    page.wait_for_selector(f"#order-no:text('{first.number}')")
    _wait_focused(page)
    _wedge(page, CUP)
    page.wait_for_selector("#progress-text:text('1 / 3')")
    shot("01-after-take-next")

    # when ops hold the order mid-pick, the next scan is refused and the screen says why
    order_transition(order=first.pk, name="hold", actor="system:test", reason="买家要改地址")
    _wedge(page, CUP)
    page.wait_for_selector("#msg.hold")
    assert "on hold" in page.inner_text("#msg") and "买家要改地址" in page.inner_text("#msg")
    assert page.is_disabled("#finish")
    assert page.inner_text("#progress-text") == "1 / 3"
    _wait_focused(page)
    shot("02-held")

    # when ops release it, the screen follows by itself and the scanner goes on
    order_transition(order=first.pk, name="release", actor="system:test")
    page.wait_for_selector("#msg:text('was released')", timeout=10_000)
    _wait_focused(page)
    _wedge(page, CUP)
    page.wait_for_selector("#progress-text:text('2 / 3')")
    _wedge(page, SLEEVE)
    page.wait_for_selector("#progress-text:text('3 / 3')")
    page.wait_for_selector("#msg:text('All picked')")
    shot("03-released-and-picked")

    # when the picker taps Finish, the next order is opened by scanning its number
    page.get_by_role("button", name="Finish").click()
    page.wait_for_selector(f"#idle-msg:text('Order {first.number} picked')")
    _wait_focused(page)
    _wedge(page, second.number)
    page.wait_for_selector(f"#order-no:text('{second.number}')")
    # the new task starts clean: no "All picked" left from the previous one
    assert page.inner_text("#msg") == ""
    assert page.inner_text("#progress-text") == "0 / 3"
    _wedge(page, CUP)
    page.wait_for_selector("#progress-text:text('1 / 3')")
    shot("04-next-after-finish")

    # then every scan counted, nothing needed a reload, focus never left the input
    first.refresh_from_db()
    assert first.status == OrderStatus.PICKED
    assert PickTask.objects.get(order=second).lines.get(sku__code="SKU-1").picked == 1
    assert page.evaluate("window.__noReload") is True
    assert _focused(page) == "scan-input"
    assert errors == []
    context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_taken_elsewhere_and_the_problem_dialog_keep_the_scanner_working(
        browser, live_server, make_user, make_order, warehouse, stocked):
    # given a picker on the idle scanning screen
    order = make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse)
    picker = make_user("picker")
    context, page = _login(browser, live_server, picker, "phone")
    page.wait_for_url(f"{live_server.url}/scan/")
    page.get_by_role("button", name=warehouse.name).click()
    page.wait_for_selector("#take")
    page.evaluate("window.__noReload = true")

    # when the same picker takes the order on another device
    picking.task_claim_next(picker=picker, warehouse=warehouse)

    # then this screen shows it without a reload, and the scanner counts on it
    page.wait_for_selector(f"#order-no:text('{order.number}')", timeout=10_000)
    _wait_focused(page)
    _wedge(page, CUP)
    page.wait_for_selector("#progress-text:text('1 / 3')")

    # a report through the dialog (Cancel, then Send) gives the focus back each time
    page.get_by_role("button", name="Report a problem").click()
    page.get_by_role("button", name="Cancel").click()
    _wait_focused(page)
    page.get_by_role("button", name="Report a problem").click()
    page.get_by_label("Damaged").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#msg:text('Problem reported')")
    _wait_focused(page)
    _wedge(page, CUP)
    page.wait_for_selector("#progress-text:text('2 / 3')")

    # a tap on an empty spot or on the camera button leaves the scanner working too
    page.mouse.click(5, 300)
    _wait_focused(page)
    assert page.evaluate("window.__noReload") is True
    context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_camera_icon_is_drawn_not_a_font_glyph(browser, live_server, make_user, warehouse):
    picker = make_user("picker")
    context, page = _login(browser, live_server, picker, "phone")
    page.wait_for_url(f"{live_server.url}/scan/")
    page.get_by_role("button", name=warehouse.name).click()
    # Chromium has getUserMedia on http://127.0.0.1 (a secure context): the button shows.
    page.wait_for_selector("#camera:not([hidden])")
    assert page.locator("#camera svg").count() == 1
    assert page.inner_text("#camera").strip() == ""
    box = page.locator("#camera svg").bounding_box()
    assert box and box["width"] >= 16 and box["height"] >= 16
    context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_others_still_land_on_the_order_list(browser, live_server, make_user):
    ops = make_user("ops")
    context, page = _login(browser, live_server, ops, "desktop")
    page.wait_for_url(f"{live_server.url}/orders/")
    context.close()
