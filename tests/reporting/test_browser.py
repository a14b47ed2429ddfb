"""Headless Chromium: the dashboard with data and the wall screen, screenshotted into
test-artifacts/; the wall refreshes its cards in place and not while the tab is hidden."""

import os

import pytest

from orderhub.models import OrderStatus as S
from reporting.models import Kpi, KpiThreshold
from tests.conftest import ARTIFACTS

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def page(browser, live_server, make_user):
    user = make_user("manager", username="dashboard-manager")
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    return page


@pytest.fixture
def busy_day(make_order, make_channel):
    shopify = make_channel("sp", "shopify", "Shopify store")
    for status in (S.PAID, S.PAID, S.READY_TO_PICK, S.PICKING, S.OUT_OF_STOCK, S.SHIPPED,
                   S.SHIPPED, S.CANCELLED):
        make_order(status)
    make_order(S.REVIEW, channel=shopify, currency="USD", total="25.50")
    make_order(S.READY_TO_PICK, channel=shopify, priority=2)
    KpiThreshold.objects.filter(kpi=Kpi.AWAITING_SHIPMENT).update(amber=4, red=6)
    return shopify


def test_dashboard_with_data(page, live_server, busy_day):
    page.goto(f"{live_server.url}/dashboard/")

    page.wait_for_selector("#kpi-awaiting_shipment.kpi-red")
    assert page.locator("#kpi-awaiting_shipment .kpi-value").inner_text() == "7"
    assert page.locator("#kpi-out_of_stock").get_attribute("data-state") == "amber"
    assert page.locator("#kpi-tracking_return_rate .kpi-value").inner_text() == "—"
    # Chart.js (vendored) drew both charts.
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-per-channel') && "
                           "Chart.getChart('chart-ship-time')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Changing a filter swaps the body in place and keeps the URL shareable.
    page.evaluate("window.__noReload = true")
    page.select_option("select[name=platform]", "shopify")
    page.wait_for_url("**/dashboard/?*platform=shopify*")
    page.wait_for_function(
        "() => document.querySelector('#kpi-awaiting_shipment').dataset.value === '2'")
    assert page.evaluate("window.__noReload") is True
    page.wait_for_function("() => Chart.getChart('chart-per-channel')")

    # A card is a link to exactly its orders.
    href = page.locator("#kpi-in_review").get_attribute("href")
    assert href.startswith("/orders/?status=review") and "platform=shopify" in href


def test_wall_screen_refreshes_cards_in_place_only_while_visible(page, live_server, busy_day,
                                                                  make_order):
    page.goto(f"{live_server.url}/dashboard/wall/")
    page.wait_for_selector("#kpi-in_review")
    assert page.locator("#kpi-in_review .kpi-value").inner_text() == "1"
    font_size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.kpi-value')).fontSize)")
    assert font_size >= 48  # readable across a room
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-wall.png"))

    requests = []
    page.on("request", lambda request: requests.append(request.url)
            if "/dashboard/wall/" in request.url else None)
    page.evaluate("window.__noReload = true")
    make_order(S.REVIEW)

    # Hidden tab: the visibility condition stops the request.
    page.evaluate("""Object.defineProperty(document, 'visibilityState',
                     {configurable: true, get: () => 'hidden'});
                     document.dispatchEvent(new Event('visibilitychange'));""")
    page.wait_for_timeout(500)
    assert requests == []

    # Visible again: the cards refresh at once, without reloading the page.
    page.evaluate("""Object.defineProperty(document, 'visibilityState',
                     {configurable: true, get: () => 'visible'});
                     document.dispatchEvent(new Event('visibilitychange'));""")
    page.wait_for_function(
        "() => document.querySelector('#kpi-in_review .kpi-value').innerText.trim() === '2'")
    assert len(requests) == 1
    assert page.evaluate("window.__noReload") is True
    assert page.locator("#wall-cards").get_attribute("data-poll-every") == "30"


FITS = """() => {
  const w = window.innerWidth, h = window.innerHeight;
  const out = [];
  const boxes = [...document.querySelectorAll('.kpi, .wall-chart, .wall-chart canvas, .wall-foot')];
  for (const el of boxes) {
    const r = el.getBoundingClientRect();
    const inside = r.left >= 0 && r.top >= 0 && r.right <= w + 0.5 && r.bottom <= h + 0.5;
    // Cut off inside its own box: content taller or wider than the card.
    const clipped = el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
    const tiny = !el.matches('.wall-foot') && (r.width < 40 || r.height < 40);
    if (!inside || clipped || tiny)
      out.push(`${el.id || el.className}: ${JSON.stringify(r)} clipped=${clipped}`);
  }
  const page = document.documentElement;
  if (page.scrollHeight > h || page.scrollWidth > w)
    out.push(`page ${page.scrollWidth}x${page.scrollHeight}`);
  return {problems: out, cards: document.querySelectorAll('.kpi').length};
}"""


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)])
def test_wall_fits_every_card_and_chart_on_one_screen(page, live_server, busy_day, size):
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/dashboard/wall/")
    # Both charts drawn, with the data of the day (the per-channel chart has both channels).
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-per-channel') && "
                           "Chart.getChart('chart-ship-time')")
    assert page.evaluate(
        "Chart.getChart('chart-per-channel').data.datasets.length") == 2
    result = page.evaluate(FITS)
    assert result["cards"] == 15
    assert result["problems"] == []
    # Still readable: the numbers are not shrunk to fit.
    value_px = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.kpi-value')).fontSize)")
    assert value_px >= 0.04 * height
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-wall-{width}x{height}.png"))

    # After a poll swaps the cards and charts in, they still fit and are drawn again.
    page.evaluate("""Object.defineProperty(document, 'visibilityState',
                     {configurable: true, get: () => 'visible'});
                     document.dispatchEvent(new Event('visibilitychange'));""")
    page.wait_for_function("() => document.querySelector('#chart-per-channel') && "
                           "Chart.getChart('chart-per-channel') && "
                           "Chart.getChart('chart-per-channel').canvas.isConnected")
    assert page.evaluate(FITS)["problems"] == []


def test_dashboard_cards_refresh_without_reload(page, live_server, busy_day, make_order):
    page.goto(f"{live_server.url}/dashboard/?platform=shopify")
    page.wait_for_selector("#kpi-in_review")
    assert page.locator("#kpi-in_review").get_attribute("data-value") == "1"
    assert page.locator("#cards").get_attribute("data-poll-every") == "60"
    page.evaluate("window.__noReload = true")
    shopify = busy_day
    make_order(S.REVIEW, channel=shopify)
    make_order(S.REVIEW)  # another platform: not in this dashboard's filter
    # Coming back to the tab polls at once (the 60 s timer does the same while watching).
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function(
        "() => document.querySelector('#kpi-in_review').dataset.value === '2'")
    assert page.evaluate("window.__noReload") is True
    assert page.url.endswith("/dashboard/?platform=shopify")
