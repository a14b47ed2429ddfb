"""Carriers, waybills and tracking.

- ``CarrierAccount`` / ``CarrierService``: who we book parcels with, with the
  account's credentials encrypted at rest (the channels' Fernet helpers).
- ``Waybill`` / ``WaybillAttempt``: the booking outbox. A waybill row is written
  in the same transaction as the order's ``finish`` transition and booked by
  ``fulfillment.shipping.tasks.book_waybill`` with bounded retries, one attempt
  row per try. After booking it carries the tracking number, label and the
  parcel's tracking state.
- ``TrackingEvent``: one scan of the parcel, unique per (waybill, time, text) so
  a replayed push or a repeated poll never duplicates it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.crypto import EncryptedCredentials
from orderhub.stored_text import register_stored_texts, translate_stored

# Texts booking.py / tracking.py / labels.py store filled in (``last_error``,
# transition reasons, order events), translated at display by ``translate_stored``.
register_stored_texts(
    "Not booked: the order is %(status)s.",
    "Waiting: the order is %(status)s.",
    "The carrier did not answer in time (%(detail)s).",
    "Booked, but the label could not be rendered: %(error)s",
    "Cancelling failed: %(error)s",
    "Waybill %(number)s booked with %(carrier)s.",
    "The waybill could not be booked: %(error)s",
    "Waybill %(number)s booked",
    "Tracking number %(number)s typed in",
    "Tracking number %(number)s typed in.",
    "Waybill %(number)s cancelled with the carrier.",
    "No after-sales request within %(days)s days",
    "Label rendered for %(number)s.",
    "The waybill %(number)s could not be cancelled with the carrier: %(error)s. Stop the "
    "parcel by phone.",
)


class CarrierAccount(EncryptedCredentials, models.Model):
    """One account with a carrier (or with an aggregator booking for several carriers)."""

    class Kind(models.TextChoices):
        SF = "sf", _("SF Express open platform")
        KUAIDI100 = "kuaidi100", _("Kuaidi100 (ZTO, YTO, STO, Yunda, JD...)")
        MANUAL = "manual", _("Manual (tracking number typed in)")

    code = models.SlugField(_("code"), max_length=40, unique=True,
                            help_text=_("Routing rules put this code on the order."))
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    is_default = models.BooleanField(
        _("default account"), default=False,
        help_text=_("Used when no routing rule chose a carrier for the order."))
    base_url = models.URLField(
        _("API base URL"), blank=True,
        help_text=_("Leave empty for the carrier's production API."))
    carrier_code = models.CharField(
        _("carrier code at the aggregator"), max_length=30, blank=True,
        help_text=_("Kuaidi100 company code, e.g. zhongtong, yuantong, shentong, yunda, jd."))
    default_service = models.CharField(_("default service code"), max_length=40, blank=True)
    monthly_account = models.CharField(_("monthly account no."), max_length=40, blank=True)
    sender_name = models.CharField(_("sender name"), max_length=60, blank=True)
    sender_company = models.CharField(_("sender company"), max_length=120, blank=True)
    sender_phone = models.CharField(_("sender phone"), max_length=32, blank=True)
    sender_province = models.CharField(_("sender province"), max_length=64, blank=True)
    sender_city = models.CharField(_("sender city"), max_length=64, blank=True)
    sender_district = models.CharField(_("sender district"), max_length=64, blank=True)
    sender_address = models.CharField(_("sender street address"), max_length=255, blank=True)
    credentials_encrypted = models.TextField(_("credentials (encrypted)"), blank=True,
                                             editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("carrier account")
        verbose_name_plural = _("carrier accounts")

    def __str__(self):
        return self.display_name

    def __repr__(self):
        # Credentials must never reach a log line, even through repr().
        return f"<CarrierAccount {self.code} ({self.kind})>"

    @property
    def display_name(self) -> str:
        """The name in the viewer's language when it is a seeded English one
        ("Other carrier (tracking number typed in)"); a seller's own name as typed."""
        return translate_stored(self.name)

    @property
    def sender_full_address(self) -> str:
        parts = [self.sender_province, self.sender_city, self.sender_district,
                 self.sender_address]
        return "".join(p for p in parts if p)


