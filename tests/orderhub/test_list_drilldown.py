"""The order list's drill-down filters, used by the dashboard's links."""

import datetime as dt

import pytest
from django.utils import timezone

from orderhub.forms import OrderFilterForm
from orderhub.models import Order, OrderStatus
from orderhub.selectors import order_list_queryset

S = OrderStatus


def _numbers(params) -> set[str]:
    form = OrderFilterForm(params)
    assert form.is_valid(), form.errors
    return set(order_list_queryset(form.filters()).values_list("number", flat=True))


@pytest.fixture
def ops_client(client, make_user):
    client.force_login(make_user("ops"))
    return client


@pytest.mark.django_db
def test_repeated_status_means_any_of_them(ops_client, make_order):
    paid, review, ready = make_order(S.PAID), make_order(S.REVIEW), make_order(S.READY_TO_PICK)
    page = ops_client.get("/orders/?status=paid&status=review")
    assert page.status_code == 200
    assert paid.number in page.text and review.number in page.text
    assert ready.number not in page.text
    # Both statuses survive a change of another filter: they are kept as hidden fields.
    assert page.text.count('type="hidden" name="status"') == 2


@pytest.mark.django_db
def test_priority_min_platform_and_paid_and_shipped_ranges(make_order, channel):
    from channels.models import Channel

    amazon = Channel.objects.create(code="amz", name="Amazon", platform="amazon")
    normal = make_order(S.PAID)
    urgent = make_order(S.PAID, priority=Order.Priority.H4, channel=amazon)
    asn = make_order(S.SHIPPED, priority=Order.Priority.ASN)
    assert _numbers({"priority_min": "2"}) == {urgent.number, asn.number}
    assert _numbers({"platform": "amazon"}) == {urgent.number}

    today = timezone.localdate()
    Order.objects.filter(pk=normal.pk).update(
        paid_at=timezone.now() - dt.timedelta(days=3))
    assert _numbers({"paid_from": today.isoformat(), "paid_to": today.isoformat()}) == {
        urgent.number, asn.number}
    assert _numbers({"shipped_from": today.isoformat()}) == {asn.number}


@pytest.mark.django_db
def test_bad_drill_down_values_are_a_400(ops_client):
    assert ops_client.get("/orders/?priority_min=urgent").status_code == 400
    assert ops_client.get("/orders/?paid_from=2026-13-01").status_code == 400
    assert ops_client.get("/orders/?shipped_from=2026-11-02&shipped_to=2026-11-01").status_code \
        == 400
    assert ops_client.get("/orders/?platform=myspace").status_code == 400
