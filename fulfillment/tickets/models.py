"""Customer-service tickets and their audit trail.

A ``Ticket`` is opened by hand (ops, from the queue or the order page) or by a
receiver reacting to an event (a pick problem, a stalled parcel, a paused
channel…). Automatic tickets carry a ``dedupe_key`` derived from the event, so
the same event never opens two tickets. Every change is a ``TicketEvent``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from orderhub.stored_text import register_stored_texts, translate_stored

# Titles the system opens tickets with (fulfillment.notifications.receivers), stored in
# the site language and translated for each viewer by ``Ticket.display_title``.
register_stored_texts(
    gettext_noop("Intercept order %(number)s"),
    gettext_noop("Out of stock: order %(number)s"),
    gettext_noop("Picking problem on %(number)s: %(problem)s"),
    gettext_noop("Sync paused: %(name)s"),
    gettext_noop("Parcel stalled: %(number)s (%(tracking)s)"),
    # A paused channel's ticket description: the pause reason + the problems link.
    gettext_noop("%(reason)s — sync problems: %(url)s"),
)


class Ticket(models.Model):
    class Kind(models.TextChoices):
        PICKING_PROBLEM = "picking_problem", _("Picking problem")
        STALLED_PARCEL = "stalled_parcel", _("Stalled parcel")
        COMPLAINT = "complaint", _("Complaint")
        INTERCEPT = "intercept", _("Intercept")
        OUT_OF_STOCK = "out_of_stock", _("Out of stock")
        SYNC_PROBLEM = "sync_problem", _("Sync problem")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        WAITING = "waiting", _("Waiting")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING)

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.OPEN)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="assigned_tickets",
    )
    due_at = models.DateTimeField(_("due"))
    order = models.ForeignKey("orderhub.Order", verbose_name=_("order"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="tickets")
    channel = models.ForeignKey("channels.Channel", verbose_name=_("channel"), null=True,
                                blank=True, on_delete=models.SET_NULL, related_name="tickets")
    # Automatic tickets: derived from the event, unique, so it never opens twice.
    dedupe_key = models.CharField(_("source key"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    created_by_label = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], condition=~Q(dedupe_key=""),
                                    name="ticket_unique_dedupe_key"),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="ticket_status_due_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["kind", "created_at"], name="ticket_kind_created_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.display_title}"

    @property
    def display_title(self) -> str:
        """The title in the viewer's language when the system wrote it (see stored_text)."""
        return translate_stored(self.title)

    @property
    def display_description(self) -> str:
        """The description in the viewer's language when the system wrote it."""
        return translate_stored(self.description)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()


class TicketEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        COMMENT = "comment", _("Comment")
        STATUS = "status", _("Status changed")
        ASSIGN = "assign", _("Assigned")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    text = models.TextField(_("text"), blank=True)
    from_status = models.CharField(_("from"), max_length=12, choices=Ticket.Status.choices,
                                   blank=True)
    to_status = models.CharField(_("to"), max_length=12, choices=Ticket.Status.choices,
                                 blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assignee"), null=True,
                                 blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    actor = models.CharField(_("by"), max_length=150)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticketevent_ticket_idx")]

    def __str__(self):
        return f"{self.ticket_id}: {self.kind} by {self.actor}"
