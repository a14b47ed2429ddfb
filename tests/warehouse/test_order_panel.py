"""The warehouse card on the order page: reservations, picking, problems, pick lists."""

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from orderhub.models import OrderStatus
from warehouse.services.picking import task_claim_code, task_report_problem, task_scan
from warehouse.services.picklists import picklist_create, picklist_reprint
from warehouse.services.stock import stock_reserve
from warehouse.templatetags.warehouse_ui import order_panel_data

S = OrderStatus


def page(client, user, order):
    client.force_login(user)
    response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def in_picking(make_order, make_user, warehouse, stocked):
    """An order with its stock reserved, on a reprinted pick list, half picked, one problem."""
    order = make_order(S.READY_TO_PICK, warehouse=warehouse)
    stock_reserve(order=order, warehouse=warehouse, actor="system:test")
    first = picklist_create(orders=[order], actor="system:test")
    reprint = picklist_reprint(pick_list=first, actor="system:test")
    picker = make_user("picker", first_name="Li", last_name="Lei")
    task = task_claim_code(picker=picker, warehouse=warehouse, code=reprint.number)
    task_scan(task_id=task.pk, picker=picker, barcode="6901234567892", key="k1")
    task_report_problem(task_id=task.pk, picker=picker, kind="damaged", note="杯子有裂纹")
    return {"order": order, "first": first, "reprint": reprint, "task": task, "picker": picker}


def test_panel_shows_reservations_task_problem_and_pick_lists(client, make_user, in_picking):
    order, first, reprint = in_picking["order"], in_picking["first"], in_picking["reprint"]
    html = page(client, make_user("ops"), order)
    panel = html.split('id="warehouse-panel"')[1].split("</section>")[0]
    # reservations: SKU-1 ×2 and GIFT-1 ×1 in the order's warehouse, active
    assert panel.count("data-reservation=") == 2
    assert "SKU-1" in panel and "GIFT-1" in panel and "Shanghai DC" in panel
    assert "Active" in panel
    # the pick task: who, progress (1 of 3 units scanned), not finished
    assert "Li Lei" in panel and "1/3" in panel and "Picking" in panel
    # the reported problem
    assert "Damaged" in panel and "杯子有裂纹" in panel
    # both copies of the pick list; only the live one links to its PDF
    assert first.number in panel and reprint.number in panel
    assert "Void" in panel and "reprint 1" in panel
    assert f"/warehouse/picklists/{reprint.pk}/pdf/" in panel
    assert f"/warehouse/picklists/{first.pk}/pdf/" not in panel
    assert f"/warehouse/orders/{order.pk}/seal.pdf" in panel


def test_print_links_need_the_print_permission(client, make_user, in_picking):
    # given: someone who may look at warehouse rows but not print
    viewer = make_user()
    viewer.user_permissions.add(*Permission.objects.filter(
        Q(content_type__app_label="orderhub", codename="view_order")
        | Q(content_type__app_label="warehouse", codename__in=[
            "view_reservation", "view_picktask", "view_pickproblem", "view_picklist"])))
    viewer = User.objects.get(pk=viewer.pk)
    html = page(client, viewer, in_picking["order"])
    assert 'id="warehouse-panel"' in html and in_picking["reprint"].number in html
    assert "seal.pdf" not in html and "/pdf/" not in html


@pytest.mark.parametrize("role", ["finance"])  # pickers do not open order pages at all
def test_roles_without_warehouse_view_perms_see_no_panel(client, make_user, in_picking, role):
    html = page(client, make_user(role), in_picking["order"])
    assert 'id="warehouse-panel"' not in html
    assert "Pick problems" not in html and "Seal label PDF" not in html
    assert in_picking["reprint"].number not in html


def test_page_renders_when_nothing_exists(client, make_user, make_order):
    order = make_order(S.PAID)
    html = page(client, make_user("ops"), order)
    assert 'id="warehouse-panel"' in html
    assert "No stock reserved." in html and "Not picked yet." in html
    # no warehouse yet: no seal label to print
    assert "seal.pdf" not in html


def test_panel_queries_are_one_per_section(make_user, in_picking):
    ops = make_user("ops")
    ops.has_perm("warehouse.view_reservation")  # load the permission cache outside the count
    with CaptureQueriesContext(connection) as queries:
        data = order_panel_data(order=in_picking["order"], user=ops)
        rendered = [(r.warehouse.name, r.sku.code) for r in data["reservations"]]
        rendered += [(t.picker.username, t.units) for t in data["tasks"]]
    assert len(rendered) == 3
    assert len(queries) == 5  # reservations, tasks, problems, pack checks, pick lists
