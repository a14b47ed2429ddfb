"""Every main page type works in headless Chromium under the Content-Security-Policy: nothing
reports a violation (``securitypolicyviolation`` events) and the console shows no error."""

import base64
import io
import os
import shutil

import pytest
import qrcode

from orderhub.models import OrderStatus as S
from tests.conftest import ARTIFACTS, PASSWORD

# live_server runs in a thread of this process; Playwright's sync API looks async to Django.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian chromium"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Each page reports its violations to the console, where the listener below collects them
# (a window variable would not survive the navigations).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI
                + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""

# A canvas Chart.js drew on has pixels that are not transparent.
CANVAS_DRAWN = """id => {
  const c = document.getElementById(id);
  if (!c || !window.Chart || !Chart.getChart(id)) return false;
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
}"""


class Watch:
    """Console errors, page errors and CSP violations of every page a context opens."""

    def __init__(self, context):
        self.problems = []
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("page", self.attach)

    def attach(self, page):
        page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"{page.url}: {e}"))


def qr_data_url(value: str) -> str:
    buf = io.BytesIO()
    qrcode.make(value, box_size=8, border=4).get_image().save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", username="csp-admin", is_staff=True, is_superuser=True)


def test_every_page_type_works_under_the_policy(browser, live_server, admin_user, make_order,
                                                warehouse):
    paid = make_order(S.PAID)
    shipped = make_order(S.SHIPPED)
    make_order(S.REVIEW)
    make_order(S.READY_TO_PICK)
    base = live_server.url

    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    watch = Watch(context)
    page = context.new_page()
    # given a staff login (the login page itself is watched too)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", admin_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{base}/orders/")

    # order list: an htmx tab switch swaps the table in place
    page.evaluate("window.__noReload = true")
    page.click('a.tab[data-status="shipped"]')
    page.wait_for_selector('a.tab.active[data-status="shipped"]')
    assert page.locator("tr.order-row").count() == 1
    assert shipped.number in page.locator("table.orders").inner_text()
    assert page.evaluate("window.__noReload") is True

    # order page
    page.goto(f"{base}/orders/{paid.pk}/")
    page.wait_for_selector(f"h1:has-text(\"{paid.number}\")")

    # entering an order by hand, the review queue (their scripts moved to static files)
    page.goto(f"{base}/orders/new/")
    page.wait_for_selector("#create-order")
    page.goto(f"{base}/review/")
    page.wait_for_selector("#review-rows")
    # its poll is armed by app.js (an htmx trigger filter would need eval)
    page.wait_for_function("() => !!document.getElementById('review-rows').__pollTimer")

    # dashboard: Chart.js draws its canvases without eval
    page.goto(f"{base}/dashboard/")
    page.wait_for_function(CANVAS_DRAWN, arg="chart-per-channel")
    page.goto(f"{base}/dashboard/wall/")
    page.wait_for_function(CANVAS_DRAWN, arg="chart-per-channel")
    page.wait_for_function("() => !!document.getElementById('wall-cards').__pollTimer")
    # the wall's poll (app.js, no eval) refreshes the cards when the tab is shown again
    with page.expect_response(lambda r: "/dashboard/wall/" in r.url and r.status == 200):
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")

    # scanning page: the camera fallback (ZXing) loads and reads a QR code from a data: image
    page.goto(f"{base}/scan/")
    page.get_by_role("button", name=warehouse.name).click()
    page.wait_for_selector("#take")
    assert page.evaluate("url => window.orderhubDecodeImage(url)",
                         qr_data_url("PL2611220001R2")) == "PL2611220001R2"

    # pack page, pick lists (the warehouse picker submits itself without an inline handler)
    page.goto(f"{base}/scan/pack/")
    page.wait_for_selector("#take, #scan-input, main")
    page.goto(f"{base}/warehouse/picklists/")
    with page.expect_navigation():
        page.select_option("select[name=warehouse]", str(warehouse.pk))
    assert f"warehouse={warehouse.pk}" in page.url

    # admin: index, a list, a change form, its history, the lockout list
    page.goto(f"{base}/admin/")
    page.wait_for_selector("#site-name")
    page.goto(f"{base}/admin/orderhub/order/")
    page.wait_for_selector("#result_list")
    page.goto(f"{base}/admin/orderhub/order/{paid.pk}/change/")
    page.wait_for_selector("#content-main form")
    page.goto(f"{base}/admin/orderhub/order/{paid.pk}/history/")
    page.wait_for_selector("#content-main")
    page.goto(f"{base}/admin/axes/accessattempt/")
    page.wait_for_selector("#content-main")

    # public tracking page, logged out
    public = context.new_page()
    public.goto(f"{base}/track/")
    public.fill("input[name=number]", shipped.number)
    public.fill("input[name=phone]", "0000")
    public.click("form.card button[type=submit]")
    public.wait_for_selector(".alert, #track-result")

    assert watch.problems == [], "\n".join(watch.problems)
    context.close()


def test_the_lockout_page_works_under_the_policy(browser, live_server, admin_user, settings):
    context = browser.new_context(locale="zh-CN")
    watch = Watch(context)
    page = context.new_page()
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("input[name=username]", admin_user.username)
        page.fill("input[name=password]", "wrong-password")
        with page.expect_navigation() as nav:
            page.click("input[type=submit]")
    assert nav.value.status == 429
    page.wait_for_selector("#locked-out")
    assert "登录失败次数过多" in page.inner_text("#locked-out")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-locked-out-zh.png"))
    # Browsers log a failed (4xx) document load as a console error; that one is expected.
    assert [p for p in watch.problems if "status of 429" not in p] == []
    context.close()
