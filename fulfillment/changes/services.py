"""Change request services: file, decide, apply, withdraw.

Who may do what:

- filing needs ``changes.add_changerequest``;
- deciding a step needs ``changes.approve_changerequest`` AND membership of one
  of the step's groups; with the chain's ``distinct_approvers`` (the default) a
  person decides at most one step of a request and never their own request;
- withdrawing: the requester, or anyone with ``changes.change_changerequest``.

Order changes go through the order services only. Before picking the
requester's own rights apply (``order_update`` checks ``change_order``). After
an approval chain, the chain is the authority: the change, the release and the
intercept are done as ``system:changes`` (finance, the last step, cannot edit
orders itself), and the reasons name the request and its approvers.

Every order write of one call happens in one transaction: a conflict (the
order moved on meanwhile) leaves nothing half-applied.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.changes import notify
from fulfillment.changes.models import (
    ApprovalChain,
    ApprovalDecision,
    ChangeRequest,
)
from fulfillment.changes.proposals import (  # re-exported: views and tests import them here
    FIELDS,
    ChangeConflict,
    ChangeNotPermitted,
    ChangeRequestError,
    clean_proposal,
    compute_diff,
    diff_is_empty,
    lines_diff,
    order_snapshot,
)
from fulfillment.signals import change_request_updated
from orderhub.models import BEFORE_PICKING, PICKING_STARTED, Order, OrderStatus
from orderhub.services.events import order_event_record
from orderhub.services.orders import (
    OrderConflict,
    OrderServiceError,
    TransitionNotPermitted,
    TransitionRefused,
    actor_info,
    order_add_note,
    order_transition,
    order_update,
)
from warehouse.models import PickList, Reservation
from warehouse.services.picklists import picklist_reprint, picklists_drop_stale
from warehouse.services.stock import StockError, stock_release, stock_reserve

logger = logging.getLogger(__name__)

SYSTEM = "system:changes"

__all__ = [
    "FIELDS", "ChangeConflict", "ChangeNotPermitted", "ChangeRequestError", "can_decide",
    "change_request_create", "change_request_decide", "change_request_withdraw",
    "compute_diff", "diff_is_empty", "lines_diff", "order_snapshot",
]

# --- filing ----------------------------------------------------------------------------


def _effective_status(order: Order) -> str:
    return order.held_from if order.status == OrderStatus.ON_HOLD else order.status


def _chain_for(kind: str) -> ApprovalChain | None:
    return (ApprovalChain.objects.filter(active=True, applies_to__in=["any", kind])
            .prefetch_related("steps__groups").order_by("position", "id").first())


def _event(order, kind: str, message: str, actor, data: dict) -> None:
    order_event_record(order=order, kind=kind, actor=actor, message=message, data=data)


def _announce(change: ChangeRequest, actor) -> None:
    label = actor_info(actor).label
    change_id, order_id, status = change.pk, change.order_id, change.status
    step = change.step["name"] if change.step else None

    def send():
        notify.waiting_changed()
        for receiver, error in change_request_updated.send_robust(
                sender=ChangeRequest, change_id=change_id, order_id=order_id, status=status,
                step=step, actor=label):
            if error is not None:
                logger.error("change_request_updated receiver %r failed for change %s",
                             receiver, change_id,
                             exc_info=(type(error), error, error.__traceback__))

    transaction.on_commit(send)


def change_request_create(
    *,
    order: Order | int,
    actor,
    kind: str = ChangeRequest.Kind.CHANGE,
    proposed: dict | None = None,
    reason: str,
    expected_status: str | None = None,
) -> ChangeRequest:
    """File a change (or intercept) of ``order``.

    ``proposed``: ``{"fields": {name: value}, "lines": [line dicts] | None,
    "note": str}``; only values that differ from the order count. Before
    picking the change is applied at once; from picking on the order is put on
    hold and the approval chain starts. ``expected_status`` is the status the
    requester saw: if the order moved on meanwhile, ``ChangeConflict``.
    """
    who = actor_info(actor)
    if who.user is None:
        raise ChangeRequestError(_("A change request is filed by a person."))
    if not who.user.has_perm("changes.add_changerequest"):
        raise ChangeNotPermitted(_("You are not allowed to request changes."))
    if kind not in ChangeRequest.Kind.values:
        raise ChangeRequestError(_("Unknown kind of request."))
    reason = (reason or "").strip()
    if not reason:
        raise ChangeRequestError(_("Please give a reason."))
    try:
        with transaction.atomic():
            return _create(order, who.user, kind, proposed or {}, reason, expected_status)
    except IntegrityError as exc:
        # The partial unique index: someone filed another request a moment ago.
        raise ChangeConflict(_("This order already has an open change request.")) from exc
    except ValidationError as exc:
        raise ChangeRequestError(" ".join(exc.messages)) from exc


def _create(order, user, kind, proposed, reason, expected_status) -> ChangeRequest:
    order_id = order.pk if isinstance(order, Order) else order
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise ChangeRequestError(_("There is no order %(id)s.") % {"id": order_id})
    if expected_status and expected_status != order.status:
        raise ChangeConflict(
            _("The order moved on meanwhile: it is now %(status)s. Nothing was changed; "
              "reload the order and try again.") % {"status": order.get_status_display()})
    if ChangeRequest.objects.filter(order=order, status__in=ChangeRequest.OPEN).exists():
        raise ChangeConflict(_("This order already has an open change request."))
    effective = _effective_status(order)
    before = effective in BEFORE_PICKING
    if not before and effective not in PICKING_STARTED:
        raise ChangeRequestError(
            _("This order is %(status)s: it can no longer be changed or intercepted.")
            % {"status": order.get_status_display()})
    if kind == ChangeRequest.Kind.INTERCEPT and before:
        raise ChangeRequestError(
            _("Picking has not started: cancel the order instead of intercepting it."))
    old = order_snapshot(order)
    clean = clean_proposal(order, kind, proposed, old)
    diff = compute_diff(old, clean) if kind == ChangeRequest.Kind.CHANGE else {}
    if kind == ChangeRequest.Kind.CHANGE and diff_is_empty(diff):
        raise ChangeRequestError(_("Nothing would change: edit at least one value."))
    change = ChangeRequest(
        order=order, kind=kind, reason=reason, proposed=clean, old=old, diff=diff,
        status_seen=order.status, requested_by=user, needs_approval=not before,
    )
    if before:
        change.save()
        _apply(change, actor=user)
        _event(order, "change_applied",
               _("Change request #%(id)s applied: %(reason)s") % {"id": change.pk,
                                                                   "reason": reason},
               user, {"change_id": change.pk})
        _announce(change, user)
        return change
    chain = _chain_for(kind)
    if chain is None or not chain.steps.exists():
        raise ChangeRequestError(
            _("No approval chain is set up for this kind of request; ask an admin."))
    change.chain = chain
    change.distinct_approvers = chain.distinct_approvers
    change.steps = [
        {"name": step.name, "group_ids": sorted(g.pk for g in step.groups.all()),
         "groups": sorted(g.name for g in step.groups.all())}
        for step in chain.steps.all()
    ]
    change.save()
    if order.status != OrderStatus.ON_HOLD:
        hold_reason = _("Change request #%(id)s: %(reason)s") % {"id": change.pk,
                                                                 "reason": reason}
        order_transition(order=order.pk, name="hold", actor=user,
                         reason=hold_reason[:255], expected_status=order.status)
        change.hold_placed = True
        change.save(update_fields=["hold_placed"])
    _event(order, "change_requested",
           _("%(kind)s request #%(id)s waits for approval: %(reason)s")
           % {"kind": change.get_kind_display(), "id": change.pk, "reason": reason},
           user, {"change_id": change.pk})
    notify.notify_step_entered(change)
    _announce(change, user)
    return change


# --- applying ------------------------------------------------------------------------------


def _active_pick_lists(order: Order):
    return list(PickList.objects.filter(slots__order=order, status=PickList.Status.ACTIVE)
                .order_by("pk"))


def _apply(change: ChangeRequest, *, actor) -> None:
    """Make the order match the proposal (call inside a transaction).

    The order's current values must still be the ones the request was filed
    against, or the approvers would have approved a diff that no longer holds.
    """
    order = Order.objects.select_for_update().get(pk=change.order_id)
    now = order_snapshot(order)
    report: dict = {"before": now, "pick_lists": []}
    if change.kind == ChangeRequest.Kind.INTERCEPT:
        order_transition(
            order=order.pk, name="intercept", actor=actor, expected_status=order.status,
            reason=_("Intercept request #%(id)s approved: %(reason)s")
            % {"id": change.pk, "reason": change.reason},
        )
        # In the same transaction, not only on the after-commit signal: once the
        # intercept is approved no picker may be sent to the order.
        report["pick_lists"] = picklists_drop_stale(order_ids=[order.pk], actor=actor)
    else:
        fields = change.proposed.get("fields", {})
        touched = [n for n in fields if now["fields"].get(n) != change.old["fields"].get(n)]
        lines_moved = bool(change.diff.get("lines")) and now["lines"] != change.old["lines"]
        if touched or lines_moved:
            raise ChangeConflict(
                _("The order was edited after this request was filed (%(what)s); nothing was "
                  "applied. Withdraw it and file a new one.")
                % {"what": ", ".join([*touched, *(["lines"] if lines_moved else [])])})
        expected = order.status
        label = _("Change request #%(id)s") % {"id": change.pk}
        lines = change.proposed["lines"] if change.diff.get("lines") else None
        if fields or lines is not None:
            # One call: fields and lines make one version and one re-run of automation.
            order_update(order=order.pk, actor=actor, changes=fields, lines=lines,
                         reason=label, expected_status=expected)
        if lines is not None and _effective_status(order) in PICKING_STARTED \
                and order.warehouse_id:
            _reserve_new_lines(order, actor=actor, reason=label)
        if change.proposed.get("note"):
            order_add_note(order=order.pk, actor=actor,
                           text=f"{label}: {change.proposed['note']}")
        for pick_list in _active_pick_lists(order):
            copy = picklist_reprint(pick_list=pick_list, actor=actor)
            report["pick_lists"].append({"voided": pick_list.number, "printed": copy.number,
                                         "printed_id": copy.pk})
        notify.notify_pick_lists_reprinted(change, report["pick_lists"])
    after = Order.objects.get(pk=order.pk)
    report["after"] = order_snapshot(after)
    report["rows"] = compute_diff(report["before"], {
        "fields": {n: report["after"]["fields"][n] for n in FIELDS},
        "lines": report["after"]["lines"],
    })
    change.report = report
    change.status = ChangeRequest.Status.APPLIED
    change.applied_at = timezone.now()
    change.apply_error = ""
    change.save(update_fields=["report", "status", "applied_at", "apply_error"])


def _reserve_new_lines(order: Order, *, actor, reason: str) -> None:
    """The warehouse holds stock for the old lines: hold it for the new ones instead.

    Before picking, automation re-runs on the edit and does this itself; from
    picking on it does not (the order is held), so the change does it. All or
    nothing: a short SKU raises ``InsufficientStock`` and the whole apply rolls back.
    """
    if not order.reservations.filter(status=Reservation.Status.ACTIVE).exists():
        return  # nothing was reserved for it (stock not kept for these SKUs)
    stock_release(order=order.pk, actor=actor, reason=reason)
    stock_reserve(order=order.pk, warehouse=order.warehouse, actor=actor)


def _release_hold(change: ChangeRequest, reason: str) -> None:
    """Release the hold this request placed, if the order is still held."""
    if not change.hold_placed:
        return
    order = Order.objects.get(pk=change.order_id)
    if order.status != OrderStatus.ON_HOLD:
        # Someone released (or intercepted) it meanwhile: nothing left to release.
        return
    order_transition(order=order.pk, name="release", actor=SYSTEM, reason=reason,
                     expected_status=OrderStatus.ON_HOLD)


# --- deciding ------------------------------------------------------------------------------


def can_decide(change: ChangeRequest, user) -> tuple[bool, str]:
    """Whether ``user`` may decide ``change``'s current step, and if not, why."""
    step = change.step
    if step is None:
        return False, _("This request is not waiting for a decision.")
    if not user.has_perm("changes.approve_changerequest"):
        return False, _("You are not allowed to approve change requests.")
    group_ids = getattr(user, "_change_group_ids", None)
    if group_ids is None:
        # Cached on the user object: the list page asks this for every pending request.
        group_ids = user._change_group_ids = set(user.groups.values_list("pk", flat=True))
    if not group_ids & set(step["group_ids"]):
        return False, _("This step is for %(groups)s; you are not a member.") % {
            "groups": ", ".join(step["groups"]) or "—"}
    if change.distinct_approvers:
        if change.requested_by_id == user.pk:
            return False, _("You filed this request; someone else has to approve it.")
        if any(d.user_id == user.pk for d in change.decisions.all()):
            return False, _("You already decided an earlier step; the next step needs "
                            "someone else.")
    return True, ""


