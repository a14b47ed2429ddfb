"""orders_edit_and_transition: the rows and signals of order_update + order_transition."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orderhub.models import Order, OrderEvent, OrderTransitionLog
from orderhub.models import OrderStatus as S
from orderhub.services.bulk import orders_edit_and_transition
from orderhub.services.orders import (
    ORDER_COUNTS_GENERATION_KEY,
    OrderServiceError,
    TransitionRefused,
    order_transition,
    order_update,
)
from orderhub.signals import order_edited, order_status_changed, orders_status_changed
from tests.conftest import requires_postgres

ACTOR = "system:automation"
# Differ between two runs by nature: ids, numbers, clocks, the platform id.
VOLATILE = {"id", "number", "external_id", "created_at", "updated_at", "history_id",
            "history_date", "order_id", "paid_at", "placed_at", "cancelled_at"}


def scenarios(warehouse) -> list[tuple[dict, tuple[str, str] | None]]:
    """Per order: the edit and the transition automation would make."""
    return [
        ({"carrier": "SF", "priority": 2, "warehouse": warehouse}, ("mark_ready", "")),
        ({"carrier": ""}, ("hold_review", "risk:blacklist, credit")),  # no real change
        ({}, ("mark_out_of_stock", "SKU-1 0/2")),
        ({"priority": 1, "ship_city": " 南京市 "}, None),  # an edit alone
        ({"warehouse": warehouse}, ("cancel", "buyer asked")),
    ]


class Heard(list):
    """Every order signal the hub sends, with the order's position in its set."""

    def __init__(self, positions):
        super().__init__()
        self.positions = positions

    def status(self, sender, **kw):
        self.append(("status", self.positions[kw["order_id"]], kw["transition"],
                     str(kw["from_status"]), str(kw["to_status"]), kw["actor"]))

    def batch(self, sender, changes, actor, **kw):
        self.append(("batch", sorted((self.positions[c.order_id], c.transition)
                                     for c in changes), actor))

    def edited(self, sender, **kw):
        self.append(("edited", self.positions[kw["order_id"]], kw["fields"], kw["actor"],
                     kw["status"]))


@pytest.fixture
def heard():
    positions: dict[int, int] = {}
    received = Heard(positions)
    order_status_changed.connect(received.status)
    orders_status_changed.connect(received.batch)
    order_edited.connect(received.edited)
    yield received
    order_status_changed.disconnect(received.status)
    orders_status_changed.disconnect(received.batch)
    order_edited.disconnect(received.edited)


def _row(obj) -> dict:
    return {**{f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields
               if f.attname not in VOLATILE},
            "cancelled_at set": obj.cancelled_at is not None}


def audit_trail(orders, marks) -> list[dict]:
    """What was written for each order after ``marks`` (last ids before the change)."""
    trail = []
    for order in orders:
        order = Order.objects.get(pk=order.pk)
        trail.append({
            "order": _row(order),
            "logs": [(log.transition, log.from_status, log.to_status, log.actor,
                      log.actor_user_id, log.reason)
                     for log in OrderTransitionLog.objects.filter(
                         order=order, pk__gt=marks["log"]).order_by("id")],
            "events": [(e.kind, e.actor, e.actor_user_id, e.message, e.data)
                       for e in OrderEvent.objects.filter(
                           order=order, pk__gt=marks["event"]).order_by("id")],
            "versions": [(v.history_type, v.history_change_reason, v.history_user_id, _row(v))
                         for v in order.history.filter(
                             history_id__gt=marks["version"]).order_by("history_id")],
        })
    return trail


def marks() -> dict:
    def last(qs, field="pk"):
        return qs.order_by(f"-{field}").values_list(field, flat=True).first() or 0
    return {"log": last(OrderTransitionLog.objects), "event": last(OrderEvent.objects),
            "version": last(Order.history.model.objects, "history_id")}


def generation() -> int:
    return cache.get(ORDER_COUNTS_GENERATION_KEY) or 0


def make_set(make_order, heard, n):
    orders = [make_order(S.PAID) for _ in range(n)]
    heard.positions.update({o.pk: i for i, o in enumerate(orders)})
    return orders


@pytest.mark.django_db
def test_bulk_writes_what_the_per_order_services_write(make_order, warehouse, heard,
                                                       django_capture_on_commit_callbacks):
    plan = scenarios(warehouse)

    # given: one set of orders changed one by one through the services
    one = make_set(make_order, heard, len(plan))
    start, gen = marks(), generation()
    with django_capture_on_commit_callbacks(execute=True):
        for order, (changes, move) in zip(one, plan, strict=True):
            if changes:
                order_update(order=order.pk, actor=ACTOR, changes=changes, reason="automation")
            if move:
                order_transition(order=order.pk, name=move[0], actor=ACTOR, reason=move[1])
    expected, expected_signals = audit_trail(one, start), list(heard)
    assert generation() > gen + 1  # one bump per write there
    heard.clear()

    # when: an identical set is changed in bulk
    two = make_set(make_order, heard, len(plan))
    start, gen = marks(), generation()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = list(Order.objects.select_for_update().filter(pk__in=[o.pk for o in two])
                      .order_by("pk"))
        diffs = orders_edit_and_transition(
            orders=locked, actor=ACTOR, edit_reason="automation",
            changes_by_id={o.pk: changes for o, (changes, _m) in zip(two, plan, strict=True)},
            transition_by_id={o.pk: move for o, (_c, move) in zip(two, plan, strict=True)
                              if move})

    # then: every row, version, log, event and signal is the same; one bump
    assert audit_trail(two, start) == expected
    per_order = sorted(signal for signal in heard if signal[0] != "batch")
    assert per_order == sorted(s for s in expected_signals if s[0] != "batch")
    # one by one, each move was a batch of one; here the batch holds them all
    assert [s for s in heard if s[0] == "batch"] == [
        ("batch", sorted(move for s in expected_signals if s[0] == "batch" for move in s[1]),
         ACTOR)]
    assert generation() == gen + 1
    assert set(diffs) == {two[0].pk, two[3].pk, two[4].pk}
    assert diffs[two[0].pk] == {"carrier": ["", "SF"], "priority": [0, 2],
                                "warehouse": [None, warehouse.pk]}
    # the batch signal comes first and carries every move of the batch
    batch = [signal for signal in heard if signal[0] == "batch"]
    assert batch == [("batch", [(0, "mark_ready"), (1, "hold_review"),
                                (2, "mark_out_of_stock"), (4, "cancel")], ACTOR)]
    statuses = [signal[0] for signal in heard if signal[0] != "edited"]
    assert statuses[0] == "batch"
    # the in-memory orders are the saved ones, ready for another transition
    assert [o.status for o in locked] == [S.READY_TO_PICK, S.REVIEW, S.OUT_OF_STOCK, S.PAID,
                                          S.CANCELLED]
    first = Order.objects.get(pk=two[0].pk)
    assert (first.carrier, first.priority, first.warehouse_id) == ("SF", 2, warehouse.pk)
    assert first.updated_at > two[0].updated_at
    order_transition(order=locked[0], name="claim", actor="system:test")


