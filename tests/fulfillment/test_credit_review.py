"""Credit holds and the review queue page: who may approve or reject what."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from fulfillment.models import Blacklist, OrderDecision, ReviewAction
from fulfillment.services.automation import order_automate
from fulfillment.services.review import review_approve
from orderhub.models import Customer, Order, OrderStatus
from orderhub.services.orders import TransitionNotPermitted
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    eager,
    enable_risk,
    reserved,
    stock,
    stocked,
)

S = OrderStatus


@pytest.fixture
def b2b(db):
    return Customer.objects.create(name="ACME Trading", tier="b2b",
                                   credit_limit=Decimal("1000.00"),
                                   open_balance=Decimal("950.00"))


def test_credit_within_limit_goes_on(make_order, stocked, b2b):
    b2b.open_balance = Decimal("800.00")
    b2b.save()
    order = make_order(S.PAID, customer=b2b, kind="b2b")  # total 118
    assert order_automate(order=order).result == S.READY_TO_PICK


def test_credit_over_limit_goes_to_finance(make_order, stocked, b2b):
    order = make_order(S.PAID, customer=b2b, kind="b2b")
    outcome = order_automate(order=order)
    assert outcome.result == S.REVIEW
    decision = OrderDecision.objects.get(order=order)
    assert decision.credit_hold
    assert decision.review_reasons[0]["code"] == "credit"
    assert "950.00 + this order 118.00 > limit 1000.00" in decision.review_reasons[0]["message"]


def test_b2b_tier_customer_counts_even_on_b2c_order(make_order, stocked, b2b):
    order = make_order(S.PAID, customer=b2b)
    assert order_automate(order=order).result == S.REVIEW


def test_b2b_order_without_customer_is_held(make_order, stocked):
    order = make_order(S.PAID, kind="b2b")
    assert order_automate(order=order).reasons[0]["key"] == "credit_no_customer"


def test_only_finance_approves_a_credit_hold(make_order, stocked, b2b, make_user):
    order = make_order(S.PAID, customer=b2b, kind="b2b")
    order_automate(order=order)
    with pytest.raises(TransitionNotPermitted, match="Only finance"):
        review_approve(order_id=order.pk, user=make_user("ops"))
    finance = make_user("finance")
    result = review_approve(order_id=order.pk, user=finance, comment="paid by wire")
    assert result.done
    order.refresh_from_db()
    assert order.status == S.PAID
    log = order.transition_logs.last()
    assert (log.transition, log.actor) == ("approve", "system:credit-review")
    assert finance.username in log.reason
    assert ReviewAction.objects.get().user == finance
    # the credit check is not raised again on the re-run
    assert order_automate(order=order).result == S.READY_TO_PICK


def test_mixed_reasons_need_both_roles(make_order, stocked, b2b, make_user):
    enable_risk("blacklist")
    Blacklist.objects.create(kind="phone", value="+8613800138000", reason="x")
    order = make_order(S.PAID, customer=b2b, kind="b2b")
    order_automate(order=order)
    first = review_approve(order_id=order.pk, user=make_user("ops"))
    assert not first.done and first.waiting == ["credit"]
    assert Order.objects.get(pk=order.pk).status == S.REVIEW
    second = review_approve(order_id=order.pk, user=make_user("finance"))
    assert second.done
    assert Order.objects.get(pk=order.pk).status == S.PAID


# --- the page ------------------------------------------------------------------------------


@pytest.fixture
def held(make_order, stocked, b2b):
    enable_risk("vague_address", min_street_length=6)
    risky = make_order(S.PAID, ship_street="1号")
    credit = make_order(S.PAID, customer=b2b, kind="b2b")
    manual = make_order(S.REVIEW)
    for order in (risky, credit):
        order_automate(order=order)
    return risky, credit, manual


def test_queue_lists_orders_with_reasons(client, make_user, held):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    response = client.get(reverse("fulfillment:review-queue"))
    html = response.content.decode()
    assert response.status_code == 200
    for order in held:
        assert order.number in html
    assert "The street address is too short (2 characters, at least 6)." in html
    assert "Credit limit exceeded" in html
    assert "Sent to review by hand: test" in html
    assert "138****8000" in html and "13800138000" not in html


def test_queue_permissions(client, make_user, held):
    risky, credit, manual = held
    url = reverse("fulfillment:review-queue")
    assert client.get(url).status_code == 302  # login first
    client.force_login(make_user("picker"))
    assert client.get(url).status_code == 403
    assert client.post(reverse("fulfillment:review-approve", args=[risky.pk])).status_code == 403
    # finance sees only credit holds
    client.force_login(make_user("finance"))
    html = client.get(url).content.decode()
    assert credit.number in html and risky.number not in html and manual.number not in html


def test_ops_approve_risk_hold_with_htmx_row(client, make_user, held, eager,
                                             django_capture_on_commit_callbacks):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    url = reverse("fulfillment:review-approve", args=[risky.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"expected_status": "review", "comment": "called buyer"},
                               HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="review-row-{risky.pk}"' in html and "Approved" in html
    # approve → paid → the automation task ran and did not re-flag the street
    risky.refresh_from_db()
    assert risky.status == S.READY_TO_PICK
    assert reserved(risky)


def test_ops_cannot_approve_credit_hold_on_page(client, make_user, held):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    response = client.post(reverse("fulfillment:review-approve", args=[credit.pk]),
                           {"expected_status": "review"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "Only finance" in response.content.decode()
    assert response["HX-Retarget"] == "#review-alert"  # shown above, the row stays
    assert Order.objects.get(pk=credit.pk).status == S.REVIEW


def test_finance_rejects_credit_hold(client, make_user, held):
    risky, credit, manual = held
    client.force_login(make_user("finance"))
    url = reverse("fulfillment:review-reject", args=[credit.pk])
    response = client.post(url, {"expected_status": "review", "reason": ""},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 400  # a reason is required; nothing changed
    assert Order.objects.get(pk=credit.pk).status == S.REVIEW
    response = client.post(url, {"expected_status": "review", "reason": "overdue invoices"})
    assert response.status_code == 302
    order = Order.objects.get(pk=credit.pk)
    assert order.status == S.CANCELLED
    assert "overdue invoices" in order.cancel_reason
    assert ReviewAction.objects.get(order=order).action == "reject"


def test_acting_on_an_order_that_moved_on_is_a_conflict(client, make_user, held):
    risky, credit, manual = held
    client.force_login(make_user("ops"))
    url = reverse("fulfillment:review-approve", args=[manual.pk])
    assert client.post(url, {"expected_status": "review"}).status_code == 302
    response = client.post(url, {"expected_status": "review"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "someone else acted on it" in response.content.decode()


@pytest.fixture
def restore_language():
    from django.utils import translation

    yield
    # LocaleMiddleware leaves the request's language active in this thread.
    translation.activate("en")


def test_queue_in_chinese(client, make_user, held, restore_language):
    client.force_login(make_user("ops"))
    response = client.get(reverse("fulfillment:review-queue"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert "待审核订单" in html
    assert "街道地址太短（2 个字，至少 6 个）。" in html
    assert "超出信用额度" in html
