"""Change request fixtures: a catalogue, one user per role, orders on a pick list."""

import pytest

from orderhub.models import OrderStatus
from orderhub.services.orders import order_transition
from warehouse.models import SKU
from warehouse.services.picklists import picklist_create

S = OrderStatus


@pytest.fixture
def catalogue(db):
    return {code: SKU.objects.create(code=code, name=name, is_gift=gift)
            for code, name, gift in [("SKU-1", "保温杯", False), ("GIFT-1", "杯套", True),
                                     ("SKU-2", "龙井茶", False)]}


@pytest.fixture
def users(make_user):
    roles = ["ops", "picker", "manager", "finance", "sales_manager", "warehouse_manager"]
    return {role: make_user(role) for role in roles}


@pytest.fixture
def order_on_pick_list(make_order, warehouse, catalogue):
    """An order of ``status`` (ready_to_pick, picking or picked) on an active pick list."""

    def make(status=S.READY_TO_PICK, **fields):
        order = make_order(S.READY_TO_PICK, warehouse=warehouse, **fields)
        pick_list = picklist_create(orders=[order], actor="system:test")
        path = {S.READY_TO_PICK: [], S.PICKING: ["claim"], S.PICKED: ["claim", "finish"]}
        for name in path[status]:
            order = order_transition(order=order.pk, name=name, actor="system:test")
        return order, pick_list

    return make


@pytest.fixture(autouse=True)
def english():
    """A page requested in Chinese leaves its language active; each test starts in English."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")
