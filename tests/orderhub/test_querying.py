"""``in_values``: long ``__in`` lists as one array parameter, the same rows as a list."""

import pytest

from orderhub.models import Order, OrderStatus
from orderhub.querying import SHORT, in_values

pytestmark = pytest.mark.django_db


def test_long_lists_find_exactly_the_rows_a_plain_list_finds(make_order):
    orders = [make_order(OrderStatus.PAID, buyer_ip=f"10.0.0.{i}", buyer_phone=f"+86138{i:08d}")
              for i in range(SHORT + 5)]
    wanted = orders[1:-1]
    for field, values, db_type in (
        ("pk", [o.pk for o in wanted] + [10**9], "bigint"),
        ("buyer_phone", [o.buyer_phone for o in wanted] + ["+8613999999999"], "text"),
        ("buyer_ip", [o.buyer_ip for o in wanted] + ["10.9.9.9"], "inet"),
    ):
        plain = set(Order.objects.filter(**{f"{field}__in": values}).values_list("pk", flat=True))
        fast = set(Order.objects.filter(**{f"{field}__in": in_values(values, db_type=db_type)})
                   .values_list("pk", flat=True))
        assert fast == plain == {o.pk for o in wanted}


def test_short_lists_stay_lists():
    assert in_values(iter([3, 1, 2])) == [3, 1, 2]