def change_request_decide(
    *,
    change: ChangeRequest | int,
    actor,
    decision: str,
    comment: str = "",
    expected_step: int | None = None,
) -> ChangeRequest:
    """Approve or reject the current step of a pending request.

    The last approval applies the change (or intercepts the order) and
    releases the hold; a rejection releases the hold. If the order cannot take
    the change any more (it moved on, or was edited), the approvals are kept,
    the request becomes ``approved`` with ``apply_error`` set, and the order is
    left exactly as it was.
    """
    who = actor_info(actor)
    if who.user is None:
        raise ChangeRequestError(_("A change request is decided by a person."))
    if decision not in ApprovalDecision.Decision.values:
        raise ChangeRequestError(_("Approve or reject."))
    comment = (comment or "").strip()
    if decision == ApprovalDecision.Decision.REJECT and not comment:
        raise ChangeRequestError(_("Say why you reject it."))
    change_id = change.pk if isinstance(change, ChangeRequest) else change
    with transaction.atomic():
        change = (ChangeRequest.objects.select_for_update(of=("self",))
                  .select_related("order", "requested_by").filter(pk=change_id).first())
        if change is None:
            raise ChangeRequestError(_("There is no change request %(id)s.") % {"id": change_id})
        if change.status != ChangeRequest.Status.PENDING:
            raise ChangeConflict(
                _("This request is already %(status)s. Reload the page.")
                % {"status": change.get_status_display()})
        if expected_step is not None and expected_step != change.current_step:
            raise ChangeConflict(
                _("Someone decided this step meanwhile. Reload the page."))
        allowed, why = can_decide(change, who.user)
        if not allowed:
            raise ChangeNotPermitted(why)
        step = change.step
        ApprovalDecision.objects.create(
            change=change, step_index=change.current_step, step_name=step["name"],
            user=who.user, decision=decision, comment=comment,
        )
        label = {"id": change.pk, "step": step["name"], "user": who.label}
        if decision == ApprovalDecision.Decision.REJECT:
            change.status = ChangeRequest.Status.REJECTED
            change.decided_at = timezone.now()
            change.save(update_fields=["status", "decided_at"])
            _release_hold(change, _("Change request #%(id)s rejected at “%(step)s” by "
                                    "%(user)s") % label)
            _event(change.order, "change_rejected",
                   _("Change request #%(id)s rejected at “%(step)s” by %(user)s") % label
                   + (f": {comment}" if comment else ""), who.user, {"change_id": change.pk})
            notify.notify_outcome(change, by=who.label, step=step["name"], comment=comment)
        elif change.current_step + 1 < len(change.steps):
            change.current_step += 1
            change.save(update_fields=["current_step"])
            _event(change.order, "change_approved_step",
                   _("Change request #%(id)s: “%(step)s” approved by %(user)s") % label
                   + (f": {comment}" if comment else ""), who.user, {"change_id": change.pk})
            notify.notify_step_entered(change)
        else:
            _finish(change, who.user, label)
        _announce(change, who.user)
    return change


