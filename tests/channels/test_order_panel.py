"""The channels card on the order page: shipment write-back and received payloads."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.models import RawPayload, ShipmentPush, ShipmentPushAttempt
from channels.templatetags.channels_ui import order_panel_data
from orderhub.models import OrderStatus

S = OrderStatus


def page(client, user, order):
    client.force_login(user)
    response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def failed_push(order, attempts=2):
    # given: a write-back that ran out of retries, one attempt row per try
    push = ShipmentPush.objects.create(
        order=order, channel=order.channel, carrier="SF", tracking_number="SF1234567890",
        status=ShipmentPush.Status.FAILED, attempts=attempts,
        last_error="HTTP 422: fulfillment order is closed",
    )
    start = timezone.now() - dt.timedelta(hours=1)
    for i in range(attempts):
        ShipmentPushAttempt.objects.create(
            push=push, started_at=start + dt.timedelta(minutes=i), ok=False, status_code=422,
            error=f"fulfillment order is closed (try {i + 1})",
        )
    return push


@pytest.fixture
def shipped(make_order):
    return make_order(S.PAID, carrier="SF", tracking_number="SF1234567890")


def test_failed_push_is_shown_in_red_with_its_attempts(client, make_user, shipped):
    failed_push(shipped)
    html = page(client, make_user("ops"), shipped)
    assert 'id="channels-panel"' in html
    assert "Failed permanently" in html and "badge-danger" in html
    assert "was NOT told about this shipment" in html
    assert "HTTP 422: fulfillment order is closed" in html
    assert "fulfillment order is closed (try 1)" in html
    assert "fulfillment order is closed (try 2)" in html
    assert html.count('<tr class="error">') == 2


def test_pending_push_shows_next_try_and_sent_push_no_alarm(client, make_user, shipped):
    next_try = timezone.now() + dt.timedelta(minutes=5)
    ShipmentPush.objects.create(order=shipped, channel=shipped.channel, attempts=1,
                                next_attempt_at=next_try, last_error="timeout")
    html = page(client, make_user("ops"), shipped)
    assert "Pending" in html and "Next try" in html
    assert timezone.localtime(next_try).strftime("%Y-%m-%d %H:%M:%S") in html
    assert "was NOT told" not in html


def test_payloads_received_for_the_order_and_quarantined_link(client, make_user, shipped):
    RawPayload.objects.create(channel=shipped.channel, source="poll", content_hash="a" * 64,
                              body="{}", external_id=shipped.external_id, order=shipped,
                              status=RawPayload.Status.PROCESSED)
    # A later update that could not be parsed: no order link, same platform id.
    RawPayload.objects.create(channel=shipped.channel, source="webhook", content_hash="b" * 64,
                              body="{", external_id=shipped.external_id,
                              status=RawPayload.Status.QUARANTINED, error="bad JSON")
    # Another order's payload is not counted.
    RawPayload.objects.create(channel=shipped.channel, source="poll", content_hash="c" * 64,
                              body="{}", external_id="OTHER")
    html = page(client, make_user("ops"), shipped)
    data = order_panel_data(order=shipped, user=make_user("ops"))
    assert data["payloads"]["count"] == 2 and data["payloads"]["quarantined"] == 1
    assert "1 payload could not be read." in html
    assert f"/channels/problems/?channel=shop&amp;q={shipped.external_id}" in html


def test_finance_sees_push_status_but_not_attempts_or_payloads(client, make_user, shipped):
    failed_push(shipped)
    html = page(client, make_user("finance"), shipped)
    assert "Failed permanently" in html
    assert "try 1" not in html
    assert "Received from the platform" not in html


def test_picker_sees_no_channel_panel(client, make_user, shipped):
    failed_push(shipped)
    # Pickers do not open order pages at all (they work through /scan/).
    client.force_login(make_user("picker"))
    response = client.get(f"/orders/{shipped.pk}/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Platform sync" not in html and "try 1" not in html


def test_page_renders_when_nothing_exists(client, make_user, make_order):
    order = make_order(S.PENDING_PAYMENT)
    html = page(client, make_user("ops"), order)
    assert "Nothing to tell the platform yet." in html
    assert "could not be read" not in html


def test_queries_do_not_grow_with_pushes_and_attempts(make_user, shipped, make_order):
    ops = make_user("ops")
    ops.has_perm("channels.view_shipmentpush")  # load the permission cache outside the count
    failed_push(shipped, attempts=1)
    with CaptureQueriesContext(connection) as one:
        order_panel_data(order=shipped, user=ops)
    other = make_order(S.PAID)
    for _n in range(3):
        failed_push(other, attempts=4)
    with CaptureQueriesContext(connection) as many:
        data = order_panel_data(order=other, user=ops)
        assert sum(len(p.attempt_rows.all()) for p in data["pushes"]) == 12
    # pushes, their attempts, the payload summary
    assert len(many) == len(one) == 3
