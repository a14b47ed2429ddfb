"""Bulk approve / reject on /review/: one reason for all, one result per order."""

# Fixtures are imported from the pipeline / credit tests and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from django.urls import reverse

from fulfillment.models import ReviewAction
from orderhub.models import Order, OrderStatus
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    eager,
    stock,
    stocked,
)
from tests.fulfillment.test_credit_review import b2b, held  # noqa: F401 (fixtures)

S = OrderStatus
URL = "/review/bulk/"


def _status(order):
    return Order.objects.get(pk=order.pk).status


def test_url():
    assert reverse("fulfillment:review-bulk") == URL


def test_queue_has_a_checkbox_per_row_and_select_all(client, make_user, held):
    client.force_login(make_user("ops"))
    html = client.get(reverse("fulfillment:review-queue")).content.decode()
    assert 'id="review-select-all"' in html and 'id="review-bulk"' in html
    risky, credit, manual = held
    for order in (risky, manual):
        assert f'class="bulk-pick" name="order" value="{order.pk}" form="review-bulk"' in html
    # ops cannot decide the credit hold: no box to tick for it
    assert f'value="{credit.pk}" form="review-bulk"' not in html


def test_bulk_reject_one_reason_for_all_and_a_refusal_does_not_stop_the_others(
        client, make_user, held):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    response = client.post(URL, {"action": "reject", "reason": "duplicate orders",
                                 "order": [risky.pk, credit.pk, manual.pk]})
    assert response.status_code == 200
    html = response.content.decode()
    # each order's own result
    assert _status(risky) == S.CANCELLED and _status(manual) == S.CANCELLED
    assert _status(credit) == S.REVIEW  # only finance rejects a credit hold
    results = html[html.index('id="bulk-results"'):]
    assert "2 done, 1 refused." in results
    assert "Only finance can reject a credit hold." in results
    assert results.count("Rejected: the order is cancelled.") == 2
    for order in (risky, manual):
        assert "duplicate orders" in Order.objects.get(pk=order.pk).cancel_reason
        assert ReviewAction.objects.get(order=order).action == "reject"


def test_bulk_approve_with_one_comment(client, make_user, held, eager,
                                       django_capture_on_commit_callbacks):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, {"action": "approve", "reason": "called buyers",
                                     "order": [risky.pk, manual.pk]})
    assert response.status_code == 200
    assert _status(risky) != S.REVIEW and _status(manual) != S.REVIEW
    assert {a.comment for a in ReviewAction.objects.filter(order__in=[risky, manual])} == {
        "called buyers"}
    assert "2 done, 0 refused." in response.content.decode()


def test_an_order_someone_else_moved_is_refused_on_its_line(client, make_user, held):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    assert client.post(reverse("fulfillment:review-reject", args=[manual.pk]),
                       {"reason": "gone"}).status_code == 302
    html = client.post(URL, {"action": "reject", "reason": "again",
                             "order": [manual.pk, risky.pk]}).content.decode()
    assert "someone else acted on it" in html and "1 done, 1 refused." in html
    assert _status(risky) == S.CANCELLED


@pytest.mark.parametrize("data, error", [
    ({"action": "reject", "reason": "  "}, "Please give a reason."),
    ({"action": "approve", "order": []}, "Tick at least one order."),
    ({"action": "delete"}, "Choose approve or reject."),
    ({"action": "approve", "order": ["1; drop"]}, "The selection is not valid"),
])
def test_bad_input_changes_nothing(client, make_user, held, data, error):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    data = {"order": [risky.pk, manual.pk], **data}
    response = client.post(URL, data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert _status(risky) == S.REVIEW and _status(manual) == S.REVIEW
    assert not ReviewAction.objects.exists()


def test_permissions_as_for_single_actions(client, make_user, held):
    risky, credit, manual = held
    assert client.post(URL, {"action": "reject", "reason": "x",
                             "order": [risky.pk]}).status_code == 302  # login first
    client.force_login(make_user("picker"))
    assert client.post(URL, {"action": "reject", "reason": "x",
                             "order": [risky.pk]}).status_code == 403
    assert client.get(URL).status_code in (403, 405)
    client.force_login(make_user("finance"))
    html = client.post(URL, {"action": "reject", "reason": "overdue",
                             "order": [credit.pk, risky.pk]}).content.decode()
    assert _status(credit) == S.CANCELLED and _status(risky) == S.REVIEW
    assert "1 done, 1 refused." in html