# PostgreSQL only: Django 5.2 caps an SQLite statement at 999 parameters, so the
# history rows of a bigger batch go in several INSERTs (a count that grows by design).
@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db
def test_queries_do_not_grow_with_the_batch(make_order, warehouse):
    def queries_for(n):
        orders = [make_order(S.PAID) for _ in range(n)]
        with CaptureQueriesContext(connection) as ctx, transaction.atomic():
            locked = list(Order.objects.select_for_update().filter(
                pk__in=[o.pk for o in orders]).order_by("pk"))
            orders_edit_and_transition(
                orders=locked, actor=ACTOR, edit_reason="automation",
                changes_by_id={o.pk: {"carrier": "SF", "warehouse": warehouse} for o in orders},
                transition_by_id={o.pk: ("mark_ready", "") for o in orders})
        assert Order.objects.filter(pk__in=[o.pk for o in orders],
                                    status=S.READY_TO_PICK).count() == n
        return len(ctx.captured_queries)

    assert queries_for(2) == queries_for(12)


@pytest.mark.django_db
def test_a_refused_transition_writes_nothing(make_order):
    paid, review = make_order(S.PAID), make_order(S.REVIEW)
    start = marks()
    with pytest.raises(TransitionRefused), transaction.atomic():
        orders = list(Order.objects.select_for_update().filter(pk__in=[paid.pk, review.pk])
                      .order_by("pk"))
        orders_edit_and_transition(orders=orders, actor=ACTOR,
                                   changes_by_id={paid.pk: {"carrier": "SF"}},
                                   transition_by_id={o.pk: ("mark_ready", "") for o in orders})
    assert marks() == start
    assert Order.objects.get(pk=paid.pk).carrier == ""
    assert Order.objects.get(pk=paid.pk).status == S.PAID


@pytest.mark.django_db
def test_an_invalid_change_is_refused_with_nothing_written(make_order):
    order = make_order(S.PAID)
    start = marks()
    with pytest.raises(ValidationError) as exc, transaction.atomic():
        orders_edit_and_transition(orders=[Order.objects.select_for_update().get(pk=order.pk)],
                                   actor=ACTOR, changes_by_id={order.pk: {"carrier": "X" * 41}},
                                   transition_by_id={order.pk: ("mark_ready", "")})
    assert "carrier" in exc.value.message_dict
    assert marks() == start
    assert Order.objects.get(pk=order.pk).status == S.PAID


@pytest.mark.django_db
def test_an_order_past_editing_cannot_be_edited(make_order):
    order = make_order(S.PICKING)
    with pytest.raises(TransitionRefused):
        orders_edit_and_transition(orders=[order], actor=ACTOR,
                                   changes_by_id={order.pk: {"carrier": "SF"}})
    assert Order.objects.get(pk=order.pk).carrier == ""


@pytest.mark.django_db
@pytest.mark.parametrize("kwargs, message", [
    ({"changes_by_id": {0: {"status": "shipped"}}}, "cannot be edited"),
    ({"transition_by_id": {0: ("ship", "")}}, "cannot be taken in a bulk change"),
    ({"transition_by_id": {0: ("hold_review", " ")}}, "reason"),
])
def test_what_only_the_per_order_services_do_is_refused(make_order, kwargs, message):
    order = make_order(S.PAID)
    kwargs = {key: {order.pk: value[0]} for key, value in kwargs.items()}
    with pytest.raises(OrderServiceError, match=message):
        orders_edit_and_transition(orders=[order], actor=ACTOR, **kwargs)
    assert not OrderTransitionLog.objects.filter(order=order, to_status=S.SHIPPED).exists()


@pytest.mark.django_db
def test_people_are_refused(make_order, make_user):
    order = make_order(S.PAID)
    with pytest.raises(ValueError, match="system actors"):
        orders_edit_and_transition(orders=[order], actor=make_user("admin"),
                                   transition_by_id={order.pk: ("mark_ready", "")})
    assert Order.objects.get(pk=order.pk).status == S.PAID


@pytest.mark.django_db
def test_nothing_to_change_writes_nothing(make_order):
    order = make_order(S.PAID)
    start = marks()
    with CaptureQueriesContext(connection) as ctx:
        assert orders_edit_and_transition(
            orders=[order], actor=ACTOR, changes_by_id={order.pk: {"carrier": ""}}) == {}
    assert len(ctx.captured_queries) == 0
    assert marks() == start