def _finish(change: ChangeRequest, user, label: dict) -> None:
    """The last step approved: apply in a savepoint, or keep the approvals and say why not."""
    change.status = ChangeRequest.Status.APPROVED
    change.decided_at = timezone.now()
    change.save(update_fields=["status", "decided_at"])
    approvers = ", ".join(d.user.get_username()
                          for d in change.decisions.select_related("user"))
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=change.order_id)
            if change.kind == ChangeRequest.Kind.CHANGE and change.hold_placed \
                    and order.status != OrderStatus.ON_HOLD:
                raise ChangeConflict(
                    _("The order is no longer on hold (it is %(status)s): the change was not "
                      "applied. Withdraw it and file a new one if still needed.")
                    % {"status": order.get_status_display()})
            _apply(change, actor=SYSTEM)
            if change.kind == ChangeRequest.Kind.CHANGE:
                _release_hold(change, _("Change request #%(id)s applied (approved by "
                                        "%(approvers)s)") % {"id": change.pk,
                                                             "approvers": approvers})
    # A pick list that cannot be reprinted fails the apply like a conflict does.
    except (OrderServiceError, StockError, ValidationError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else exc.message
        change.status = ChangeRequest.Status.APPROVED
        change.applied_at = None
        change.report = {}
        change.apply_error = message
        change.save(update_fields=["status", "applied_at", "report", "apply_error"])
        _event(change.order, "change_apply_failed",
               _("Change request #%(id)s was approved but could not be applied: %(error)s")
               % {"id": change.pk, "error": message}, user, {"change_id": change.pk})
        notify.notify_outcome(change)
        return
    _event(change.order, "change_applied",
           _("Change request #%(id)s approved by %(approvers)s and applied")
           % {"id": change.pk, "approvers": approvers}, user, {"change_id": change.pk})
    notify.notify_outcome(change)


def change_request_withdraw(
    *, change: ChangeRequest | int, actor, comment: str = ""
) -> ChangeRequest:
    """Withdraw an open request (its requester, or someone who may change requests)."""
    who = actor_info(actor)
    change_id = change.pk if isinstance(change, ChangeRequest) else change
    with transaction.atomic():
        change = (ChangeRequest.objects.select_for_update(of=("self",))
                  .select_related("order").filter(pk=change_id).first())
        if change is None:
            raise ChangeRequestError(_("There is no change request %(id)s.") % {"id": change_id})
        if who.user is not None and change.requested_by_id != who.user.pk \
                and not who.user.has_perm("changes.change_changerequest"):
            raise ChangeNotPermitted(_("Only the requester can withdraw this request."))
        if not change.is_open:
            raise ChangeConflict(
                _("This request is already %(status)s. Reload the page.")
                % {"status": change.get_status_display()})
        change.status = ChangeRequest.Status.WITHDRAWN
        change.decided_at = timezone.now()
        change.save(update_fields=["status", "decided_at"])
        text = _("Change request #%(id)s withdrawn by %(user)s") % {"id": change.pk,
                                                                   "user": who.label}
        _release_hold(change, text)
        comment = (comment or "").strip()
        _event(change.order, "change_withdrawn", text + (f": {comment}" if comment else ""),
               actor, {"change_id": change.pk})
        _announce(change, actor)
    return change


__all__ = [
    "FIELDS",
    "ChangeConflict",
    "ChangeNotPermitted",
    "ChangeRequestError",
    "OrderConflict",
    "TransitionNotPermitted",
    "TransitionRefused",
    "can_decide",
    "change_request_create",
    "change_request_decide",
    "change_request_withdraw",
    "compute_diff",
    "lines_diff",
    "order_snapshot",
]
