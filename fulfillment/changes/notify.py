"""Who is told what as a change request moves: approvers, the requester, the warehouse lead.

Every message is an outbox row (``fulfillment.notifications.services.message_enqueue``)
written in the transaction that moved the request, so a rolled-back decision
sends nothing and a committed one is delivered even if the broker is down. Each
row's dedupe key names the request and what happened to it (the step entered,
the outcome, the pick list voided), so a step entered once is announced once.

Texts are rendered per recipient in their language (robots and warehouse
contacts carry their own, people get the site language) and stored rendered:
the outbox sends exactly what it holds.

Each kind of message is a team alert of its own event (a request waiting for a
step, a request decided, a pick list reprinted), so the message list names it and
robots get it only through that event's routes, never through intercept routes.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import override

from fulfillment.changes.models import ChangeRequest
from fulfillment.notifications.models import Event, Gateway, Language, Message, WarehouseContact
from fulfillment.notifications.services import (
    ROBOT_KINDS,
    Target,
    contacts_for,
    message_enqueue,
    routes_for,
)

logger = logging.getLogger(__name__)

ACTOR = "system:changes"
# The team alert event each kind of message travels as.
EVENT_WAITING = Event.CHANGE_WAITING
EVENT_DECIDED = Event.CHANGE_DECIDED
EVENT_REPRINTED = Event.PICKLIST_REPRINTED
WAREHOUSE_MANAGER_ROLE = "warehouse_manager"


def change_url(change: ChangeRequest) -> str:
    """The request's page, absolute when ``SITE_URL`` is set (e-mails and robots need it)."""
    base = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    return base + reverse("changes:detail", kwargs={"change_id": change.pk})


def _site_language() -> str:
    return Language.ZH_HANS if settings.LANGUAGE_CODE.lower().startswith("zh") else Language.EN


def _email_gateway() -> Gateway | None:
    return (Gateway.objects.filter(kind=Gateway.Kind.EMAIL, enabled=True)
            .order_by("id").first())


def _robot_targets(event: str, warehouse_id) -> list[Target]:
    """The robots ``event`` is routed to (people are told by e-mail, not through routes)."""
    return [t for t in routes_for(event, warehouse_id) if t.gateway.kind in ROBOT_KINDS]


def _user_targets(users) -> list[Target]:
    """An e-mail target for each user with an address (none without an e-mail gateway)."""
    gateway = _email_gateway()
    if gateway is None:
        return []
    language = _site_language()
    return [Target(gateway, user.email, language, f"u{user.pk}")
            for user in users if (user.email or "").strip()]


def _send(change: ChangeRequest, event: str, targets: list[Target], key: str,
          render) -> list[Message]:
    """One outbox row per target; ``render(language)`` gives ``(subject, body)``."""
    messages = []
    seen: set[tuple] = set()
    for target in targets:
        # A lead listed twice (contact and role) hears it once; a robot group gets one
        # post (the first target's, so a lead's @mention is kept over a bare route).
        slot = ((target.gateway.pk,) if target.gateway.kind in ROBOT_KINDS
                else (target.gateway.pk, target.recipient))
        if slot in seen:
            continue
        seen.add(slot)
        with override(target.language):
            subject, body = render()
        message, _created = message_enqueue(
            kind=Message.Kind.TEAM, event=event, gateway=target.gateway,
            recipient=target.recipient, subject=subject, body=body, language=target.language,
            order=change.order, dedupe_key=f"{key}:{target.gateway.pk}:{target.key}",
            actor=ACTOR,
        )
        messages.append(message)
    return messages


def _guarded(func):
    """Write the messages in a savepoint: a failing notification never undoes a decision."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                return func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the request moved on; a lost alert must not stop it
            logger.exception("change request notification %s failed", func.__name__)
            return []
    return wrapper


# --- the "waiting for me" badge ------------------------------------------------------------

# Each user's badge count is cached per generation; any request that moves starts
# a new one (after commit), so a badge is never behind a decision for long.
WAITING_GENERATION_KEY = "changes:waiting:generation"


def waiting_changed() -> None:
    """Make every cached "waiting for me" count stale (call after commit)."""
    try:
        cache.incr(WAITING_GENERATION_KEY)
    except ValueError:
        cache.set(WAITING_GENERATION_KEY, 1, None)
    except Exception:  # noqa: BLE001 - a cache outage only lets badges lag their short TTL
        logger.warning("could not bump the change request badge generation", exc_info=True)


def waiting_generation() -> int:
    return cache.get_or_set(WAITING_GENERATION_KEY, 1, None)


# --- the people ------------------------------------------------------------------------------

def step_approvers(change: ChangeRequest) -> list:
    """Active users who may decide the current step (its groups, the permission, not excluded)."""
    step = change.step
    if step is None:
        return []
    users = (get_user_model().objects.filter(is_active=True, groups__in=step["group_ids"])
             .distinct().order_by("pk"))
    if change.distinct_approvers:
        deciders = set(change.decisions.values_list("user_id", flat=True))
        users = users.exclude(pk__in={change.requested_by_id, *deciders})
    return [u for u in users if u.has_perm("changes.approve_changerequest")]


def warehouse_leads(warehouse_id) -> list[Target]:
    """The warehouse's lead contacts, and every warehouse manager with an e-mail address."""
    targets = contacts_for(warehouse_id, WarehouseContact.Role.LEAD)
    managers = (get_user_model().objects.filter(is_active=True,
                                                groups__name=WAREHOUSE_MANAGER_ROLE)
                .exclude(email="").order_by("pk"))
    return targets + _user_targets(managers)


