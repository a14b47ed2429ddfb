"""Sales channels: the stores we pull orders from, and everything their sync needs.

- ``Channel``: one store/account on one platform, its encrypted credentials,
  its sync cursor and its health.
- ``SkuMapping``: platform SKU or listing id → hub SKU code.
- ``RawPayload``: every order payload a platform sent, stored before anything
  parses it (so nothing is ever lost), with its processing status. A payload
  that cannot be normalized stays here as ``quarantined`` until replayed.
- ``ShipmentPush`` / ``ShipmentPushAttempt``: the write-back outbox.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.crypto import EncryptedCredentials

# Platforms with an API connector (the others are fed by files or by hand).
API_PLATFORMS = ("shopify", "woocommerce", "amazon", "taobao", "pinduoduo", "douyin", "youzan")


class Channel(EncryptedCredentials, models.Model):
    """A sales channel: one store or account on one platform."""

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        AMAZON = "amazon", "Amazon"
        TAOBAO = "taobao", _("Taobao / Tmall")
        JD = "jd", _("JD")
        PINDUODUO = "pinduoduo", _("Pinduoduo")
        DOUYIN = "douyin", _("Douyin shop")
        YOUZAN = "youzan", _("Youzan")
        CSV = "csv", _("CSV / Excel file")
        MANUAL = "manual", _("Manual entry")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    enabled = models.BooleanField(_("enabled"), default=True)

    # Non-secret connection settings: shop URL, API version, marketplace ids,
    # CSV column mapping... Secrets go in ``credentials`` only.
    config = models.JSONField(_("settings"), default=dict, blank=True)
    credentials_encrypted = models.TextField(_("credentials (encrypted)"), blank=True,
                                             editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner to notify"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="owned_channels",
    )

    poll_interval = models.PositiveIntegerField(_("poll interval (seconds)"), default=300)
    overlap_seconds = models.PositiveIntegerField(
        _("overlap window (seconds)"), default=600,
        help_text=_("Each poll re-reads this much before the cursor, so late updates are seen."),
    )
    backfill_days = models.PositiveIntegerField(
        _("first sync / import window (days)"), default=90,
    )
    cursor_at = models.DateTimeField(_("synced up to (platform time)"), null=True, blank=True)
    cursor_token = models.CharField(_("page token"), max_length=2000, blank=True)

    last_poll_at = models.DateTimeField(_("last poll"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    next_poll_at = models.DateTimeField(_("next poll"), null=True, blank=True)
    paused = models.BooleanField(_("paused"), default=False)
    paused_reason = models.CharField(_("pause reason"), max_length=255, blank=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    # Format-drift counting starts here: payloads quarantined before a person resumed
    # the channel were seen already and must not pause it again at once.
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        permissions = [
            ("poll_channel", _("Can poll a channel now")),
            ("pause_channel", _("Can pause and resume a channel")),
            ("replay_payload", _("Can replay quarantined payloads")),
        ]

    def __str__(self):
        return self.name

    def __repr__(self):
        # Credentials must never reach a log line, even through repr().
        return f"<Channel {self.code} ({self.platform})>"

    @property
    def is_api(self) -> bool:
        return self.platform in API_PLATFORMS

    @property
    def lag(self) -> timedelta | None:
        if not self.last_success_at:
            return None
        return timezone.now() - self.last_success_at


class SkuMapping(models.Model):
    """A platform SKU (or listing id) and the hub SKU it stands for."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="sku_mappings")
    platform_sku = models.CharField(
        _("platform SKU or listing id"), max_length=100,
        help_text=_("The seller SKU on the platform, or “listing:<id>” for a listing without one."),
    )
    hub_sku = models.CharField(_("hub SKU"), max_length=64)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["channel", "platform_sku"]
        verbose_name = _("SKU mapping")
        verbose_name_plural = _("SKU mappings")
        constraints = [
            models.UniqueConstraint(fields=["channel", "platform_sku"],
                                    name="skumapping_unique_channel_sku"),
        ]

    def __str__(self):
        return f"{self.platform_sku} → {self.hub_sku}"


