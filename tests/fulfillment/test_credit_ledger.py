"""Credit limits that hold: the ledger, automation's locked check, finance's page.

Fixtures are imported from test_automation_pipeline and then named as arguments.
"""

# ruff: noqa: F811

from __future__ import annotations

import importlib
from decimal import Decimal
from unittest import mock

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.urls import reverse

from fulfillment.models import CreditEntry, OrderDecision
from fulfillment.services import credit as credit_service
from fulfillment.services import risk as risk_service
from fulfillment.services.automation import order_automate, order_reprocess, orders_automate
from fulfillment.services.review import review_approve, review_reject
from orderhub.models import Customer, Order, OrderStatus
from orderhub.services.orders import TransitionNotPermitted, order_transition, order_update
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    eager,
    stock,
    stocked,
)

S = OrderStatus
K = CreditEntry.Kind
LINE_80 = [{"sku_code": "SKU-1", "name": "保温杯", "quantity": 1, "unit_price": "80.00"}]


@pytest.fixture
def acme(db):
    return Customer.objects.create(name="ACME Trading", tier="b2b",
                                   credit_limit=Decimal("100.00"))


@pytest.fixture
def order80(make_order, acme):
    def make(status=S.PAID, **fields):
        return make_order(status, customer=acme, kind="b2b", lines=LINE_80, **fields)

    return make


def balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).open_balance


def entries(customer) -> list[tuple[str, Decimal, Decimal]]:
    return list(CreditEntry.objects.filter(customer=customer).order_by("created_at", "id")
                .values_list("kind", "amount", "balance_after"))


def test_three_orders_of_80_against_100_one_passes(order80, acme, stocked):
    # given three B2B orders of 80.00 and a limit of 100.00
    orders = [order80() for _ in range(3)]
    # when automation takes them one after the other
    results = [order_automate(order=o).result for o in orders]
    # then the first is accepted and counted, the other two wait for finance with the figures
    assert results == [S.READY_TO_PICK, S.REVIEW, S.REVIEW]
    assert balance(acme) == Decimal("80.00")
    assert entries(acme) == [(K.ACCEPT, Decimal("80.00"), Decimal("80.00"))]
    for order in orders[1:]:
        decision = OrderDecision.objects.get(order=order)
        assert decision.credit_hold
        assert ("open balance 80.00 + this order 80.00 > limit 100.00"
                in decision.review_reasons[0]["message"])


def test_batch_counts_each_order_once(order80, acme, stocked):
    orders = [order80() for _ in range(3)]
    results = orders_automate(order_ids=[o.pk for o in orders])
    assert sorted(r.result for r in results.values()) == [S.READY_TO_PICK, S.REVIEW, S.REVIEW]
    assert balance(acme) == Decimal("80.00")


def test_the_locked_balance_decides_not_the_planning_read(order80, acme, stocked):
    """A plan read before another worker's accept committed is still refused."""
    first, second = order80(), order80()
    assert order_automate(order=first).result == S.READY_TO_PICK
    # given planning saw a stale balance (another worker had not committed yet)
    with mock.patch.object(risk_service, "credit_check", return_value=None):
        outcome = order_automate(order=second)
    # then the credit service, reading the balance under the customer's lock, refuses it
    assert outcome.result == S.REVIEW
    assert outcome.reasons[0]["params"] == {"balance": "80.00", "total": "80.00",
                                            "limit": "100.00"}
    assert balance(acme) == Decimal("80.00")


def test_rerunning_automation_does_not_count_twice(order80, acme, stocked):
    order = order80()
    order_automate(order=order)
    order_reprocess(order=order.pk, actor="system:test")
    order_reprocess(order=order.pk, actor="system:test", reset_approvals=True)
    assert Order.objects.get(pk=order.pk).status == S.READY_TO_PICK
    assert entries(acme) == [(K.ACCEPT, Decimal("80.00"), Decimal("80.00"))]


