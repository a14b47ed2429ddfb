"""Change request pages: order panel, filing form, side-by-side diff, decisions, list."""

import re

import pytest
from django.urls import reverse

from fulfillment.changes.models import ChangeRequest
from fulfillment.changes.services import change_request_create, change_request_decide
from orderhub.models import Order, OrderStatus

S = OrderStatus
HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(order, **overrides):
    """The filing form as the page renders it, with ``overrides`` typed in."""
    data = {
        "kind": "change", "reason": "buyer moved", "expected_status": order.status,
        "ship_name": order.ship_name, "ship_phone": order.ship_phone,
        "ship_province": order.ship_province, "ship_city": order.ship_city,
        "ship_district": order.ship_district, "ship_street": order.ship_street,
        "ship_postcode": order.ship_postcode, "carrier": order.carrier,
        "priority": str(order.priority), "note": "",
        "line-TOTAL_FORMS": "3", "line-INITIAL_FORMS": "2", "line-MIN_NUM_FORMS": "0",
        "line-MAX_NUM_FORMS": "100",
    }
    for n, line in enumerate(order.lines.all()):
        data.update({f"line-{n}-sku_code": line.sku_code, f"line-{n}-quantity": line.quantity,
                     f"line-{n}-unit_price": str(line.unit_price)})
        if line.is_gift:
            data[f"line-{n}-is_gift"] = "on"
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_order_page_panel_links_to_the_form_for_ops_and_is_hidden_from_pickers(
        client, order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    client.force_login(users["ops"])
    html = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'id="changes-panel"' in html
    assert reverse("changes:new", args=[order.pk]) in html

    client.force_login(users["picker"])
    html = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'id="changes-panel"' not in html
    assert client.get(reverse("changes:new", args=[order.pk])).status_code == 403


@pytest.mark.django_db
def test_filing_form_after_picking_holds_the_order_and_shows_the_diff(
        client, order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    client.force_login(users["ops"])
    page = client.get(reverse("changes:new", args=[order.pk]))
    assert page.status_code == 200
    assert 'value="世纪大道100号"' in page.content.decode()

    response = client.post(reverse("changes:new", args=[order.pk]), form_data(
        order, ship_street="世纪大道200号", **{"line-0-quantity": "5", "line-1-DELETE": "on",
                                                "line-2-sku_code": "SKU-2",
                                                "line-2-quantity": "1",
                                                "line-2-unit_price": "88.00"}))

    change = ChangeRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("changes:detail", args=[change.pk])
    assert Order.objects.get(pk=order.pk).status == S.ON_HOLD
    html = client.get(response["Location"]).content.decode()
    # side by side: the field's old value and the proposed one in one row
    row = re.search(r'<tr class="diff-row">.*?</tr>', html, re.S).group(0)
    assert 'class="old">世纪大道100号<' in row and 'class="new">世纪大道200号<' in row
    assert re.search(r'line-changed" data-sku="SKU-1".*?>2<.*?>5<', html, re.S)
    assert 'line-removed" data-sku="GIFT-1"' in html
    assert 'line-added" data-sku="SKU-2"' in html
    # ops cannot decide: no decision form
    assert "decision-form" not in html


@pytest.mark.django_db
def test_filing_a_stale_form_is_a_conflict_and_files_nothing(client, order_on_pick_list,
                                                             users):
    order, _ = order_on_pick_list(S.PICKING)
    client.force_login(users["ops"])
    response = client.post(reverse("changes:new", args=[order.pk]),
                           form_data(order, ship_city="苏州市", expected_status=S.READY_TO_PICK))
    assert response.status_code == 409
    assert "moved on meanwhile" in response.content.decode()
    assert not ChangeRequest.objects.exists()
    assert Order.objects.get(pk=order.pk).status == S.PICKING


@pytest.mark.django_db
def test_before_picking_the_form_applies_at_once(client, order_on_pick_list, users):
    order, _ = order_on_pick_list(S.READY_TO_PICK)
    client.force_login(users["ops"])
    response = client.post(reverse("changes:new", args=[order.pk]),
                           form_data(order, ship_city="苏州市", priority="1"), **HTMX)
    assert response.status_code == 200 and response["HX-Redirect"]
    change = ChangeRequest.objects.get()
    assert change.status == "applied"
    order = Order.objects.get(pk=order.pk)
    assert (order.ship_city, order.priority) == ("苏州市", 1)
    html = client.get(response["HX-Redirect"]).content.decode()
    assert 'id="change-report"' in html


@pytest.mark.django_db
def test_picker_and_wrong_group_get_403_on_decide(client, order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], reason="r",
                                   proposed={"fields": {"ship_city": "苏州市"}})
    url = reverse("changes:decide", args=[change.pk])
    for role in ("picker", "finance", "warehouse_manager"):
        client.force_login(users[role])
        response = client.post(url, {"decision": "approve", "expected_step": 0}, **HTMX)
        assert response.status_code == 403, role
    assert not change.decisions.exists()


@pytest.mark.django_db
def test_decisions_over_htmx_end_applied(client, order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], reason="r",
                                   proposed={"fields": {"ship_city": "苏州市"}})
    url = reverse("changes:decide", args=[change.pk])
    for step, role in enumerate(["sales_manager", "warehouse_manager", "finance"]):
        client.force_login(users[role])
        detail = client.get(reverse("changes:detail", args=[change.pk])).content.decode()
        assert "decision-form" in detail
        response = client.post(url, {"decision": "approve", "comment": "ok",
                                     "expected_step": step}, **HTMX)
        assert response.status_code == 200
    assert 'data-status="applied"' in response.content.decode()
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.ship_city) == (S.PICKING, "苏州市")

    # deciding again: a clear conflict, nothing recorded
    response = client.post(url, {"decision": "approve", "expected_step": 2}, **HTMX)
    assert response.status_code == 409
    assert change.decisions.count() == 3


