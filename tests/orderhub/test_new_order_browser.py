"""Manual order entry in headless Chromium, at desktop and phone viewports: look the
buyer up by phone, find a SKU and add it, mark paid, create; the order page opens."""

import os
import shutil
from decimal import Decimal

import pytest

from fulfillment import receivers
from orderhub.models import Customer, Order
from tests.conftest import ARTIFACTS, browser_login
from warehouse.models import SKU

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian chromium"),
]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900},
                                      {"width": 390, "height": 844}])
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_fill_the_form_and_create_an_order(browser, live_server, make_user, make_order,
                                           monkeypatch, viewport):
    queued = []
    monkeypatch.setattr(receivers, "enqueue", lambda name, ids: queued.append(ids))
    SKU.objects.create(code="TEA-01", name="Longjing tea 250g", attributes={"price": "88.00"})
    Customer.objects.create(name="王芳", phone="+8613800138000")
    make_order("shipped", buyer_phone="+8613800138000", ship_name="王芳",
               ship_phone="+8613800138000", ship_province="浙江省", ship_city="杭州市",
               ship_street="文三路 1 号")
    queued.clear()  # the earlier order went through "paid" too
    page = browser_login(browser, live_server, make_user("manager"))
    page.set_viewport_size(viewport)
    page.click("#new-order")
    page.wait_for_url(f"{live_server.url}/orders/new/")

    page.fill("#id_buyer_phone", "13800138000")
    page.click("#customer-lookup")
    page.wait_for_selector("#lookup-result")
    assert page.input_value("#id_buyer_name") == "王芳"
    assert page.input_value("#id_ship_street") == "文三路 1 号"

    page.fill("#sku-search", "longjing")
    page.click("[data-pick-sku='TEA-01']")
    assert page.input_value("#id_lines-0-sku") == "TEA-01"
    assert page.input_value("#id_lines-0-unit_price") == "88.00"
    page.fill("#id_lines-0-quantity", "2")
    page.check("#id_paid")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"order-new-{viewport['width']}.png"), full_page=True)
    page.click("#create-order")
    page.wait_for_selector("#order-status")

    order = Order.objects.exclude(status="shipped").get()
    assert page.url == f"{live_server.url}/orders/{order.pk}/"
    assert page.get_attribute("#order-status", "data-status") == "paid"
    assert order.total == Decimal("176.00") and order.customer.name == "王芳"
    assert queued == [[order.pk]]
    page.context.close()