def test_a_total_edited_after_acceptance_counts_the_difference(order80, acme, stocked):
    order = order80()
    order_automate(order=order)
    order_update(order=order.pk, actor="system:test", changes={"total": "95.00"},
                 reason="price")
    assert order_reprocess(order=order.pk, actor="system:test").result == S.READY_TO_PICK
    assert entries(acme)[-1] == (K.CHANGE, Decimal("15.00"), Decimal("95.00"))
    # over the limit: held, nothing more counted
    order_update(order=order.pk, actor="system:test", changes={"total": "130.00"},
                 reason="price")
    outcome = order_reprocess(order=order.pk, actor="system:test")
    assert outcome.result == S.REVIEW
    assert outcome.reasons[0]["params"] == {"balance": "0.00", "total": "130.00",
                                            "limit": "100.00"}
    assert balance(acme) == Decimal("95.00")


def test_b2c_orders_write_no_ledger(make_order, stocked):
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.READY_TO_PICK
    assert not CreditEntry.objects.exists()


def test_cancel_gives_the_amount_back_once(order80, acme, stocked,
                                           django_capture_on_commit_callbacks):
    order = order80()
    order_automate(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="cancel", actor="system:test", reason="buyer")
    assert balance(acme) == Decimal("0.00")
    assert entries(acme)[-1] == (K.RELEASE, Decimal("-80.00"), Decimal("0.00"))
    # the signal again (a retry) writes nothing
    assert credit_service.credit_release_orders(order_ids=[order.pk],
                                                actor="system:test") == 0
    assert len(entries(acme)) == 2


def test_sweep_releases_what_a_failed_receiver_left(order80, acme, stocked):
    from fulfillment.tasks import release_cancelled_credit

    kept, cancelled = order80(), order80()
    order_automate(order=kept)
    Customer.objects.filter(pk=acme.pk).update(credit_limit=Decimal("500"))
    order_automate(order=cancelled)
    # the cancel's on-commit receiver never ran (callbacks are not executed here)
    order_transition(order=cancelled.pk, name="cancel", actor="system:test", reason="x")
    assert balance(acme) == Decimal("160.00")
    assert release_cancelled_credit() == 1
    assert balance(acme) == Decimal("80.00")
    assert release_cancelled_credit() == 0  # nothing left, nothing written again
    from orderhub.celery import app

    assert "fulfillment.tasks.release_cancelled_credit" in {
        entry["task"] for entry in app.conf.beat_schedule.values()}


def test_finance_approval_accepts_over_the_limit_with_the_approver(
        order80, acme, stocked, make_user, eager, django_capture_on_commit_callbacks):
    first, second = order80(), order80()
    order_automate(order=first)
    order_automate(order=second)
    finance = make_user("finance")
    with django_capture_on_commit_callbacks(execute=True):
        result = review_approve(order_id=second.pk, user=finance, comment="wire on the way")
    assert result.done
    # approve → paid → automation ran again (eager) and did not count it twice
    assert Order.objects.get(pk=second.pk).status == S.READY_TO_PICK
    assert balance(acme) == Decimal("160.00")
    entry = CreditEntry.objects.get(order=second)
    assert (entry.kind, entry.amount, entry.over_limit, entry.actor_user) == (
        K.ACCEPT, Decimal("80.00"), True, finance)
    assert "wire on the way" in entry.note


def test_rejected_credit_hold_counts_nothing(order80, acme, stocked, make_user,
                                             django_capture_on_commit_callbacks):
    first, second = order80(), order80()
    order_automate(order=first)
    order_automate(order=second)
    with django_capture_on_commit_callbacks(execute=True):
        review_reject(order_id=second.pk, user=make_user("finance"), reason="overdue")
    assert balance(acme) == Decimal("80.00")
    assert not CreditEntry.objects.filter(order=second).exists()


def test_finance_settles_an_order(order80, acme, stocked, make_user):
    order = order80()
    order_automate(order=order)
    with pytest.raises(TransitionNotPermitted):
        credit_service.credit_settle(order_id=order.pk, actor=make_user("ops"))
    finance = make_user("finance")
    credit_service.credit_settle(order_id=order.pk, actor=finance, note="bank 123")
    assert balance(acme) == Decimal("0.00")
    with pytest.raises(credit_service.CreditError, match="settled already"):
        credit_service.credit_settle(order_id=order.pk, actor=finance)
    # a settled order that is cancelled later gives nothing back a second time
    credit_service.credit_release_orders(order_ids=[order.pk], actor="system:test")
    assert balance(acme) == Decimal("0.00")
    # and a settled order's limit is free again
    assert order_automate(order=order80()).result == S.READY_TO_PICK


