"""Smoke test in headless Chromium: log in, switch a status tab, the table updates via HTMX."""

import os

import pytest

from tests.conftest import ARTIFACTS

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_status_tab_swaps_the_table_in_place(live_server, browser, make_user, make_order):
    paid = make_order("paid")
    shipped = make_order("shipped")
    user = make_user("ops", username="opsbrowser")

    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{live_server.url}/orders/")
    assert page.locator("tr.order-row").count() == 2

    # A marker on window survives an HTMX swap but not a full page load.
    page.evaluate("window.__noReload = true")
    page.click('a.tab[data-status="shipped"]')
    page.wait_for_url("**/orders/?status=shipped")
    page.wait_for_selector('a.tab.active[data-status="shipped"]')
    rows = page.locator("tr.order-row")
    assert rows.count() == 1
    assert shipped.number in rows.first.inner_text()
    assert paid.number not in page.locator("table.orders").inner_text()
    assert page.evaluate("window.__noReload") is True

    # Back in history restores the full list.
    page.go_back()
    page.wait_for_url(f"{live_server.url}/orders/")
    page.wait_for_function("() => document.querySelectorAll('tr.order-row').length === 2")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "orders-list.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_refused_action_shows_the_error_in_place(live_server, browser, make_user, make_order):
    order = make_order("paid")
    user = make_user("ops", username="opsrace")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("form.stack button[type=submit]")
    page.goto(f"{live_server.url}/orders/{order.pk}/")

    # Someone else holds the order while this page is open.
    from orderhub.services.orders import order_transition

    order_transition(order=order.pk, name="hold", actor="system:test", reason="elsewhere")

    page.evaluate("window.__noReload = true")
    page.click('summary[data-transition="cancel"]')
    page.fill("details[open] textarea[name=reason]", "buyer asked")
    page.click("details[open] button[type=submit]")
    alert = page.wait_for_selector("#action-alert .alert-error")
    assert "Someone else changed this order" in alert.inner_text()
    assert page.evaluate("window.__noReload") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "order-detail-conflict.png"), full_page=True)
