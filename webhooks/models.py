"""Subscriptions (who wants which events where), and the delivery outbox with its attempts.

A ``Delivery`` is written in the transaction that records the event (outbox) and
holds the exact body that is signed and sent, so a retry or a re-send sends the
same bytes (with a fresh timestamp and signature). One ``DeliveryAttempt`` row
per try, successful or not.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.crypto import EncryptedSecret


class EventType(models.TextChoices):
    ORDER_CREATED = "order.created", _("Order created")
    ORDER_PAID = "order.paid", _("Order paid")
    ORDER_STATUS_CHANGED = "order.status_changed", _("Order status changed")
    ORDER_SHIPPED = "order.shipped", _("Order shipped")
    ORDER_DELIVERED = "order.delivered", _("Order delivered")
    ORDER_CANCELLED = "order.cancelled", _("Order cancelled")
    STOCK_LOW = "stock.low", _("Stock low")


# The status an order enters that raises each order event (besides "status changed",
# raised by every move).
STATUS_EVENTS = {
    "paid": EventType.ORDER_PAID,
    "shipped": EventType.ORDER_SHIPPED,
    "delivered": EventType.ORDER_DELIVERED,
    "cancelled": EventType.ORDER_CANCELLED,
}


class Subscription(EncryptedSecret, models.Model):
    """A receiver's URL, the events it wants and the secret its deliveries are signed with."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(_("events"), default=list, blank=True,
                              help_text=_("The events sent to this URL."))
    # Fernet-encrypted with CHANNEL_CREDENTIALS_KEY (orderhub/crypto.py); never shown back.
    secret_encrypted = models.TextField(_("secret (encrypted)"), blank=True, editable=False)
    include_buyer_data = models.BooleanField(
        _("include buyer contact data"), default=False,
        help_text=_("Send the buyer's name, phone, e-mail and street in full; "
                    "otherwise they are masked."))
    active = models.BooleanField(_("active"), default=True)
    paused = models.BooleanField(_("paused"), default=False)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    paused_reason = models.CharField(_("pause reason"), max_length=255, blank=True)
    consecutive_failures = models.PositiveIntegerField(
        _("failed deliveries in a row"), default=0)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True,
                              blank=True, on_delete=models.SET_NULL,
                              related_name="webhook_subscriptions",
                              help_text=_("Told by e-mail when the subscription is paused."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"<Subscription {self.pk} {self.name!r}>"

    @property
    def sending(self) -> bool:
        return self.active and not self.paused


class Delivery(models.Model):
    """Outbox row: one event for one subscription, with the body to sign and send."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        RETRYING = "retrying", _("Retrying")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    PENDING = (Status.QUEUED, Status.RETRYING)

    class Source(models.TextChoices):
        ORDER = "order", _("Order")
        TRANSITION = "transition", _("Transition log entry")

    uuid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(Subscription, verbose_name=_("subscription"),
                                     on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(_("event"), max_length=30, choices=EventType.choices)
    order = models.ForeignKey("orderhub.Order", verbose_name=_("order"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="webhook_deliveries")
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_status_code = models.PositiveIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    # When a send task was last queued for it: the sweep leaves rows in flight alone.
    enqueued_at = models.DateTimeField(_("queued"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # What recorded the event durably: an order (created) or a transition log row. The
    # live receiver and the missed-event sweep use the same key, so an event gets one
    # delivery per subscription whichever path writes it first.
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, blank=True)
    source_id = models.BigIntegerField(_("source id"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event", "source", "source_id"],
                condition=models.Q(source_id__isnull=False),
                name="webhook_delivery_one_per_source"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub_idx"),
            # The missed-event sweep's "which of these rows have deliveries already".
            models.Index(fields=["source", "source_id"], name="webhook_delivery_source_idx"),
        ]
        permissions = [("resend_delivery", _("Can re-send a webhook delivery"))]

    def __str__(self):
        return f"{self.event} → {self.subscription_id} #{self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try of a delivery: what the receiver answered, or why there was no answer."""

    delivery = models.ForeignKey(Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE,
                                 related_name="attempt_rows")
    started_at = models.DateTimeField(_("time"), default=timezone.now)
    ok = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    response_body = models.TextField(_("response (start)"), blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    actor = models.CharField(_("triggered by"), max_length=150, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("webhook delivery attempt")
        verbose_name_plural = _("webhook delivery attempts")

    def __str__(self):
        result = "ok" if self.ok else "error"
        return f"{self.delivery_id} @ {self.started_at:%Y-%m-%d %H:%M} ({result})"


class WebhookCursor(models.Model):
    """How far the missed-event sweep has read a durable record (one row per source).

    ``last_id`` is the highest order / transition log id whose events have been
    turned into deliveries (or found to have them). Not in the admin.
    """

    source = models.CharField(_("source"), max_length=10, choices=Delivery.Source.choices,
                              unique=True)
    last_id = models.BigIntegerField(_("last id read"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("webhook event cursor")
        verbose_name_plural = _("webhook event cursors")

    def __str__(self):
        return f"{self.source} > {self.last_id}"
