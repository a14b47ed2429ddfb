"""Reporting: KPI thresholds, export jobs, reconciliation runs and spike alerts.

The numbers themselves are never stored here except where a file or a run
must be re-opened later: every KPI is computed from the orders on request
(``reporting.selectors``), so it cannot drift from the order list it links to.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class Kpi(models.TextChoices):
    AWAITING_SHIPMENT = "awaiting_shipment", _("Orders awaiting shipment")
    PAID_TO_SHIPPED = "paid_to_shipped_hours", _("Average paid → shipped (hours)")
    TRACKING_RETURN_RATE = "tracking_return_rate", _("Tracking return rate (%)")
    COMPLAINT_RATIO = "complaint_ratio", _("Complaint ratio (%)")
    OUT_OF_STOCK = "out_of_stock", _("Out-of-stock orders")
    IN_REVIEW = "in_review", _("Orders in review")
    STALLED_PARCELS = "stalled_parcels", _("Stalled parcels")
    CHANNEL_SYNC_PROBLEMS = "channel_sync_problems", _("Channels with sync problems")
    URGENT_NOT_PICKED = "urgent_not_picked", _("Urgent orders not yet picked")
    SLA_MEDIAN = "sla_median_hours", _("SLA paid → first tracking, median (hours)")
    SLA_P90 = "sla_p90_hours", _("SLA paid → first tracking, p90 (hours)")
    SLA_WITHIN = "sla_within_pct", _("SLA paid → first tracking, share in time (%)")
    BUYER_SLA_MEDIAN = "buyer_sla_median_hours", _(
        "SLA placed → tracking sent to buyer, median (hours)")
    BUYER_SLA_P90 = "buyer_sla_p90_hours", _("SLA placed → tracking sent to buyer, p90 (hours)")
    BUYER_SLA_WITHIN = "buyer_sla_within_pct", _(
        "SLA placed → tracking sent to buyer, share in time (%)")


class KpiThreshold(models.Model):
    """When a KPI card turns amber or red. One row per KPI, seeded with the issue's defaults."""

    class Direction(models.TextChoices):
        HIGHER_IS_WORSE = "higher", _("Higher is worse (alert above the threshold)")
        LOWER_IS_WORSE = "lower", _("Lower is worse (alert below the threshold)")

    kpi = models.CharField(_("KPI"), max_length=40, choices=Kpi.choices, unique=True)
    direction = models.CharField(_("direction"), max_length=6, choices=Direction.choices,
                                 default=Direction.HIGHER_IS_WORSE)
    amber = models.DecimalField(_("amber threshold"), max_digits=12, decimal_places=2,
                                null=True, blank=True,
                                help_text=_("Empty: the card never turns amber."))
    red = models.DecimalField(_("red threshold"), max_digits=12, decimal_places=2,
                              null=True, blank=True,
                              help_text=_("Empty: the card never turns red."))
    # Only for the KPIs that measure "within a time": tracking return rate (first tracking
    # event within this many hours of shipping) and the SLAs' shares in time (of payment;
    # of placing, for the buyer SLA).
    window_hours = models.DecimalField(
        _("time window (hours)"), max_digits=6, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text=_("Tracking return rate and SLA share: the time allowed. Empty: 24 hours."))
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["kpi"]
        verbose_name = _("KPI threshold")
        verbose_name_plural = _("KPI thresholds")
        permissions = [
            ("view_dashboard", _("Can see the health dashboard")),
            ("export_orders", _("Can export the order list")),
            ("export_reports", _("Can export dashboard summaries")),
            ("reconcile", _("Can run and read settlement reconciliations")),
        ]

    def __str__(self):
        # The label is a lazy translation: str() it, or the admin's str(obj) fails.
        return str(Kpi(self.kpi).label) if self.kpi in Kpi.values else self.kpi

    def state(self, value) -> str:
        """``"na"`` (no value), ``"red"``, ``"amber"`` or ``"ok"``; thresholds are exclusive."""
        if value is None:
            return "na"
        value = Decimal(str(value))
        if self.direction == self.Direction.HIGHER_IS_WORSE:
            crossed = lambda limit: limit is not None and value > limit  # noqa: E731
        else:
            crossed = lambda limit: limit is not None and value < limit  # noqa: E731
        if crossed(self.red):
            return "red"
        if crossed(self.amber):
            return "amber"
        return "ok"