# --- the messages ----------------------------------------------------------------------------

def _facts(change: ChangeRequest) -> dict:
    user = change.requested_by
    return {"id": change.pk, "order": change.order.number,
            "requester": user.get_full_name() or user.get_username(),
            "reason": change.reason, "url": change_url(change)}


@_guarded
def notify_step_entered(change: ChangeRequest) -> list[Message]:
    """The request waits for its current step: tell the step's approvers and the robots.

    Call in the transaction that moved the request into the step.
    """
    step = change.step
    if step is None:
        return []
    facts = {**_facts(change), "step_index": change.current_step + 1}

    def render():
        kind = str(ChangeRequest.Kind(change.kind).label)
        values = {**facts, "kind": kind, "step": _(step["name"]),
                  "groups": ", ".join(step["groups"]) or "—"}
        subject = _("Change request #%(id)s for order %(order)s waits for “%(step)s”") % values
        body = _("%(kind)s request #%(id)s for order %(order)s, filed by %(requester)s, waits "
                 "for step %(step_index)s “%(step)s” (%(groups)s). Reason: %(reason)s. "
                 "Decide it here: %(url)s") % values
        return subject, body

    targets = (_robot_targets(EVENT_WAITING, change.order.warehouse_id)
               + _user_targets(step_approvers(change)))
    return _send(change, EVENT_WAITING, targets,
                 f"change:{change.pk}:step:{change.current_step}", render)


@_guarded
def notify_outcome(change: ChangeRequest, *, by: str = "", step: str = "",
                   comment: str = "") -> list[Message]:
    """The chain decided: tell the requester (e-mail) and the robots how it ended.

    Call in the transaction that decided the request, after its status is final
    (``applied``, ``rejected``, or ``approved`` with ``apply_error``).
    """
    facts = {**_facts(change), "user": by, "comment": comment, "error": change.apply_error}
    status = change.status

    def render():
        values = {**facts, "step": _(step) if step else ""}
        if status == ChangeRequest.Status.REJECTED:
            subject = _("Change request #%(id)s for order %(order)s was rejected") % values
            body = _("Change request #%(id)s for order %(order)s, filed by %(requester)s, was "
                     "rejected at “%(step)s” by %(user)s: %(comment)s. %(url)s") % values
        elif status == ChangeRequest.Status.APPLIED:
            subject = _("Change request #%(id)s for order %(order)s was approved") % values
            body = _("Change request #%(id)s for order %(order)s, filed by %(requester)s, was "
                     "approved and applied. %(url)s") % values
        else:
            subject = _("Change request #%(id)s for order %(order)s could not be applied") \
                % values
            body = _("Change request #%(id)s for order %(order)s, filed by %(requester)s, was "
                     "approved but could not be applied: %(error)s %(url)s") % values
        return subject, body

    targets = (_robot_targets(EVENT_DECIDED, change.order.warehouse_id)
               + _user_targets([change.requested_by]))
    return _send(change, EVENT_DECIDED, targets, f"change:{change.pk}:outcome:{status}", render)


@_guarded
def notify_pick_lists_reprinted(change: ChangeRequest, pick_lists: list[dict]) -> list[Message]:
    """A change voided pick lists and printed copies: the warehouse must swap the paper.

    ``pick_lists``: ``[{"voided": number, "printed": number}]`` as in the request's report.
    Call in the transaction that applied the change.
    """
    if not pick_lists:
        return []
    facts = {**_facts(change),
             "pick_lists": [(p["voided"], p.get("printed") or "") for p in pick_lists]}

    def render():
        parts = []
        for voided, printed in facts["pick_lists"]:
            if printed:
                parts.append(_("Pick list %(voided)s is void: use its reprint %(printed)s.")
                             % {"voided": voided, "printed": printed})
            else:
                parts.append(_("Pick list %(voided)s is void.") % {"voided": voided})
        subject = _("Order %(order)s changed: reprinted pick list") % facts
        body = _("Order %(order)s was changed by change request #%(id)s (%(requester)s). "
                 "%(pick_lists)s %(url)s") % {**facts, "pick_lists": " ".join(parts)}
        return subject, body

    voided = "-".join(str(p["voided"]) for p in pick_lists)
    # The leads always hear it; a robot only when an admin routes the event to one.
    targets = (warehouse_leads(change.order.warehouse_id)
               + _robot_targets(EVENT_REPRINTED, change.order.warehouse_id))
    return _send(change, EVENT_REPRINTED, targets,
                 f"change:{change.pk}:reprint:{voided}", render)