def test_refunds_are_bounded_by_what_is_open(order80, acme, stocked, make_user,
                                             django_capture_on_commit_callbacks):
    order = order80()
    order_automate(order=order)
    finance = make_user("finance")
    for amount, note, message in (("0", "x", "positive"), ("abc", "x", "not an amount"),
                                  ("80.01", "x", "Only 80.00 is open"),
                                  ("1.005", "x", "two decimal places"),
                                  ("10", "  ", "reason")):
        with pytest.raises(credit_service.CreditError, match=message):
            credit_service.credit_refund(order_id=order.pk, amount=amount, actor=finance,
                                         note=note)
    assert len(entries(acme)) == 1  # nothing written by the refused ones
    credit_service.credit_refund(order_id=order.pk, amount="30", actor=finance,
                                 note="2 cups broken")
    assert balance(acme) == Decimal("50.00")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="cancel", actor="system:test", reason="buyer")
    assert entries(acme)[-1] == (K.RELEASE, Decimal("-50.00"), Decimal("0.00"))


def test_manual_adjustment_needs_an_amount_and_a_reason(acme, make_user):
    finance = make_user("finance")
    with pytest.raises(credit_service.CreditError):
        credit_service.credit_adjust(customer_id=acme.pk, amount="0", actor=finance, note="x")
    with pytest.raises(credit_service.CreditError):
        credit_service.credit_adjust(customer_id=acme.pk, amount="50", actor=finance, note="")
    credit_service.credit_adjust(customer_id=acme.pk, amount="250.00", actor=finance,
                                 note="invoice 2025-12 before the hub")
    credit_service.credit_adjust(customer_id=acme.pk, amount="-100", actor=finance,
                                 note="payment on account")
    assert entries(acme) == [(K.ADJUST, Decimal("250.00"), Decimal("250.00")),
                             (K.ADJUST, Decimal("-100.00"), Decimal("150.00"))]


def test_ledger_rows_add_up_to_the_balance(order80, acme, stocked, make_user):
    finance = make_user("finance")
    orders = [order80() for _ in range(2)]
    order_automate(order=orders[0])
    credit_service.credit_refund(order_id=orders[0].pk, amount="5", actor=finance, note="x")
    credit_service.credit_settle(order_id=orders[0].pk, actor=finance)
    order_automate(order=orders[1])
    rows = entries(acme)
    running = Decimal("0")
    for _kind, amount, after in rows:
        running += amount
        assert after == running
    assert running == balance(acme) == Decimal("80.00")


# --- pages ---------------------------------------------------------------------------------


def test_review_row_shows_the_figures_and_the_ledger_link(client, make_user, order80, acme,
                                                          stocked):
    order_automate(order=order80())
    held = order80()
    order_automate(order=held)
    client.force_login(make_user("finance"))
    html = client.get(reverse("fulfillment:review-queue")).content.decode()
    start = html.index(f'id="credit-figures-{held.pk}"')
    figures = html[start:html.index("</p>", start)]
    assert 'data-figure="limit">100.00<' in figures
    assert 'data-figure="balance">80.00<' in figures
    assert 'data-figure="total">80.00<' in figures
    assert reverse("fulfillment:credit-ledger", args=[acme.pk]) in figures
    # ops see the figures, not finance's ledger link
    client.force_login(make_user("ops"))
    html = client.get(reverse("fulfillment:review-queue")).content.decode()
    assert f'id="credit-figures-{held.pk}"' in html
    assert reverse("fulfillment:credit-ledger", args=[acme.pk]) not in html


def test_ledger_page_for_finance_only(client, make_user, order80, acme, stocked):
    order = order80()
    order_automate(order=order)
    url = reverse("fulfillment:credit-ledger", args=[acme.pk])
    client.force_login(make_user("ops"))
    assert client.get(url).status_code == 403
    client.force_login(make_user("finance"))
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-figure="balance">80.00<' in html and 'data-figure="headroom">20.00<' in html
    assert order.number in html and "Order accepted on credit" in html
    open_row = html[html.index(f'data-order="{order.pk}"'):]
    assert '<td class="num mono">80.00</td>' in open_row[:open_row.index("</tr>")]
    assert client.get(reverse("fulfillment:credit-ledger", args=[999999])).status_code == 404