class CarrierService(models.Model):
    """A product of a carrier account (SF 标快, 特快; Kuaidi100 标准快递...)."""

    account = models.ForeignKey(CarrierAccount, verbose_name=_("account"),
                                on_delete=models.CASCADE, related_name="services")
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=120)
    volumetric_divisor = models.PositiveIntegerField(
        _("volumetric divisor"), null=True, blank=True,
        validators=[MinValueValidator(1000)],
        help_text=_("Volumetric weight (kg) = length × width × height (cm) ÷ this number, "
                    "e.g. 6000 or 8000. Empty: this service charges actual weight only."))

    class Meta:
        ordering = ["account", "code"]
        verbose_name = _("carrier service")
        verbose_name_plural = _("carrier services")
        constraints = [models.UniqueConstraint(fields=["account", "code"],
                                               name="carrierservice_unique_code")]

    def __str__(self):
        return f"{self.account.code}/{self.code} {self.name}"


class RateZone(models.Model):
    """One line of a service's rate table: a group of destination provinces, its price
    (first weight + each additional weight step) and the promised days.

    ``fulfillment.shipping.rates`` reads these for the routing rules' "choose carrier"
    action. A zone with no provinces is the service's "everywhere else". The admin's
    inline formset keeps a province in one zone per service (all zones are edited
    together there, so a province can move between zones in one save).
    """

    service = models.ForeignKey(CarrierService, verbose_name=_("service"),
                                on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(_("zone"), max_length=60,
                            help_text=_("E.g. local, East China, remote."))
    provinces = models.TextField(
        _("destination provinces"), blank=True,
        help_text=_("Comma-separated, e.g. 上海, 江苏, 浙江 (省/市/自治区 may be left off). "
                    "Empty: every province not in another zone of this service."))
    first_weight_kg = models.DecimalField(_("first weight (kg)"), max_digits=6,
                                          decimal_places=2, default=Decimal("1"),
                                          validators=[MinValueValidator(Decimal("0.01"))])
    first_price = models.DecimalField(_("first weight price"), max_digits=10, decimal_places=2,
                                      validators=[MinValueValidator(Decimal("0"))])
    additional_weight_kg = models.DecimalField(
        _("additional weight step (kg)"), max_digits=6, decimal_places=2, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Weight above the first weight is charged per started step."))
    additional_price = models.DecimalField(_("price per additional step"), max_digits=10,
                                           decimal_places=2, default=Decimal("0"),
                                           validators=[MinValueValidator(Decimal("0"))])
    promised_days = models.PositiveSmallIntegerField(
        _("promised days"), validators=[MinValueValidator(1)],
        help_text=_("Days from handover to delivery the carrier promises for this zone."))

    class Meta:
        ordering = ["service", "promised_days", "name"]
        verbose_name = _("rate zone")
        verbose_name_plural = _("rate zones")
        constraints = [models.UniqueConstraint(fields=["service", "name"],
                                               name="ratezone_unique_name")]

    def __str__(self):
        return f"{self.service.account.code}/{self.service.code} {self.name}"

    @property
    def province_list(self) -> list[str]:
        from fulfillment.shipping.rates import split_provinces

        return split_provinces(self.provinces)


class WaybillQuerySet(models.QuerySet):
    """The one definition of "valid" and "stalled" waybills (views, reporting, the sweeper)."""

    # A cancelled or skipped waybill says nothing about the order's parcel: its events
    # are not "valid tracking info".
    INVALID_STATUSES = ("cancelled", "cancel_pending", "skipped")

    def valid(self):
        """Waybills that carried (or carry) the order's parcel."""
        return self.exclude(status__in=self.INVALID_STATUSES)

    def stalled(self):
        """Booked parcels the sweeper flagged as stalled and not delivered since."""
        return self.filter(status="booked", stalled_at__isnull=False, delivered_at__isnull=True)

    def stalling(self, cutoff):
        """Booked, undelivered parcels not flagged yet with no scan since ``cutoff`` (or,
        without any scan, booked before it): what the sweeper flags as stalled."""
        return self.filter(status="booked", delivered_at__isnull=True, stalled_at__isnull=True
                           ).filter(Q(last_event_at__lt=cutoff)
                                    | Q(last_event_at__isnull=True, booked_at__lt=cutoff))


class Waybill(models.Model):
    """One booking of one order's parcel with a carrier, and its tracking state."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Booking")
        MANUAL = "manual", _("Waiting for a tracking number")
        BOOKED = "booked", _("Booked")
        FAILED = "failed", _("Failed permanently")
        CANCEL_PENDING = "cancel_pending", _("Cancelling")
        CANCELLED = "cancelled", _("Cancelled")
        CANCEL_FAILED = "cancel_failed", _("Cancel failed")
        SKIPPED = "skipped", _("Not needed")

    class Milestone(models.TextChoices):
        NONE = "", _("No tracking yet")
        COLLECTED = "collected", _("Collected")
        IN_TRANSIT = "in_transit", _("In transit")
        OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
        DELIVERED = "delivered", _("Delivered")
        EXCEPTION = "exception", _("Exception")

    order = models.ForeignKey("orderhub.Order", verbose_name=_("order"),
                              on_delete=models.CASCADE, related_name="waybills")
    account = models.ForeignKey(CarrierAccount, verbose_name=_("carrier account"), null=True,
                                blank=True, on_delete=models.PROTECT, related_name="waybills")
    service = models.CharField(_("service"), max_length=40, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    carrier_order_id = models.CharField(_("carrier order id"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.PENDING)
    milestone = models.CharField(_("milestone"), max_length=20, choices=Milestone.choices,
                                 blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    label = models.FileField(_("label"), upload_to="labels/%Y/%m/", blank=True)
    label_data = models.JSONField(_("label data from the carrier"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    booked_at = models.DateTimeField(_("booked"), null=True, blank=True)
    first_event_at = models.DateTimeField(_("first tracking info"), null=True, blank=True)
    last_event_at = models.DateTimeField(_("last tracking event"), null=True, blank=True)
    last_polled_at = models.DateTimeField(_("last polled"), null=True, blank=True)
    subscribed_at = models.DateTimeField(_("push subscribed"), null=True, blank=True)
    stalled_at = models.DateTimeField(_("stalled since"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    objects = WaybillQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("waybill")
        verbose_name_plural = _("waybills")
        permissions = [
            ("retry_waybill", _("Can retry booking a waybill")),
            ("download_label", _("Can download waybill labels")),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="waybill_due_idx"),
            models.Index(fields=["tracking_number"], name="waybill_tracking_idx"),
            models.Index(fields=["status", "last_event_at"], name="waybill_tracked_idx"),
            models.Index(fields=["status", "-created_at"], name="waybill_list_idx"),
            # The dashboard's first-tracking lookups per order (SLA, tracking return rate)
            # answered from the index alone: ~2x faster on a million orders.
            models.Index(fields=["order", "first_event_at"], include=["status"],
                         condition=Q(first_event_at__isnull=False),
                         name="waybill_order_first_idx"),
            # The dashboard's SLA for a few days (today, days not rolled up): the parcels
            # first scanned in those days, not every order shipped in a 60-day lookback.
            models.Index(fields=["first_event_at"], include=["order", "status"],
                         condition=Q(first_event_at__isnull=False),
                         name="waybill_first_event_idx"),
            # The dashboard's stalled-parcels card: the few open stalled parcels, not a
            # scan of every waybill (120 ms -> 7 ms on 790,000 waybills).
            models.Index(fields=["account"],
                         condition=Q(status="booked", stalled_at__isnull=False,
                                     delivered_at__isnull=True),
                         name="waybill_stalled_idx"),
        ]

    def __str__(self):
        return self.tracking_number or f"#{self.pk} ({self.get_status_display()})"

    @property
    def display_error(self) -> str:
        """``last_error`` in the viewer's language (booking and tracking store it in
        the site language; the carrier's own text inside it stays as the carrier sent it)."""
        return translate_stored(self.last_error)

    @property
    def is_open(self) -> bool:
        """The parcel is with the carrier and not yet delivered."""
        return self.status == self.Status.BOOKED and self.delivered_at is None


class WaybillAttempt(models.Model):
    """One try at booking (or cancelling) a waybill."""

    class Action(models.TextChoices):
        BOOK = "book", _("Book")
        CANCEL = "cancel", _("Cancel")

    waybill = models.ForeignKey(Waybill, on_delete=models.CASCADE, related_name="attempt_rows")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices,
                              default=Action.BOOK)
    started_at = models.DateTimeField(_("time"), default=timezone.now)
    ok = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("waybill attempt")
        verbose_name_plural = _("waybill attempts")

    def __str__(self):
        return f"{self.waybill_id} {self.action} ({'ok' if self.ok else 'error'})"


class TrackingEvent(models.Model):
    """One tracking event of a parcel, as the carrier reported it."""

    waybill = models.ForeignKey(Waybill, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(_("time"))
    place = models.CharField(_("place"), max_length=120, blank=True)
    milestone = models.CharField(_("milestone"), max_length=20,
                                 choices=Waybill.Milestone.choices, blank=True)
    description = models.TextField(_("description"))
    # A short digest of the description: the unique key, since TEXT columns can be long.
    digest = models.CharField(max_length=32, editable=False)
    raw = models.JSONField(_("as received"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        constraints = [
            models.UniqueConstraint(fields=["waybill", "occurred_at", "digest"],
                                    name="trackingevent_unique"),
        ]

    def __str__(self):
        return f"{self.waybill_id} {self.occurred_at:%Y-%m-%d %H:%M} {self.description[:40]}"
