"""Reading change requests for the pages."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from fulfillment.changes.models import ApprovalDecision, ChangeRequest
from fulfillment.changes.services import can_decide

# Pending requests are few (each holds an order); "waiting for me" checks them in
# Python against the step copied into each request. Beyond this many, the oldest
# are still listed under "Open".
MAX_PENDING_SCAN = 2000


def _base() -> QuerySet:
    return (ChangeRequest.objects.select_related("order", "requested_by")
            .prefetch_related(Prefetch("decisions",
                                       queryset=ApprovalDecision.objects.select_related("user"))))


def change_list(*, status: str = "", q: str = "", mine_for=None) -> list | QuerySet:
    """Requests for the list page, newest first; ``mine_for``: only those that user may decide."""
    qs = _base()
    if status == "open":
        qs = qs.filter(status__in=ChangeRequest.OPEN)
    elif status:
        qs = qs.filter(status=status)
    if q:
        q = q.strip()
        qs = qs.filter(Q(order__number__iexact=q) | Q(order__external_id__iexact=q))
    if mine_for is not None:
        qs = qs.filter(status=ChangeRequest.Status.PENDING)[:MAX_PENDING_SCAN]
        return [c for c in qs if can_decide(c, mine_for)[0]]
    return qs


def change_detail(change_id: int) -> ChangeRequest | None:
    return _base().select_related("order__channel", "chain").filter(pk=change_id).first()