@pytest.mark.django_db
def test_list_waiting_for_me(client, order_on_pick_list, users):
    order, _ = order_on_pick_list(S.PICKING)
    change = change_request_create(order=order, actor=users["ops"], reason="r",
                                   proposed={"fields": {"ship_city": "苏州市"}})
    url = reverse("changes:list")
    client.force_login(users["sales_manager"])
    assert f'data-change="{change.pk}"' in client.get(url, {"mine": "on"}).content.decode()
    client.force_login(users["finance"])
    assert f'data-change="{change.pk}"' not in client.get(url, {"mine": "on"}).content.decode()
    assert f'data-change="{change.pk}"' in client.get(url).content.decode()
    change_request_decide(change=change.pk, actor=users["sales_manager"], decision="approve")
    change_request_decide(change=change.pk, actor=users["warehouse_manager"],
                          decision="approve")
    assert f'data-change="{change.pk}"' in client.get(url, {"mine": "on"}).content.decode()
    # the HTMX filter gets only the table
    partial = client.get(url, {"status": "open"}, **HTMX).content.decode()
    assert "<html" not in partial and f'data-change="{change.pk}"' in partial


@pytest.mark.django_db
def test_pages_need_login_and_permission(client, users, order_on_pick_list):
    url = reverse("changes:list")
    assert client.get(url).status_code == 302
    client.force_login(users["picker"])
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_demo_seed_is_idempotent(make_user, catalogue, order_on_pick_list):
    import io

    from django.contrib.auth import get_user_model

    from fulfillment.changes import demo

    make_user("ops", username="ops")
    order_on_pick_list(S.PICKING)
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    assert ChangeRequest.objects.filter(status="pending").count() == 1
    sales = get_user_model().objects.get(username="sales_manager")
    assert sales.check_password("sales_manager-demo")
    assert sales.has_perm("changes.approve_changerequest")
