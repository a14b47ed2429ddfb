"""Ticket services: open (idempotent by source key), assign, comment, change status.

Each takes an explicit ``actor`` (a user, or ``"system:<name>"``). Users are
checked against permissions here, so a view, an admin action or a task get the
same rules: ``tickets.add_ticket`` to open, ``tickets.change_ticket`` for the rest.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.tickets.models import Ticket, TicketEvent

Actor = AbstractBaseUser | str

# Default time to resolve, per kind (hours). Override with settings.TICKET_SLA_HOURS.
SLA_HOURS = {
    Ticket.Kind.PICKING_PROBLEM: 4,
    Ticket.Kind.STALLED_PARCEL: 24,
    Ticket.Kind.COMPLAINT: 24,
    Ticket.Kind.INTERCEPT: 2,
    Ticket.Kind.OUT_OF_STOCK: 24,
    Ticket.Kind.SYNC_PROBLEM: 4,
    Ticket.Kind.OTHER: 48,
}


class TicketError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TicketNotPermitted(TicketError):
    status = 403


class TicketConflict(TicketError):
    status = 409


def sla_hours(kind: str) -> int:
    overrides = getattr(settings, "TICKET_SLA_HOURS", {}) or {}
    return int(overrides.get(kind, SLA_HOURS.get(kind, 48)))


def _who(actor: Actor) -> tuple[AbstractBaseUser | None, str]:
    if isinstance(actor, str):
        if not actor.startswith("system:"):
            raise ValueError(f"A system actor looks like 'system:<name>', not {actor!r}")
        return None, actor
    if not getattr(actor, "is_authenticated", False):
        raise ValueError("An anonymous user cannot act on tickets")
    return actor, actor.get_username()


def _check(user, perm: str) -> None:
    if user is not None and not user.has_perm(perm):
        raise TicketNotPermitted(_("You are not allowed to do that."))


def ticket_open(
    *,
    kind: str,
    title: str,
    actor: Actor,
    description: str = "",
    order=None,
    channel=None,
    assignee=None,
    due_at: dt.datetime | None = None,
    dedupe_key: str = "",
) -> tuple[Ticket, bool]:
    """Open a ticket; returns ``(ticket, created)``.

    With a ``dedupe_key`` the call is idempotent: a second call returns the
    ticket the first one opened. Safe inside the caller's transaction.
    """
    user, label = _who(actor)
    _check(user, "tickets.add_ticket")
    if kind not in Ticket.Kind.values:
        raise TicketError(_("Choose a kind of ticket."))
    title = " ".join((title or "").split())[:200]
    if not title:
        raise TicketError(_("Please give the ticket a title."))
    dedupe_key = (dedupe_key or "")[:200]
    if dedupe_key:
        existing = Ticket.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing, False
    now = timezone.now()
    try:
        with transaction.atomic():
            ticket = Ticket.objects.create(
                kind=kind, title=title, description=(description or "").strip(),
                order=order, channel=channel or (order.channel if order is not None else None),
                assignee=assignee, due_at=due_at or now + dt.timedelta(hours=sla_hours(kind)),
                dedupe_key=dedupe_key, created_by=user, created_by_label=label, created_at=now,
            )
            TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.CREATED,
                                       to_status=ticket.status, assignee=assignee,
                                       actor_user=user, actor=label, created_at=now)
    except IntegrityError:
        if not dedupe_key:
            raise
        return Ticket.objects.get(dedupe_key=dedupe_key), False
    return ticket, True


def _locked(ticket: Ticket | int) -> Ticket:
    pk = ticket.pk if isinstance(ticket, Ticket) else ticket
    try:
        return Ticket.objects.select_for_update().get(pk=pk)
    except (Ticket.DoesNotExist, ValueError, TypeError) as exc:
        raise TicketError(_("There is no ticket %(id)s.") % {"id": pk}) from exc


def ticket_assign(*, ticket: Ticket | int, assignee, actor: Actor) -> Ticket:
    """Give the ticket to ``assignee`` (a user or None to unassign)."""
    user, label = _who(actor)
    _check(user, "tickets.change_ticket")
    if assignee is not None and not assignee.is_active:
        raise TicketError(_("That user is not active."))
    with transaction.atomic():
        ticket = _locked(ticket)
        if ticket.assignee_id == (assignee.pk if assignee else None):
            return ticket
        ticket.assignee = assignee
        ticket.save(update_fields=["assignee", "updated_at"])
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.ASSIGN,
                                   assignee=assignee, actor_user=user, actor=label)
    return ticket


def ticket_comment(*, ticket: Ticket | int, text: str, actor: Actor) -> TicketEvent:
    user, label = _who(actor)
    _check(user, "tickets.change_ticket")
    text = (text or "").strip()
    if not text:
        raise TicketError(_("The comment is empty."))
    with transaction.atomic():
        ticket = _locked(ticket)
        event = TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.COMMENT,
                                           text=text[:5000], actor_user=user, actor=label)
        ticket.save(update_fields=["updated_at"])
    return event


def ticket_set_status(*, ticket: Ticket | int, status: str, actor: Actor, comment: str = "",
                      expected_status: str | None = None) -> Ticket:
    """Move the ticket to ``status``; ``expected_status`` guards against a stale page."""
    user, label = _who(actor)
    _check(user, "tickets.change_ticket")
    if status not in Ticket.Status.values:
        raise TicketError(_("Unknown status."))
    with transaction.atomic():
        ticket = _locked(ticket)
        if expected_status and ticket.status != expected_status:
            raise TicketConflict(_(
                "Someone else changed this ticket meanwhile (it is now %(status)s). "
                "Reload and try again.") % {"status": ticket.get_status_display()})
        if ticket.status == status:
            return ticket
        before = ticket.status
        ticket.status = status
        if status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
            ticket.resolved_at = ticket.resolved_at or timezone.now()
        else:
            ticket.resolved_at = None
        ticket.save(update_fields=["status", "resolved_at", "updated_at"])
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.STATUS,
                                   from_status=before, to_status=status,
                                   text=(comment or "").strip()[:5000], actor_user=user,
                                   actor=label)
    return ticket


def assignable_users():
    """Staff who may work tickets (for the assignee picker)."""
    User = get_user_model()

    return (User.objects.filter(is_active=True)
            .filter(Q(is_superuser=True)
                    | Q(groups__permissions__codename="change_ticket",
                        groups__permissions__content_type__app_label="tickets")
                    | Q(user_permissions__codename="change_ticket",
                        user_permissions__content_type__app_label="tickets"))
            .distinct().order_by("username"))
