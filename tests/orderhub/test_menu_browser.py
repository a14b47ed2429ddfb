"""At 1440×900 the manager's top menu is one row and every status tab ("On hold" too) shows."""

import os

import pytest

from tests.conftest import ARTIFACTS, PASSWORD

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ONE_ROW = """() => {
  const bar = document.querySelector('header.topbar');
  const items = [...bar.querySelectorAll('.nav > a, .nav-end')];
  // One row: every item (each link, the language/user/log-out block) is centred on the same
  // line and no label breaks inside itself (a wrapped label is taller than one line).
  const centres = items.map(el => {
    const r = el.getBoundingClientRect();
    return r.top + r.height / 2;
  });
  const tallest = Math.max(...bar.querySelectorAll('.nav > a, .nav-end > *').values()
    .map(el => el.getBoundingClientRect().height));
  const right = Math.max(...items.map(el => el.getBoundingClientRect().right));
  return {spread: Math.max(...centres) - Math.min(...centres), tallest, right,
          barHeight: bar.getBoundingClientRect().height,
          width: document.documentElement.clientWidth, links: items.length - 1,
          scrollWidth: document.documentElement.scrollWidth};
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_manager_menu_is_one_row_and_on_hold_tab_is_visible(live_server, browser, make_user,
                                                            make_order, locale):
    make_order("on_hold")
    manager = make_user("manager", username=f"mgr{locale[:2]}", is_staff=True)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale=locale)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/orders/")
    menu = page.evaluate(ONE_ROW)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"menu-1440-{locale}.png"))
    assert menu["links"] >= 8, menu  # the manager's full menu, not a short one
    assert menu["spread"] <= 2 and menu["tallest"] <= 36 and menu["barHeight"] <= 48, menu
    assert menu["right"] <= menu["width"] and menu["scrollWidth"] <= menu["width"], menu

    tab = page.locator('a.tab[data-status="on_hold"]')
    assert tab.is_visible()
    box = tab.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1440, box
    tab.click()
    page.wait_for_url("**/orders/?status=on_hold")
    page.wait_for_selector('a.tab.active[data-status="on_hold"]')
    context.close()
