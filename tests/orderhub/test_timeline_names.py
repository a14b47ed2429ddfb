"""The order timeline and the version diff name related rows: never ``Warehouse: — → 2``."""

import pytest

from orderhub.models import OrderStatus
from orderhub.selectors import order_timeline, order_version_diff, order_versions
from orderhub.services.orders import order_update
from warehouse.models import Warehouse

pytestmark = pytest.mark.django_db


def _changes(order):
    rows = []
    for item in order_timeline(order):
        rows += item.get("changes", [])
    return rows


def test_a_warehouse_change_shows_the_warehouses_name(make_order, make_user):
    other = Warehouse.objects.create(code="SZ2", name="深圳二号仓")
    order = make_order(OrderStatus.PAID)
    order_update(order=order.pk, actor=make_user("ops"), changes={"warehouse": other})
    order.refresh_from_db()
    rows = _changes(order)
    warehouse_rows = [r for r in rows if str(r[0]).lower() == "warehouse"]
    assert warehouse_rows, rows
    label, old, new = warehouse_rows[0]
    assert new == "深圳二号仓"
    assert str(other.pk) != new
    # the old value is the previous warehouse's name (or empty), never a bare id
    assert old == ("" if order.history.earliest().warehouse_id is None
                   else str(Warehouse.objects.get(pk=order.history.earliest().warehouse_id)))


def test_the_page_shows_the_name_not_the_id(client, make_order, make_user):
    other = Warehouse.objects.create(code="GZ9", name="Guangzhou overflow")
    order = make_order(OrderStatus.PAID)
    order_update(order=order.pk, actor=make_user("ops"), changes={"warehouse": other})
    client.force_login(make_user("manager"))
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert "→ Guangzhou overflow" in html
    assert f"→ {other.pk}<" not in html


def test_a_deleted_related_row_is_marked_not_blank(make_order, make_user):
    other = Warehouse.objects.create(code="TMP", name="Temporary")
    order = make_order(OrderStatus.PAID)
    order_update(order=order.pk, actor=make_user("ops"), changes={"warehouse": other})
    order_update(order=order.pk, actor=make_user("ops"), changes={"warehouse": None})
    Warehouse.objects.filter(pk=other.pk).delete()
    order.refresh_from_db()
    values = {v for _, old, new in _changes(order) for v in (old, new)}
    assert f"#{other.pk}" in values


def test_the_version_diff_names_the_warehouse(make_order, make_user):
    other = Warehouse.objects.create(code="BJ3", name="北京三号仓")
    order = make_order(OrderStatus.PAID)
    order_update(order=order.pk, actor=make_user("ops"), changes={"warehouse": other})
    newer, older = order_versions(order)[:2]
    _, _, rows = order_version_diff(order, older.history_id, newer.history_id)
    assert ("warehouse", "北京三号仓") in [(str(r[0]).lower(), r[2]) for r in rows]
