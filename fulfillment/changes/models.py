"""Change requests for orders and the approval chains that decide them.

- ``ApprovalChain`` + ``ApprovalStep``: edited in the admin. A step names the
  groups whose members may decide it (any one member decides for the step).
- ``ChangeRequest``: one requested change (or intercept) of one order, with the
  order's values when it was filed, what was proposed, the diff, and the chain's
  steps copied at filing time, so editing a chain never changes a request that
  is already under way.
- ``ApprovalDecision``: one approve/reject of one step, by whom, with a comment.

Before picking a request is applied at once (status ``applied``); from picking
on it waits for its chain. The services live in ``fulfillment.changes.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.models import Order


class ApprovalChain(models.Model):
    class AppliesTo(models.TextChoices):
        ANY = "any", _("Changes and intercepts")
        CHANGE = "change", _("Changes only")
        INTERCEPT = "intercept", _("Intercepts only")

    name = models.CharField(_("name"), max_length=120)
    applies_to = models.CharField(
        _("used for"), max_length=10, choices=AppliesTo.choices, default=AppliesTo.ANY
    )
    position = models.PositiveIntegerField(
        _("position"), default=100,
        help_text=_("When several active chains fit a request, the lowest position is used."),
    )
    active = models.BooleanField(_("active"), default=True)
    distinct_approvers = models.BooleanField(
        _("different person for each step"), default=True,
        help_text=_("A person may decide only one step of a request, and never a request "
                    "they filed themselves."),
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("approval chain")
        verbose_name_plural = _("approval chains")
        indexes = [models.Index(fields=["active", "position"], name="chain_active_pos_idx")]

    def __str__(self):
        return self.name


class ApprovalStep(models.Model):
    chain = models.ForeignKey(ApprovalChain, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(_("position"), default=1)
    name = models.CharField(_("name"), max_length=80)
    groups = models.ManyToManyField(
        Group, verbose_name=_("who decides"), related_name="+",
        help_text=_("Members of any of these groups may decide this step (they also need the "
                    "“Can approve change requests” permission)."),
    )

    class Meta:
        ordering = ["chain", "position", "id"]
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        constraints = [
            models.UniqueConstraint(fields=["chain", "position"], name="step_unique_position"),
        ]

    def __str__(self):
        return f"{self.position}. {self.name}"


class ChangeRequest(models.Model):
    class Kind(models.TextChoices):
        CHANGE = "change", _("Change")
        INTERCEPT = "intercept", _("Intercept")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        # Every step approved but applying failed (the order moved on): the order
        # is left as it was and the reason is shown; apply again or withdraw.
        APPROVED = "approved", _("Approved, not applied")
        REJECTED = "rejected", _("Rejected")
        APPLIED = "applied", _("Applied")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    OPEN = (Status.PENDING, Status.APPROVED)

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="change_requests"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.CHANGE)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.PENDING)
    reason = models.TextField(_("reason"))
    # {"fields": {name: value}, "lines": [...] | absent, "note": str | absent}
    proposed = models.JSONField(_("proposed"), default=dict, blank=True)
    # The order's values when the request was filed (the fields and lines above).
    old = models.JSONField(_("old values"), default=dict, blank=True)
    # [{"field", "old", "new"}] and {"lines": [{"sku_code", "change", ...}]}
    diff = models.JSONField(_("diff"), default=dict, blank=True)
    # What was done when applied: values before and after, pick lists voided/printed.
    report = models.JSONField(_("diff report"), default=dict, blank=True)
    status_seen = models.CharField(_("order status when filed"), max_length=20,
                                   choices=Order._meta.get_field("status").choices)
    needs_approval = models.BooleanField(_("needs approval"), default=False)
    hold_placed = models.BooleanField(
        _("put the order on hold"), default=False,
        help_text=_("Only a hold this request placed is released when it ends."),
    )
    chain = models.ForeignKey(ApprovalChain, verbose_name=_("approval chain"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="+")
    # The chain's steps when filed: [{"name", "group_ids", "groups"}]
    steps = models.JSONField(_("steps"), default=list, blank=True)
    current_step = models.PositiveSmallIntegerField(_("current step"), default=0)
    distinct_approvers = models.BooleanField(_("different person for each step"), default=True)
    apply_error = models.TextField(_("why it could not be applied"), blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("filed"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    applied_at = models.DateTimeField(_("applied"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        permissions = [
            ("approve_changerequest", _("Can approve change requests (for their step's group)")),
        ]
        constraints = [
            # While one request is open the order waits for it; a second one would
            # fight over the same hold.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status__in=["pending", "approved"]),
                name="changerequest_one_open_per_order",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="chg_status_created_idx"),
            models.Index(fields=["order", "-created_at"], name="chg_order_created_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} {self.order_id}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def step(self) -> dict | None:
        """The step waiting for a decision, or None."""
        if self.status != self.Status.PENDING or self.current_step >= len(self.steps):
            return None
        return self.steps[self.current_step]


class ApprovalDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approved")
        REJECT = "reject", _("Rejected")

    change = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="decisions")
    step_index = models.PositiveSmallIntegerField(_("step"))
    step_name = models.CharField(_("step name"), max_length=80)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"),
                             on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["change", "step_index", "id"]
        verbose_name = _("approval decision")
        verbose_name_plural = _("approval decisions")
        constraints = [
            models.UniqueConstraint(fields=["change", "step_index"],
                                    name="decision_one_per_step"),
        ]

    def __str__(self):
        return f"{self.change_id} #{self.step_index}: {self.decision}"
