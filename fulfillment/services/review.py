"""The review queue: people approve or reject orders automation held.

Who may act on which reason:

- a credit hold (code ``credit``) needs ``fulfillment.review_credit`` (finance);
- every other reason needs ``orderhub.review_order`` (ops, managers).

An approval records the reason codes the person was allowed to approve. The
order leaves review only when every reason is approved; then automation runs
again and skips exactly those approved checks (it does not re-flag them). A
rejection cancels the order with the reviewer's reason.

Finance does not hold the order-core review/cancel permissions, so a move a
finance user causes is made as ``system:credit-review`` and the person is
recorded on the ``ReviewAction`` row and in the transition's reason.

When the last reason of a credit hold is approved, the order is accepted on
credit right there, in the approval's transaction, even over the limit: the
ledger entry names the finance user who approved the credit hold
(``credit.credit_accept``). Automation, running again, finds it accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from fulfillment.models import OrderDecision, ReviewAction
from fulfillment.services import credit as credit_service
from fulfillment.services.automation import _short
from fulfillment.services.risk import CREDIT
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import (
    OrderConflict,
    OrderNotFound,
    OrderServiceError,
    TransitionNotPermitted,
    order_transition,
)

CREDIT_ACTOR = "system:credit-review"
MANUAL = "manual"


@dataclass
class ReviewResult:
    order: Order
    done: bool  # the order left review
    approved: list
    waiting: list


def reason_codes(order: Order) -> list[str]:
    decision = OrderDecision.objects.filter(order=order).first()
    codes = decision.reason_codes if decision else []
    return codes or [MANUAL]


def may_review(user, code: str) -> bool:
    if code == CREDIT:
        return user.has_perm("fulfillment.review_credit")
    return user.has_perm("orderhub.review_order")


def can_open_queue(user) -> bool:
    return user.has_perm("orderhub.review_order") or user.has_perm("fulfillment.review_credit")


def _locked_review_order(order_id: int, expected_status: str | None) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(_("There is no order %(id)s.") % {"id": order_id})
    if order.status != OrderStatus.REVIEW or (
        expected_status is not None and expected_status != order.status
    ):
        raise OrderConflict(
            _("This order is %(status)s now, not in review: someone else acted on it. "
              "Reload the page.") % {"status": order.get_status_display()})
    return order


def review_approve(*, order_id: int, user, comment: str = "",
                   expected_status: str | None = OrderStatus.REVIEW) -> ReviewResult:
    """Approve the reasons ``user`` may approve; the order goes on once all are approved."""
    with transaction.atomic():
        order = _locked_review_order(order_id, expected_status)
        decision = OrderDecision.objects.select_for_update().filter(order=order).first()
        codes = (decision.reason_codes if decision else []) or [MANUAL]
        already = set(decision.approved_checks) if decision else set()
        mine = [c for c in codes if may_review(user, c)]
        if not mine:
            raise TransitionNotPermitted(
                _("Only finance can approve a credit hold.") if CREDIT in codes
                else _("You are not allowed to do that."))
        newly = [c for c in mine if c not in already]
        approved = sorted(already | set(mine))
        if decision is not None:
            decision.approved_checks = approved
            decision.save(update_fields=["approved_checks"])
        ReviewAction.objects.create(order=order, action=ReviewAction.Action.APPROVE,
                                    codes=newly or mine, comment=comment.strip(), user=user)
        waiting = [c for c in codes if c not in approved]
        if waiting:
            return ReviewResult(order=order, done=False, approved=approved, waiting=waiting)
        reason = _("approved by %(user)s") % {"user": user.get_username()}
        if comment.strip():
            reason = f"{reason}: {comment.strip()}"
        if CREDIT in codes:
            approver = credit_service.credit_approver(order.pk) or CREDIT_ACTOR
            credit_service.credit_accept(order=order, actor=approver, approved=True,
                                         note=comment.strip())
        actor = user if user.has_perm("orderhub.review_order") else CREDIT_ACTOR
        order = order_transition(order=order, name="approve", actor=actor, reason=_short(reason))
    return ReviewResult(order=order, done=True, approved=approved, waiting=[])


def review_reject(*, order_id: int, user, reason: str,
                  expected_status: str | None = OrderStatus.REVIEW) -> ReviewResult:
    """Cancel a held order with ``reason``; needs the right to review one of its reasons."""
    reason = (reason or "").strip()
    if not reason:
        raise OrderServiceError(_("Please give a reason."))
    with transaction.atomic():
        order = _locked_review_order(order_id, expected_status)
        codes = reason_codes(order)
        mine = [c for c in codes if may_review(user, c)]
        if not mine:
            raise TransitionNotPermitted(
                _("Only finance can reject a credit hold.") if CREDIT in codes
                else _("You are not allowed to do that."))
        ReviewAction.objects.create(order=order, action=ReviewAction.Action.REJECT, codes=mine,
                                    comment=reason, user=user)
        text = _("rejected in review by %(user)s: %(reason)s") % {
            "user": user.get_username(), "reason": reason}
        actor = user if user.has_perm("orderhub.cancel_order") else CREDIT_ACTOR
        order = order_transition(order=order, name="cancel", actor=actor, reason=_short(text))
    return ReviewResult(order=order, done=True, approved=[], waiting=[])


def review_queue(user):
    """Orders in review this user can act on, oldest first, with their decision.

    Each order's ``customer`` comes along: a credit hold's row shows the
    customer's limit and open balance as they are now.
    """
    qs = (Order.objects.filter(status=OrderStatus.REVIEW)
          .select_related("channel", "customer", "decision").order_by("updated_at", "pk"))
    if not user.has_perm("orderhub.review_order"):
        qs = qs.filter(decision__credit_hold=True)
    return qs
