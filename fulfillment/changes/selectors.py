"""Reading change requests for the pages."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.cache import cache
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from fulfillment.changes import notify
from fulfillment.changes.models import ApprovalDecision, ChangeRequest
from fulfillment.changes.services import can_decide

# Pending requests are few (each holds an order); "waiting for me" checks them in
# Python against the step copied into each request. Beyond this many, the oldest
# are still listed under "Open".
MAX_PENDING_SCAN = 2000
# The menu badge is on every page: each user's count is computed at most this
# often, and again as soon as any request moves (``notify.waiting_changed``).
WAITING_CACHE_SECONDS = 60
# A requester's own requests decided this recently show as a badge ("My requests").
DECIDED_NOTICE = dt.timedelta(hours=24)

logger = logging.getLogger(__name__)


def _base() -> QuerySet:
    return (ChangeRequest.objects.select_related("order", "requested_by")
            .prefetch_related(Prefetch("decisions",
                                       queryset=ApprovalDecision.objects.select_related("user"))))


def change_list(*, status: str = "", q: str = "", mine_for=None,
                filed_by=None) -> list | QuerySet:
    """Requests for the list page, newest first.

    ``mine_for``: only those that user may decide; ``filed_by``: only that user's own.
    """
    qs = _base()
    if filed_by is not None:
        qs = qs.filter(requested_by=filed_by)
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


def _cached_count(name: str, user, count) -> int | None:
    """``count()`` cached per user and badge generation (see ``WAITING_CACHE_SECONDS``).

    A page costs one cache read. None when the cache is down: the page shows no
    badge rather than counting on every view.
    """
    try:
        key = f"changes:{name}:{notify.waiting_generation()}:{user.pk}"
        value = cache.get(key)
        if value is None:
            value = count()
            cache.set(key, value, WAITING_CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - a badge must never fail a page
        logger.warning("could not count change requests (%s) for user %s", name, user.pk,
                       exc_info=True)
        return None
    return value


def waiting_for_me_count(user) -> int | None:
    """How many pending requests ``user`` may decide now, for the menu badge."""
    if not user.is_authenticated or not user.has_perm("changes.approve_changerequest"):
        return 0
    return _cached_count("waiting", user, lambda: len(change_list(mine_for=user)))


def decided_for_me_count(user) -> int | None:
    """How many of ``user``'s own requests were decided lately (``DECIDED_NOTICE``).

    The requester's in-app notice of an outcome; one count on the requester's
    index, cached like the waiting badge.
    """
    if not user.is_authenticated or not user.has_perm("changes.add_changerequest"):
        return 0
    since = timezone.now() - DECIDED_NOTICE

    def count():
        return (ChangeRequest.objects.filter(requested_by=user, needs_approval=True,
                                             decided_at__gte=since)
                .exclude(status=ChangeRequest.Status.WITHDRAWN).count())

    return _cached_count("decided", user, count)
