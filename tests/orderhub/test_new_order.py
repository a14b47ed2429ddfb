"""Manual order entry (/orders/new/): the order is made by the order services, paid
offline through the ``pay`` transition (which queues automation), and a bad form
creates nothing."""

from decimal import Decimal

import pytest
from django.urls import reverse

from fulfillment import receivers
from orderhub.models import Customer, Order, OrderEvent, OrderTransitionLog
from warehouse.models import SKU, Barcode

URL = reverse("orders:new")


@pytest.fixture
def catalogue(db):
    tea = SKU.objects.create(code="TEA-01", name="Longjing tea 250g", attributes={"price": "88.00"})
    Barcode.objects.create(code="6901234567892", sku=tea)
    cup = SKU.objects.create(code="CUP-02", name="Celadon cup")  # no catalogue price
    SKU.objects.create(code="OLD-03", name="Retired tea", active=False)
    return tea, cup


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(receivers, "enqueue", lambda name, ids: calls.append((name, ids)))
    return calls


def post_data(channel, lines=(), **extra):
    data = {
        "channel": channel.pk, "kind": "b2c", "buyer_phone": "13800138000",
        "buyer_name": "王芳", "ship_province": "浙江省", "ship_city": "杭州市",
        "ship_street": "西湖区文三路 1 号", "shipping_fee": "10",
        "lines-TOTAL_FORMS": "5", "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "50",
    }
    for i, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{i}-{key}"] = value
    data.update(extra)
    return data


def login(client, make_user, role):
    user = make_user(role)
    client.force_login(user)
    return user


def test_manager_creates_a_paid_order_and_automation_is_queued(
        client, make_user, channel, catalogue, queued, django_capture_on_commit_callbacks):
    manager = login(client, make_user, "manager")
    lines = [{"sku": "6901234567892", "quantity": "2"},  # by barcode, catalogue price
             {"sku": "CUP-02", "quantity": "1", "unit_price": "30.50"},
             {"sku": "CUP-02", "quantity": "1", "is_gift": "on"}]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, post_data(channel, lines, kind="b2b", paid="on"))
    order = Order.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("orders:detail", args=[order.pk])
    assert order.status == "paid" and order.kind == "b2b" and order.channel == channel
    assert order.buyer_phone == "+8613800138000" and order.ship_phone == "+8613800138000"
    assert order.ship_name == "王芳"
    got = {(line.sku_code, line.is_gift): (line.quantity, line.unit_price)
           for line in order.lines.all()}
    assert got == {("TEA-01", False): (2, Decimal("88.00")),
                   ("CUP-02", False): (1, Decimal("30.50")),
                   ("CUP-02", True): (1, Decimal("0"))}
    assert order.subtotal == Decimal("206.50") and order.total == Decimal("216.50")
    assert OrderEvent.objects.filter(order=order, kind="created").count() == 1
    log = OrderTransitionLog.objects.get(order=order)
    assert (log.transition, log.actor_user) == ("pay", manager)
    assert queued == [("fulfillment.tasks.automate_orders", [order.pk])]


def test_ops_creates_an_unpaid_order_and_cannot_mark_it_paid(
        client, make_user, channel, catalogue, queued, django_capture_on_commit_callbacks):
    login(client, make_user, "ops")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "1"}],
                                              paid="on"))
    assert response.status_code == 302
    order = Order.objects.get()
    # "paid" is disabled for ops: the order waits for payment, nothing is queued.
    assert order.status == "pending_payment" and order.total == Decimal("98.00")
    assert queued == []


def test_the_buyer_is_linked_to_the_customer_with_that_phone(client, make_user, channel,
                                                             catalogue):
    customer = Customer.objects.create(name="王芳", phone="+8613800138000")
    login(client, make_user, "ops")
    client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "1"}]))
    assert Order.objects.get().customer == customer


@pytest.mark.parametrize("change, field, message", [
    ({"buyer_phone": "12345"}, "buyer_phone", "is not a valid phone number"),
    ({"ship_phone": "not a phone"}, "ship_phone", "is not a phone number"),
    ({"buyer_name": ""}, "buyer_name", "This field is required."),
])
def test_bad_head_fields_are_refused(client, make_user, channel, catalogue, change, field,
                                     message):
    login(client, make_user, "ops")
    response = client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "1"}],
                                          **change))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in response.content.decode()
    assert not Order.objects.exists()


def test_no_lines_is_refused(client, make_user, channel, catalogue):
    login(client, make_user, "ops")
    response = client.post(URL, post_data(channel))
    assert response.status_code == 400
    assert "Add at least one line." in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize("code", ["NOPE-9", "OLD-03"])
def test_unknown_or_inactive_sku_is_refused(client, make_user, channel, catalogue, code):
    login(client, make_user, "ops")
    response = client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "1"},
                                                    {"sku": code, "quantity": "1"}]))
    assert response.status_code == 400
    assert response.context["lines"].forms[1].errors["sku"] == [
        f"No active SKU “{code}” in the catalogue."]
    assert not Order.objects.exists()


def test_sku_without_price_needs_one_typed(client, make_user, channel, catalogue):
    login(client, make_user, "ops")
    response = client.post(URL, post_data(channel, [{"sku": "CUP-02", "quantity": "1"}]))
    assert response.status_code == 400
    assert "This SKU has no price: type one." in response.content.decode()
    assert not Order.objects.exists()


