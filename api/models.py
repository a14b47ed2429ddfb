"""Open API records: integration tokens, idempotent write results, WMS callbacks as received.

A token's secret is shown once, when it is made (Admin → API tokens); only its
SHA-256 is stored, with a short visible prefix to find the row. Every request acts
as the token's integration user: that user's role decides what the token may do,
the token's scope (read / write) narrows it further.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", _("Read")
        WRITE = "write", _("Read and write")

    class System(models.TextChoices):
        ERP = "erp", _("ERP / accounting")
        WMS = "wms", _("WMS")
        CRM = "crm", _("CRM")
        AUDIT = "audit", _("Audit")
        OTHER = "other", _("Other")

    name = models.CharField(_("integration"), max_length=120,
                            help_text=_("Which system uses this token, e.g. “Kingdee ERP”."))
    system = models.CharField(_("source system"), max_length=10, choices=System.choices,
                              default=System.OTHER)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("acts as"), on_delete=models.PROTECT,
        related_name="api_tokens",
        help_text=_("The integration's user: its role decides what the token may do, and "
                    "the order's log names it."),
    )
    scope = models.CharField(_("scope"), max_length=5, choices=Scope.choices,
                             default=Scope.READ)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    rate_limit = models.PositiveIntegerField(
        _("requests per minute"), default=0,
        help_text=_("0: the hub's default (API_RATE_LIMIT_PER_MINUTE)."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+", editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key`` (per token).

    Written in the same transaction as the write itself: a write that failed left
    no record, so sending it again does the work then.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("key"), max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="api_idempotency_unique"),
        ]

    def __str__(self):
        return f"{self.token_id}:{self.key}"


class WmsCallback(models.Model):
    """One outbound callback of an external WMS, kept as received, with what it did."""

    class Event(models.TextChoices):
        PICKED = "picked", _("Picked and packed")
        SHIPPED = "shipped", _("Left the building")

    order = models.ForeignKey("orderhub.Order", verbose_name=_("order"),
                              on_delete=models.CASCADE, related_name="wms_callbacks")
    token = models.ForeignKey(ApiToken, verbose_name=_("token"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="wms_callbacks")
    source_system = models.CharField(_("source system"), max_length=120)
    event = models.CharField(_("event"), max_length=10, choices=Event.choices)
    operator = models.CharField(_("operator"), max_length=120)
    occurred_at = models.DateTimeField(_("time at the WMS"))
    package_count = models.PositiveIntegerField(_("packages"))
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=10, decimal_places=3,
                                    null=True, blank=True)
    photo_url = models.URLField(_("photo"), max_length=1000, blank=True)
    raw = models.TextField(_("as received"))
    from_status = models.CharField(_("from"), max_length=20)
    to_status = models.CharField(_("to"), max_length=20)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("WMS callback")
        verbose_name_plural = _("WMS callbacks")
        constraints = [
            # The same WMS event for the same order twice is a replay, never new work.
            models.UniqueConstraint(fields=["order", "event", "occurred_at"],
                                    name="wms_callback_once"),
        ]

    def __str__(self):
        return f"{self.order_id} {self.event} @ {self.occurred_at:%Y-%m-%d %H:%M}"