def test_settle_and_refuse_on_the_page(client, make_user, order80, acme, stocked):
    order = order80()
    order_automate(order=order)
    client.force_login(make_user("finance"))
    refund = reverse("fulfillment:credit-refund", args=[acme.pk])
    # a bad amount: 400, the message, what was typed is kept, nothing written
    response = client.post(refund, {"order": order.pk, "amount": "90", "note": "dented"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Only 80.00 is open" in html and 'value="dented"' in html
    assert balance(acme) == Decimal("80.00")
    # an order of another customer is refused on this customer's page
    other = Customer.objects.create(name="Other", tier="b2b", credit_limit=Decimal("500"))
    response = client.post(reverse("fulfillment:credit-settle", args=[other.pk]),
                           {"order": order.pk})
    assert response.status_code == 400 and balance(acme) == Decimal("80.00")
    response = client.post(reverse("fulfillment:credit-settle", args=[acme.pk]),
                           {"order": order.pk, "note": "bank ref 42"})
    assert response.status_code == 302
    assert balance(acme) == Decimal("0.00")
    html = client.get(response["Location"]).content.decode()
    assert f"Order {order.number} settled" in html and "bank ref 42" in html
    response = client.post(reverse("fulfillment:credit-adjust", args=[acme.pk]),
                           {"amount": "-20", "note": "prepayment"})
    assert response.status_code == 302 and balance(acme) == Decimal("-20.00")


def test_ledger_page_in_chinese(client, make_user, order80, acme, stocked):
    from django.utils import translation

    order_automate(order=order80())
    client.force_login(make_user("finance"))
    try:
        html = client.get(reverse("fulfillment:credit-ledger", args=[acme.pk]),
                          HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    finally:
        translation.activate("en")
    assert "信用额度" in html and "未结余额" in html and "赊销接单" in html


def test_admin_shows_the_ledger_and_keeps_the_balance_read_only(client, order80, acme,
                                                                 stocked, make_user):
    order_automate(order=order80())
    admin = make_user("admin")
    User.objects.filter(pk=admin.pk).update(is_superuser=True, is_staff=True)
    client.force_login(admin)
    html = client.get(reverse("admin:orderhub_customer_change", args=[acme.pk])).content.decode()
    assert 'name="open_balance"' not in html and 'name="credit_limit"' in html
    assert "Order accepted on credit" in html
    assert reverse("fulfillment:credit-ledger", args=[acme.pk]) in html


# --- the data migration --------------------------------------------------------------------


def test_opening_migration_keeps_balances_and_counts_orders_in_the_warehouse(make_order,
                                                                             acme):
    migration = importlib.import_module(
        "fulfillment.migrations.0005_credit_opening_balances")
    Customer.objects.filter(pk=acme.pk).update(open_balance=Decimal("300.00"))
    waiting = make_order(S.READY_TO_PICK, customer=acme, kind="b2b", lines=LINE_80)
    held = make_order(S.READY_TO_PICK, customer=acme, kind="b2b", lines=LINE_80)
    order_transition(order=held.pk, name="hold", actor="system:test", reason="x")
    make_order(S.SHIPPED, customer=acme, kind="b2b", lines=LINE_80)  # paid or not: unknown
    make_order(S.READY_TO_PICK, lines=LINE_80)  # B2C
    migration.forwards(django_apps, None)
    assert entries(acme) == [(K.OPENING, Decimal("300.00"), Decimal("300.00")),
                             (K.ACCEPT, Decimal("80.00"), Decimal("380.00")),
                             (K.ACCEPT, Decimal("80.00"), Decimal("460.00"))]
    assert set(CreditEntry.objects.filter(kind=K.ACCEPT).values_list("order", flat=True)) == {
        waiting.pk, held.pk}
    assert balance(acme) == Decimal("460.00")
    migration.backwards(django_apps, None)
    assert balance(acme) == Decimal("300.00") and not CreditEntry.objects.exists()