class ExportJob(models.Model):
    """An export too long for one request: built by a task, downloaded when ready."""

    class Kind(models.TextChoices):
        ORDERS = "orders", _("Order list")
        DAILY = "daily", _("Summary by day")
        PLATFORMS = "platforms", _("Summary by platform")
        SALES = "sales", _("Daily sales summary")
        CATEGORIES = "categories", _("Summary by SKU category")
        RECONCILIATION = "reconciliation", _("Reconciliation differences")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    params = models.JSONField(_("filters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.PENDING)
    rows_total = models.PositiveIntegerField(_("rows to write"), default=0)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to="exports/", blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # When a builder claimed the job: the sweep fails a job running far longer than any build.
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self):
        return f"{self.get_kind_display()} ({self.format}) #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))


class ReconciliationRun(models.Model):
    """One settlement file compared with the hub's orders; kept so it can be re-opened."""

    channel = models.ForeignKey("channels.Channel", verbose_name=_("channel"),
                                on_delete=models.PROTECT, related_name="+")
    template = models.CharField(_("column template"), max_length=30)
    period_from = models.DateField(_("period from"))
    period_to = models.DateField(_("period to"))
    file_name = models.CharField(_("file"), max_length=255)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    # {"CNY": {"platform": "1.00", "hub": "1.00", "difference": "0.00"}, ...}
    totals = models.JSONField(_("totals per currency"), default=dict)
    counts = models.JSONField(_("differences per kind"), default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")

    def __str__(self):
        return f"{self.channel} {self.period_from}–{self.period_to} #{self.pk}"


class ReconciliationDifference(models.Model):
    class Kind(models.TextChoices):
        MISSING_IN_HUB = "missing_in_hub", _("On the platform, not in the hub")
        MISSING_ON_PLATFORM = "missing_on_platform", _("In the hub, not on the platform")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs")
        STATUS_MISMATCH = "status_mismatch", _("Status differs")

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE,
                            related_name="differences")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    external_id = models.CharField(_("platform order id"), max_length=64)
    order = models.ForeignKey("orderhub.Order", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    row_number = models.PositiveIntegerField(_("file row"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    platform_amount = models.DecimalField(_("platform amount"), null=True, blank=True, **MONEY)
    hub_amount = models.DecimalField(_("hub amount"), null=True, blank=True, **MONEY)
    platform_status = models.CharField(_("platform status"), max_length=40, blank=True)
    hub_status = models.CharField(_("hub status"), max_length=20, blank=True)

    class Meta:
        ordering = ["run", "kind", "external_id", "id"]
        verbose_name = _("reconciliation difference")
        verbose_name_plural = _("reconciliation differences")

    def __str__(self):
        return f"{self.external_id}: {self.kind}"


class SpikeRule(models.Model):
    """Bestseller / regional spike: a SKU's paid orders in a province grow for N days running."""

    name = models.CharField(_("name"), max_length=80, default="default")
    enabled = models.BooleanField(_("enabled"), default=True)
    growth_percent = models.DecimalField(
        _("growth vs previous period (%)"), max_digits=6, decimal_places=2, default=Decimal("50"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    consecutive_days = models.PositiveSmallIntegerField(
        _("consecutive days"), default=3, validators=[MinValueValidator(1)],
    )
    min_payment_success_percent = models.DecimalField(
        _("payment success above (%)"), max_digits=5, decimal_places=2, default=Decimal("92"),
    )
    min_orders = models.PositiveIntegerField(
        _("minimum orders per day"), default=5,
        help_text=_("Ignore SKUs/regions below this many paid orders a day: noise, not a spike."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("spike rule")
        verbose_name_plural = _("spike rules")

    def __str__(self):
        return self.name


class SpikeAlert(models.Model):
    rule = models.ForeignKey(SpikeRule, on_delete=models.CASCADE, related_name="alerts")
    day = models.DateField(_("day"))
    sku_code = models.CharField(_("SKU"), max_length=64)
    province = models.CharField(_("province / state"), max_length=64)
    # [{"day": "2026-11-20", "orders": 12, "previous": 7, "growth": "71.43"}, ...]
    series = models.JSONField(_("series"), default=list)
    payment_success_percent = models.DecimalField(_("payment success (%)"), max_digits=5,
                                                  decimal_places=2)
    created_at = models.DateTimeField(_("raised"), default=timezone.now)
    acknowledged = models.BooleanField(_("acknowledged"), default=False)

    class Meta:
        ordering = ["-day", "-id"]
        verbose_name = _("spike alert")
        verbose_name_plural = _("spike alerts")
        constraints = [
            models.UniqueConstraint(fields=["rule", "day", "sku_code", "province"],
                                    name="spikealert_unique_per_day"),
        ]

    def __str__(self):
        return f"{self.day} {self.sku_code} {self.province}"


class DailyRollup(models.Model):
    """Per closed local day: the dashboard's grouped order counts, kept so a 30-day view
    reads ~30 × channels rows instead of every order.

    One row per (day, kind, channel, warehouse, currency, category). ``category``
    blank: all orders; otherwise only the orders in that SKU category (see
    ``reporting.selectors``), so a category filter reads the rollup too. ``kind`` says which
    timestamp put the orders on that day: placed (``n``, ``cancelled``), paid
    (``n``, ``kept`` = not cancelled, ``total`` of the kept) or shipped (``n``;
    ``ship_n``/``ship_microseconds``/``b0..b5`` for the paid → shipped statistics;
    ``samples``: shipped → first valid tracking info in seconds of the scanned ones, for
    the tracking return rate) or first tracking info (kind ``sla``, currency blank: ``n``
    orders whose first valid tracking info came that day, ``samples`` their paid → first
    tracking info in seconds, so the SLA's median and p90 stay exact) or first valid tracking
    info sent to the buyer (kind ``buyer``, currency blank: ``n`` orders whose
    ``BuyerTrackingInfo.at`` fell on that day, ``samples`` their placed → that moment in
    seconds).
    Built by ``reporting.rollup.rollup_day_build``; see ``RollupDay`` for validity.
    """

    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=8)
    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey("warehouse.Warehouse", null=True, on_delete=models.CASCADE,
                                  related_name="+")
    currency = models.CharField(_("currency"), max_length=3)
    category = models.CharField(_("SKU category"), max_length=80, blank=True, default="")
    n = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    kept = models.PositiveIntegerField(default=0)
    total = models.DecimalField(null=True, **MONEY)
    ship_n = models.PositiveIntegerField(default=0)
    ship_microseconds = models.BigIntegerField(default=0)
    b0 = models.PositiveIntegerField(default=0)
    b1 = models.PositiveIntegerField(default=0)
    b2 = models.PositiveIntegerField(default=0)
    b3 = models.PositiveIntegerField(default=0)
    b4 = models.PositiveIntegerField(default=0)
    b5 = models.PositiveIntegerField(default=0)
    # Seconds, sorted: a day of ~2,000 shipped orders is ~20 KB, read only for the SLA and
    # the tracking return rate (exact percentiles and any time window need the values).
    samples = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("daily rollup row")
        verbose_name_plural = _("daily rollup")
        ordering = ["day", "kind", "category", "channel", "warehouse", "currency"]
        # Every read is "these days, this category" (blank for all orders).
        indexes = [models.Index(fields=["category", "day", "kind"], name="rollup_cat_day_kind_idx")]

    def __str__(self):
        return (f"{self.day} {self.kind} {self.channel_id}/{self.warehouse_id} {self.currency}"
                f" {self.category}").rstrip()


class RollupDay(models.Model):
    """A day whose rollup rows exist. They are used only while valid: never marked
    changed since the build started (``dirty_at`` is empty or before ``built_at``)."""

    day = models.DateField(_("day"), primary_key=True)
    built_at = models.DateTimeField(_("built"))
    dirty_at = models.DateTimeField(_("changed"), null=True, blank=True)
    # The SKU categories that had rows built; a category added later is read live.
    categories = models.JSONField(_("SKU categories"), default=list, blank=True)

    class Meta:
        ordering = ["day"]
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")

    def __str__(self):
        return str(self.day)


class BuyerTrackingSent(models.Model):
    """When a tracking number was first SENT to an order's buyer: a buyer message (the
    shipped SMS or e-mail, the delay notice) carrying it reached the gateway (outbox row
    ``sent``), or the platform write-back carrying it succeeded (the buyer sees it in the
    platform's app). One row per (order, tracking number); the first send wins.
    Written by ``reporting.buyer_tracking`` receivers, read only to stamp
    ``BuyerTrackingInfo``."""

    class Via(models.TextChoices):
        MESSAGE = "message", _("Buyer message")
        PLATFORM = "platform", _("Platform write-back")

    order = models.ForeignKey("orderhub.Order", on_delete=models.CASCADE, related_name="+")
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    sent_at = models.DateTimeField(_("sent"))
    via = models.CharField(_("sent by"), max_length=10, choices=Via.choices)

    class Meta:
        verbose_name = _("tracking number sent to the buyer")
        verbose_name_plural = _("tracking numbers sent to buyers")
        constraints = [models.UniqueConstraint(fields=["order", "tracking_number"],
                                               name="buyertrackingsent_unique")]

    def __str__(self):
        return f"{self.order_id} {self.tracking_number} {self.via}"


class BuyerTrackingInfo(models.Model):
    """An order's first valid tracking info sent to the buyer: the first moment the buyer
    held a tracking number (``BuyerTrackingSent``) of a valid waybill that has a carrier
    event, i.e. the later of the send and the waybill's first event. Stored once (the
    first one wins, later sends or scans never move it) for the SLA "placed → first valid
    tracking info sent to the buyer" and its rollup (``reporting.selectors.sla``)."""

    order = models.OneToOneField("orderhub.Order", on_delete=models.CASCADE, primary_key=True,
                                 related_name="buyer_tracking")
    at = models.DateTimeField(_("first valid tracking info sent"))
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    via = models.CharField(_("sent by"), max_length=10, choices=BuyerTrackingSent.Via.choices)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("first tracking info sent to the buyer")
        verbose_name_plural = _("first tracking info sent to buyers")
        # The SLA of a few days (today, days not rolled up): the stamps in those days.
        indexes = [models.Index(fields=["at"], name="buyertracking_at_idx")]

    def __str__(self):
        return f"{self.order_id} {self.at:%Y-%m-%d %H:%M}"