class RawPayload(models.Model):
    """One order payload exactly as received, stored before it is parsed."""

    class Source(models.TextChoices):
        POLL = "poll", _("Poll")
        WEBHOOK = "webhook", _("Webhook")
        IMPORT = "import", _("File import")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        QUARANTINED = "quarantined", _("Quarantined")
        RESOLVED = "resolved", _("Dismissed")

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="raw_payloads")
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    content_hash = models.CharField(_("content hash"), max_length=64)
    body = models.TextField(_("body"))
    external_id = models.CharField(_("platform order id"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.PENDING)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    order = models.ForeignKey(
        "orderhub.Order", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="raw_payloads",
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("raw payload")
        verbose_name_plural = _("raw payloads")
        constraints = [
            models.UniqueConstraint(fields=["channel", "content_hash"],
                                    name="rawpayload_unique_channel_hash"),
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="rawpayload_status_idx"),
            models.Index(fields=["channel", "external_id"], name="rawpayload_ext_idx"),
            # The format-drift check reads a channel's newest payloads.
            models.Index(fields=["channel", "-id"], name="rawpayload_channel_recent_idx"),
        ]

    def __str__(self):
        return f"{self.channel_id}:{self.external_id or self.content_hash[:12]}"


class ShipmentPush(models.Model):
    """Outbox row: tell the platform an order shipped, with its tracking number.

    Written in the same transaction as the ``ship`` transition and delivered by
    ``channels.tasks.deliver_shipment_push`` with bounded retries.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed permanently")

    order = models.ForeignKey("orderhub.Order", on_delete=models.CASCADE,
                              related_name="shipment_pushes")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="shipment_pushes")
    # The hub's carrier (account code) when queued; the platform's own name once sent.
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    carrier_company = models.CharField(_("hub carrier company"), max_length=40, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.PENDING)
    # The last attempt may have reached the platform (timeout, cut-off reply): the next
    # one reads the order back before it sends again.
    unconfirmed = models.BooleanField(_("last reply unclear"), default=False)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("shipment push")
        verbose_name_plural = _("shipment pushes")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="shippush_due_idx")]

    def __str__(self):
        return f"{self.order_id} → {self.channel_id} ({self.status})"


class ShipmentPushAttempt(models.Model):
    push = models.ForeignKey(ShipmentPush, on_delete=models.CASCADE, related_name="attempt_rows")
    started_at = models.DateTimeField(_("time"), default=timezone.now)
    ok = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("shipment push attempt")
        verbose_name_plural = _("shipment push attempts")

    def __str__(self):
        return f"{self.push_id} @ {self.started_at:%Y-%m-%d %H:%M} ({'ok' if self.ok else 'error'})"


class GapAlert(models.Model):
    """The platform reports more orders for a day than the hub holds."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="gap_alerts")
    day = models.DateField(_("day"))
    platform_count = models.PositiveIntegerField(_("orders on the platform"))
    hub_count = models.PositiveIntegerField(_("orders in the hub"))
    created_at = models.DateTimeField(_("raised"), default=timezone.now)
    resolved = models.BooleanField(_("resolved"), default=False)

    class Meta:
        ordering = ["-day", "channel"]
        verbose_name = _("possible missing orders")
        verbose_name_plural = _("possible missing orders")
        constraints = [
            models.UniqueConstraint(fields=["channel", "day"], name="gapalert_unique_channel_day"),
        ]

    def __str__(self):
        return f"{self.channel_id} {self.day}: {self.platform_count} vs {self.hub_count}"

    @property
    def missing(self) -> int:
        return self.platform_count - self.hub_count


class LegacyOrder(models.Model):
    """An order from before the hub, older than the channel's legacy import window.

    Kept so staff can look up a buyer's history by phone; it is not a hub order
    (no state machine, no stock, no fulfilment). Unique per (channel, legacy id)
    so re-importing the same history changes nothing.
    """

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="legacy_orders")
    legacy_id = models.CharField(_("legacy id"), max_length=64)
    buyer_name = models.CharField(_("buyer"), max_length=120, blank=True)
    # E.164 (``orderhub.models.normalize_phone``); empty when the file's number is not valid.
    buyer_phone = models.CharField(_("buyer phone"), max_length=32, blank=True)
    buyer_phone_raw = models.CharField(_("buyer phone as written"), max_length=64, blank=True)
    placed_at = models.DateTimeField(_("placed"))
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    status_text = models.CharField(_("status (as exported)"), max_length=64, blank=True)
    lines = models.JSONField(_("lines"), default=list, blank=True)
    raw = models.JSONField(_("rows as imported"), default=dict, blank=True)
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)

    class Meta:
        ordering = ["-placed_at", "-id"]
        verbose_name = _("legacy order")
        verbose_name_plural = _("legacy orders")
        constraints = [
            models.UniqueConstraint(fields=["channel", "legacy_id"],
                                    name="legacyorder_unique_channel_id"),
        ]
        indexes = [
            models.Index(fields=["buyer_phone", "-placed_at"], name="legacyorder_phone_idx"),
        ]

    def __str__(self):
        return f"{self.channel_id}:{self.legacy_id}"


class DecryptAudit(models.Model):
    """One call to a platform's decrypt API for one field of one order's recipient.

    Platforms (Taobao, Pinduoduo, Douyin, Youzan) require sellers to account for
    every decryption of buyer data: who asked, for which order and field, when and
    why. The decrypted value itself is never stored here (or anywhere).
    """

    class Purpose(models.TextChoices):
        ORDER_PAGE = "order_page", _("Order page")
        WAYBILL = "waybill", _("Waybill / label")

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orderhub.Order", on_delete=models.CASCADE, related_name="+")
    field = models.CharField(_("field"), max_length=16)  # name / phone / street
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    ok = models.BooleanField(_("decrypted"), default=True)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("decryption audit")
        verbose_name_plural = _("decryption audit")

    def __str__(self):
        return f"{self.order_id} {self.field} {self.purpose} {self.at:%Y-%m-%d %H:%M}"
