"""order_update_lines: replace an order's lines, versioned, audited, announced on commit."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from orderhub.models import OrderEvent, OrderLine, OrderStatus
from orderhub.services.orders import (
    OrderConflict,
    TransitionNotPermitted,
    TransitionRefused,
    order_update_lines,
)
from orderhub.signals import order_edited

S = OrderStatus

NEW_LINES = [
    {"sku_code": "SKU-1", "name": "保温杯", "quantity": 3, "unit_price": "59.00"},
    {"sku_code": "SKU-2", "name": "茶叶", "quantity": 1, "unit_price": "100.50"},
    {"sku_code": "GIFT-1", "name": "杯套", "quantity": 1, "unit_price": "0", "is_gift": True},
]


@pytest.fixture
def edited(django_capture_on_commit_callbacks):
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    order_edited.connect(receiver, dispatch_uid="test-lines-edited")
    yield calls
    order_edited.disconnect(dispatch_uid="test-lines-edited")


@pytest.mark.django_db
def test_replaces_lines_recomputes_totals_versions_and_audits(make_order, edited,
                                                             django_capture_on_commit_callbacks):
    # given: 2 × 59.00 + a gift; subtotal 118
    order = make_order(S.PAID, shipping_fee=Decimal("10.00"), discount=Decimal("5.00"))
    cup = order.lines.get(sku_code="SKU-1")
    versions_before = order.history.count()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        order = order_update_lines(order=order.pk, actor="system:test", lines=NEW_LINES,
                                   reason="buyer wants more")

    # then: existing line updated in place, new one added, totals from non-gift lines
    lines = {line.sku_code: line for line in order.lines.all()}
    assert set(lines) == {"SKU-1", "SKU-2", "GIFT-1"}
    assert lines["SKU-1"].pk == cup.pk and lines["SKU-1"].quantity == 3
    assert order.subtotal == Decimal("277.50")  # 3 × 59 + 100.50
    assert order.total == Decimal("282.50")  # + 10 − 5
    order.refresh_from_db()
    assert order.total == Decimal("282.50")
    # one new version, written by this edit (automation may add its own after commit)
    version = order.history.filter(history_change_reason="buyer wants more").get()
    assert version.total == Decimal("282.50")
    assert order.history.count() > versions_before
    event = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.EDITED).get()
    assert event.data["changes"]["total"] == ["123.00", "282.50"]
    assert "SKU-2×1" in event.data["changes"]["lines"][1]
    assert [a["sku_code"] for a in event.data["lines"]["added"]] == ["SKU-2"]
    assert event.data["lines"]["changed"] == [
        {"sku_code": "SKU-1", "is_gift": False, "quantity": [2, 3]}]
    assert event.data["lines"]["removed"] == []
    assert edited == [{"signal": order_edited, "order_id": order.pk, "fields": ["lines"],
                       "actor": "system:test", "status": S.PAID}]


@pytest.mark.django_db
def test_removing_a_line_deletes_it_and_same_lines_change_nothing(make_order, edited,
                                                                 django_capture_on_commit_callbacks):
    order = make_order(S.READY_TO_PICK)
    with django_capture_on_commit_callbacks(execute=True):
        order_update_lines(order=order, actor="system:test", lines=[
            {"sku_code": "SKU-1", "quantity": 2, "unit_price": "59.00"}])
    assert list(order.lines.values_list("sku_code", flat=True)) == ["SKU-1"]
    event = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.EDITED)
    assert [r["sku_code"] for r in event.data["lines"]["removed"]] == ["GIFT-1"]
    versions = order.history.count()

    # the same lines again: no version, no event, no signal
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_update_lines(order=order, actor="system:test", lines=[
            {"sku_code": "SKU-1", "quantity": 2, "unit_price": "59.00"}])
    assert callbacks == []
    assert order.history.count() == versions
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.EDITED).count() == 1
    assert len(edited) == 1


@pytest.mark.django_db
def test_allowed_while_on_hold_refused_after_picking_started(make_order):
    held = make_order(S.ON_HOLD)
    order_update_lines(order=held, actor="system:test", lines=NEW_LINES)
    assert held.lines.count() == 3

    picking = make_order(S.PICKING)
    with pytest.raises(TransitionRefused):
        order_update_lines(order=picking, actor="system:test", lines=NEW_LINES)
    assert picking.lines.count() == 2


@pytest.mark.django_db
def test_conflict_when_the_order_moved_on(make_order):
    order = make_order(S.PAID)
    with pytest.raises(OrderConflict):
        order_update_lines(order=order, actor="system:test", lines=NEW_LINES,
                           expected_status=S.PENDING_PAYMENT)
    assert order.lines.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("lines, message", [
    ([], "at least one line"),
    ([{"sku_code": "SKU-1", "quantity": 0, "unit_price": "1"}], "at least 1"),
    ([{"sku_code": "SKU-1", "quantity": "x", "unit_price": "1"}], "whole quantity"),
    ([{"sku_code": "SKU-1", "quantity": 1, "unit_price": "-1"}], "negative"),
    ([{"sku_code": "SKU-1", "quantity": 1, "unit_price": "1"},
      {"sku_code": "SKU-1", "quantity": 2, "unit_price": "1"}], "only once"),
])
def test_bad_lines_are_refused_and_nothing_changes(make_order, lines, message):
    order = make_order(S.PAID)
    total = order.total
    with pytest.raises(ValidationError, match=message):
        order_update_lines(order=order, actor="system:test", lines=lines)
    order.refresh_from_db()
    assert order.total == total
    assert OrderLine.objects.filter(order=order).count() == 2


@pytest.mark.django_db
def test_needs_change_order_permission(make_order, make_user):
    order = make_order(S.PAID)
    with pytest.raises(TransitionNotPermitted):
        order_update_lines(order=order, actor=make_user("picker"), lines=NEW_LINES)
    order_update_lines(order=order, actor=make_user("ops"), lines=NEW_LINES)
    assert order.lines.count() == 3
