"""Status counters (orderhub.counters) equal a fresh GROUP BY after every kind of write."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count

from orderhub import counters
from orderhub.models import Order, OrderStatusCounter, OrderStatusCounterDelta
from orderhub.models import OrderStatus as S
from orderhub.services.bulk import NewOrder, order_bulk_create, orders_edit_and_transition
from orderhub.services.orders import order_transition, order_update
from tests.conftest import requires_postgres

LINES = [{"sku_code": "SKU-1", "name": "保温杯", "quantity": 1, "unit_price": "9.00"}]


def group_by() -> dict[tuple, int]:
    """The truth: the orders counted now, per counter key."""
    rows = (Order.objects.order_by().values_list("status", "channel_id", "warehouse_id", "kind",
                                                 "priority").annotate(n=Count("id")))
    return {(s, c, w or 0, k, p): n for s, c, w, k, p, n in rows}


def counted() -> dict[tuple, int]:
    """What the counters say: folded counters plus changes not folded yet, zeros left out."""
    total: dict[tuple, int] = {}
    for model in (OrderStatusCounter, OrderStatusCounterDelta):
        for *key, n in model.objects.values_list("status", "channel_id", "warehouse_id", "kind",
                                                 "priority", "n"):
            total[tuple(key)] = total.get(tuple(key), 0) + n
    return {key: n for key, n in total.items() if n}


def assert_exact():
    assert counted() == group_by()
    counters.compact()
    assert OrderStatusCounterDelta.objects.count() == 0
    assert counted() == group_by()


@pytest.fixture
def other_channel(db):
    from channels.models import Channel

    return Channel.objects.create(code="tmall", name="Tmall", platform="taobao")


@pytest.fixture
def other_warehouse(db):
    from warehouse.models import Warehouse

    return Warehouse.objects.create(code="gz", name="Guangzhou DC")


@pytest.mark.django_db
def test_counters_follow_a_mixed_sequence_of_writes(make_order, channel, other_channel,
                                                    warehouse, other_warehouse):
    # given: orders made through the services, in several states and channels
    orders = [make_order(S.PAID), make_order(S.PAID), make_order(S.READY_TO_PICK,
                                                                  warehouse=warehouse),
              make_order(S.ON_HOLD, channel=other_channel, kind="b2b"), make_order()]
    assert_exact()

    # when: one transition
    order_transition(order=orders[0].pk, name="hold_review", actor="system:test",
                     reason="risk")
    assert_exact()

    # when: a bulk transition with edits (array update / bulk_update)
    orders_edit_and_transition(
        orders=list(Order.objects.filter(pk__in=[orders[1].pk, orders[4].pk])),
        actor="system:automation",
        changes_by_id={orders[1].pk: {"warehouse": warehouse, "priority": 2}},
        transition_by_id={orders[1].pk: ("mark_ready", ""), orders[4].pk: ("pay", "")},
    )
    assert_exact()

    # when: a warehouse change through the service, then a bulk QuerySet.update
    order_update(order=orders[2].pk, actor="system:test", changes={"warehouse": other_warehouse},
                 reason="moved")
    Order.objects.filter(status=S.READY_TO_PICK).update(warehouse=other_warehouse, priority=1)
    Order.objects.filter(pk=orders[3].pk).update(kind="after_sales", channel=channel)
    assert_exact()

    # when: ingest in bulk (COPY on PostgreSQL), some orders paid and held on the way
    result = order_bulk_create(
        channel=other_channel, actor="system:ingest",
        orders=[NewOrder(fields={"external_id": f"IN{i}", "buyer_name": "李四"}, lines=LINES,
                         transitions=[("pay", "")] * (i % 2) + [("hold", "x")] * (i == 3))
                for i in range(6)])
    assert not result.errors
    assert_exact()

    # when: deletes, one and many
    Order.objects.filter(pk=orders[0].pk).delete()
    Order.objects.filter(channel=other_channel, status=S.PENDING_PAYMENT).delete()
    assert_exact()

    # then: nothing changes a counter behind an update that leaves the key alone
    before = OrderStatusCounterDelta.objects.count()
    Order.objects.update(carrier="SF")
    assert OrderStatusCounterDelta.objects.count() == before
    assert_exact()


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_the_counters_alone(make_order):
    order = make_order(S.PAID)
    counters.compact()
    before = counted()
    with pytest.raises(RuntimeError), transaction.atomic():
        order_transition(order=order.pk, name="mark_ready", actor="system:test")
        Order.objects.all().delete()
        raise RuntimeError("rolled back")
    assert counted() == before == group_by()


@pytest.mark.django_db
def test_status_counts_answer_the_list_filters(make_order, channel, other_channel, warehouse):
    make_order(S.PAID)
    make_order(S.READY_TO_PICK, warehouse=warehouse, priority=2)
    make_order(S.READY_TO_PICK, channel=other_channel, kind="b2b")
    make_order(S.SHIPPED, channel=other_channel, warehouse=warehouse, priority=1)

    def counts(**filters):
        return {s: n for s, n in counters.status_counts(filters).items() if n}

    assert counts() == {"paid": 1, "ready_to_pick": 2, "shipped": 1}
    assert counts(channel=other_channel) == {"ready_to_pick": 1, "shipped": 1}
    assert counts(warehouse=warehouse) == {"ready_to_pick": 1, "shipped": 1}
    assert counts(kind="b2b") == {"ready_to_pick": 1}
    assert counts(priority=2) == {"ready_to_pick": 1}
    assert counts(priority_min=1) == {"ready_to_pick": 1, "shipped": 1}
    assert counts(platform="taobao") == {"ready_to_pick": 1, "shipped": 1}
    assert counts(platform="taobao", channel=channel) == {}
    # pending changes and folded counters add up the same
    counters.compact()
    assert counts(channel=other_channel) == {"ready_to_pick": 1, "shipped": 1}


def test_which_filters_the_counters_answer():
    assert counters.answers({"sort": "-placed", "status": ["paid"], "channel": 1, "kind": "b2b",
                             "priority_min": 1, "platform": "taobao", "warehouse": 2})
    for key in ("q", "tag", "date_from", "date_to", "paid_from", "shipped_to"):
        assert not counters.answers({"sort": "-placed", key: "x"})


@pytest.mark.django_db
def test_rebuild_repairs_counters_and_puts_back_lost_triggers(make_order, warehouse):
    make_order(S.PAID)
    make_order(S.READY_TO_PICK, warehouse=warehouse)
    # given: counters gone wrong and the triggers lost (as a SQLite table rebuild loses them)
    counters.drop_triggers(connection)
    OrderStatusCounter.objects.all().delete()
    OrderStatusCounterDelta.objects.create(status="paid", channel_id=1, kind="b2c", priority=0,
                                           n=5)
    make_order(S.SHIPPED)  # unseen: no trigger

    # when
    call_command("rebuild_order_counters", stdout=open("/dev/null", "w"))  # noqa: SIM115

    # then: exact, and writes are counted again
    assert counted() == group_by()
    make_order(S.CANCELLED)
    assert_exact()


@pytest.mark.django_db
def test_ensure_triggers_does_nothing_when_all_are_there(make_order):
    make_order(S.PAID)
    assert counters.ensure_triggers() is False


@requires_postgres
@pytest.mark.django_db
def test_one_statement_moving_many_orders_writes_one_change_per_key(make_order, warehouse):
    # Statement triggers on PostgreSQL: a bulk update costs rows per key, not per order.
    for _ in range(6):
        make_order(S.PAID)
    counters.compact()
    Order.objects.filter(status=S.PAID).update(warehouse=warehouse)
    assert OrderStatusCounterDelta.objects.count() == 2  # -6 on the old key, +6 on the new
    assert_exact()


@requires_postgres
@pytest.mark.django_db
def test_truncate_empties_the_counters(make_order):
    make_order(S.PAID)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's open transaction
        cursor.execute("TRUNCATE orderhub_order CASCADE")
    assert counted() == {} == group_by()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's flush is a TRUNCATE")
@pytest.mark.django_db
def test_deleting_every_order_leaves_no_counts_whatever_was_emptied_first(make_order):
    # Django's flush (transactional tests) empties SQLite's tables one by one, in no set order.
    make_order(S.PAID)
    make_order(S.SHIPPED)
    counters.compact()
    make_order(S.PAID)
    OrderStatusCounter.objects.all().delete()  # emptied before the orders
    Order.objects.all().delete()
    assert counted() == {} == group_by()
    assert not OrderStatusCounterDelta.objects.filter(n__lt=0).exists()
