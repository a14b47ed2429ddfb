"""orderhub.db's counter writer: the same result on PostgreSQL (one array UPDATE) and elsewhere."""

import pytest

from orderhub.db import add_to_rows
from orderhub.models import OrderLine


@pytest.mark.django_db
def test_add_to_rows_adds_each_rows_own_delta_and_sets_the_shared_values(make_order):
    order = make_order(lines=[
        {"sku_code": "A", "name": "a", "quantity": 5, "unit_price": "1.00"},
        {"sku_code": "B", "name": "b", "quantity": 3, "unit_price": "1.00"},
        {"sku_code": "C", "name": "c", "quantity": 7, "unit_price": "1.00"},
    ])
    a, b, c = order.lines.order_by("sku_code")

    add_to_rows(OrderLine, "shipped_quantity", {a.pk: 2, b.pk: 3}, also={"gift_for": "X"})

    rows = dict(OrderLine.objects.filter(order=order)
                .values_list("sku_code", "shipped_quantity"))
    assert rows == {"A": 2, "B": 3, "C": 0}  # C was not named: untouched
    assert set(OrderLine.objects.filter(order=order, gift_for="X")
               .values_list("sku_code", flat=True)) == {"A", "B"}

    add_to_rows(OrderLine, "shipped_quantity", {a.pk: -1})  # an increment, not a write
    assert OrderLine.objects.get(pk=a.pk).shipped_quantity == 1
    add_to_rows(OrderLine, "shipped_quantity", {})  # nothing to do: no query, no error