def test_same_sku_twice_is_refused(client, make_user, channel, catalogue):
    login(client, make_user, "ops")
    response = client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "1"},
                                                    {"sku": "6901234567892", "quantity": "1"}]))
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_price_override_needs_the_permission(client, make_user, channel, catalogue):
    login(client, make_user, "ops")
    line = {"sku": "TEA-01", "quantity": "1", "unit_price": "1.00"}
    response = client.post(URL, post_data(channel, [line]))
    assert response.status_code == 400
    assert response.context["lines"].forms[0].errors["unit_price"] == [
        "Only a manager may change the price (catalogue price 88.00)."]
    assert not Order.objects.exists()
    # The catalogue price typed in is no override.
    response = client.post(URL, post_data(channel, [{**line, "unit_price": "88"}]))
    assert response.status_code == 302


def test_manager_may_override_the_price(client, make_user, channel, catalogue):
    login(client, make_user, "manager")
    response = client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "3",
                                                     "unit_price": "80"}]))
    assert response.status_code == 302
    assert Order.objects.get().lines.get().unit_price == Decimal("80.00")


@pytest.mark.parametrize("role", ["picker", "finance"])
@pytest.mark.parametrize("name, params", [("orders:new", {}),
                                          ("orders:new-customer", {"buyer_phone": "13800138000"}),
                                          ("orders:new-skus", {"q": "tea"})])
def test_pickers_and_finance_are_refused(client, make_user, channel, catalogue, role, name,
                                         params):
    login(client, make_user, role)
    assert client.get(reverse(name), params).status_code == 403
    if name == "orders:new":
        response = client.post(URL, post_data(channel, [{"sku": "TEA-01", "quantity": "1"}]))
        assert response.status_code == 403
        assert not Order.objects.exists()


def test_anonymous_htmx_partial_redirects_the_page_to_login(client, catalogue):
    response = client.get(reverse("orders:new-skus"), {"q": "tea"}, headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"].startswith("/login/")


def test_form_page_and_list_button(client, make_user, channel, catalogue):
    login(client, make_user, "ops")
    page = client.get(URL).content.decode()
    assert 'name="lines-0-sku"' in page and "Test shop" in page
    assert 'disabled' in page.split('name="paid"')[1].split(">")[0]
    assert reverse("orders:new") in client.get(reverse("orders:list")).content.decode()
    client.force_login(make_user("picker"))
    assert reverse("orders:new") not in client.get(reverse("orders:list")).content.decode()


def test_customer_lookup_fills_from_the_customer_and_last_order(client, make_user, make_order,
                                                                 catalogue):
    Customer.objects.create(name="王芳", phone="+8613800138000", email="wf@example.cn")
    make_order("shipped", buyer_phone="+8613800138000", buyer_name="old", ship_name="李雷",
               ship_phone="+8613900139000", ship_province="浙江省", ship_city="杭州市",
               ship_street="文三路 1 号")
    login(client, make_user, "ops")
    response = client.get(reverse("orders:new-customer"), {"buyer_phone": "138 0013 8000"},
                          headers={"HX-Request": "true"})
    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial["buyer_phone"] == "+8613800138000"
    assert initial["buyer_name"] == "王芳" and initial["buyer_email"] == "wf@example.cn"
    assert (initial["ship_name"], initial["ship_phone"], initial["ship_street"]) == (
        "李雷", "+8613900139000", "文三路 1 号")
    html = response.content.decode()
    assert html.startswith('<fieldset id="buyer-fields"') and "<html" not in html
    assert 'value="文三路 1 号"' in html


def test_customer_lookup_unknown_and_bad_phone(client, make_user, catalogue):
    login(client, make_user, "ops")
    response = client.get(reverse("orders:new-customer"), {"buyer_phone": "13700137000"})
    assert "No customer or earlier order with this phone." in response.content.decode()
    response = client.get(reverse("orders:new-customer"), {"buyer_phone": "12"})
    assert "is not a valid phone number" in response.content.decode()


def test_sku_search_by_code_name_and_barcode(client, make_user, catalogue):
    login(client, make_user, "ops")

    def codes(q):
        response = client.get(reverse("orders:new-skus"), {"q": q})
        assert response.status_code == 200
        return [r["sku"].code for r in response.context["results"]]

    assert codes("tea-0") == ["TEA-01"]
    assert codes("celadon") == ["CUP-02"]
    assert codes("6901234567892") == ["TEA-01"]
    assert codes("tea") == ["TEA-01"]  # the retired tea is not offered
    assert codes("") == []
    html = client.get(reverse("orders:new-skus"), {"q": "TEA"}).content.decode()
    assert 'data-pick-sku="TEA-01"' in html and 'data-price="88.00"' in html


def test_page_and_errors_are_translated(client, make_user, channel, catalogue, settings):
    login(client, make_user, "ops")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "新建订单" in client.get(URL).content.decode()
    response = client.post(URL, post_data(channel, [{"sku": "NOPE-9", "quantity": "1"}]))
    assert "商品目录中没有启用的 SKU“NOPE-9”。" in response.content.decode()


def test_customer_lookup_keeps_what_was_typed_when_nothing_is_found(client, make_user,
                                                                    catalogue):
    # A customer without a phone must not match an empty lookup.
    Customer.objects.create(name="No phone")
    login(client, make_user, "ops")
    typed = {"buyer_name": "赵六", "ship_street": "长安街 5 号"}
    for phone in ("13700137000", ""):
        response = client.get(reverse("orders:new-customer"), {"buyer_phone": phone, **typed})
        initial = response.context["form"].initial
        assert (initial["buyer_name"], initial["ship_street"]) == ("赵六", "长安街 5 号")
        assert response.context["found"] is None
