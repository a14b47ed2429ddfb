"""The order core: customers, orders, lines, the state machine and its log.

State changes happen only through the transition methods on ``Order``; they
change fields in memory and nothing else. The services in
``orderhub.services.orders`` call them, save inside a transaction, write the
log row and enqueue follow-up work on commit.
"""

import functools
import re
from decimal import Decimal

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import GET_STATE, ConcurrentTransitionMixin, FSMField, FSMFieldMixin, transition
from simple_history.models import HistoricalRecords

MONEY = {"max_digits": 14, "decimal_places": 2, "default": Decimal("0.00")}


# 11 digits from 13x to 19x, bare or after +86: mainland mobile numbers.
_CN_MOBILE = re.compile(r"(?:\+86)?(1[3-9]\d{9})")


@functools.lru_cache(maxsize=10_000)
def normalize_phone(raw: str, region: str = "CN") -> str:
    """Return the phone number in E.164 form, or raise ValidationError.

    Chinese mobiles are usually typed without a country code, so ``region``
    says how to read a number that has none.
    """
    raw = (raw or "").strip()
    if not raw:
        return ""
    mobile = _CN_MOBILE.fullmatch(raw)
    if mobile and (region == "CN" or raw.startswith("+")):
        # Most numbers an import sees: a bare or +86 Chinese mobile. Building the
        # number directly gives what parse() would, at a quarter of the cost.
        digits = mobile.group(1)
        if not phonenumbers.is_valid_number(
                phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))):
            raise ValidationError(
                _("“%(phone)s” is not a valid phone number."), params={"phone": raw}
            )
        return "+86" + digits
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("“%(phone)s” is not a phone number."), params={"phone": raw}
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("“%(phone)s” is not a valid phone number."), params={"phone": raw}
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_phone(value: str) -> None:
    normalize_phone(value)


class Customer(models.Model):
    class Tier(models.TextChoices):
        NORMAL = "normal", _("Normal")
        VIP = "vip", _("VIP")
        B2B = "b2b", _("B2B")

    name = models.CharField(_("name"), max_length=120)
    phone = models.CharField(
        _("phone"), max_length=32, blank=True, db_index=True, validators=[validate_phone]
    )
    email = models.EmailField(_("e-mail"), blank=True)
    tier = models.CharField(_("tier"), max_length=10, choices=Tier.choices, default=Tier.NORMAL)
    credit_limit = models.DecimalField(
        _("credit limit"), validators=[MinValueValidator(Decimal("0"))], **MONEY
    )
    open_balance = models.DecimalField(_("open balance"), **MONEY)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.phone:
            self.phone = normalize_phone(self.phone)


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=40, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self):
        return self.name


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    PAID = "paid", _("Paid")
    REVIEW = "review", _("In review")
    OUT_OF_STOCK = "out_of_stock", _("Out of stock")
    READY_TO_PICK = "ready_to_pick", _("Ready to pick")
    PICKING = "picking", _("Picking")
    PICKED = "picked", _("Picked")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    ON_HOLD = "on_hold", _("On hold")


S = OrderStatus
# States an order can be held from (and released back to).
HOLDABLE = [S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK, S.PICKING, S.PICKED]
# Before picking starts a cancel is a plain cancel; after, it is an intercept.
BEFORE_PICKING = [S.PENDING_PAYMENT, S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK]
PICKING_STARTED = [S.PICKING, S.PICKED]
# Address, lines and other details may be edited directly only in these states.
EDITABLE = [*BEFORE_PICKING, S.ON_HOLD]


class Order(ConcurrentTransitionMixin, models.Model):
    """One buyer order from one channel, driven by the state machine."""

    class Kind(models.TextChoices):
        B2C = "b2c", _("B2C")
        B2B = "b2b", _("B2B")
        AFTER_SALES = "after_sales", _("After-sales")
        ASN_DIRECT = "asn_direct", _("ASN direct")

    class Priority(models.IntegerChoices):
        # Higher value = more urgent, so "order by -priority" puts urgent work first.
        NORMAL = 0, _("Normal")
        H24 = 1, _("24 h")
        H4 = 2, _("4 h")
        ASN = 3, _("ASN")

    number = models.CharField(_("hub order number"), max_length=24, unique=True, editable=False)
    # No index of its own (db_index=False): order_channel_placed_idx leads with it (see Meta).
    channel = models.ForeignKey(
        "channels.Channel", verbose_name=_("channel"), on_delete=models.PROTECT,
        related_name="orders", db_index=False,
    )
    external_id = models.CharField(_("platform order id"), max_length=64, blank=True)
    legacy_id = models.CharField(_("legacy id"), max_length=64, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.B2C)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    status = FSMField(
        _("status"), max_length=20, choices=OrderStatus.choices,
        default=OrderStatus.PENDING_PAYMENT, protected=True,
    )
    held_from = models.CharField(
        _("held from"), max_length=20, choices=OrderStatus.choices, blank=True, editable=False
    )
    hold_reason = models.CharField(_("hold reason"), max_length=255, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=255, blank=True)

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="orders",
    )
    buyer_name = models.CharField(_("buyer"), max_length=120, blank=True)
    buyer_phone = models.CharField(
        _("buyer phone"), max_length=32, blank=True, validators=[validate_phone]
    )
    buyer_email = models.EmailField(_("buyer e-mail"), blank=True)
    buyer_message = models.TextField(_("buyer message"), blank=True)
    # Risk rules count orders per buyer IP; platforms that send it fill it in.
    buyer_ip = models.GenericIPAddressField(_("buyer IP"), null=True, blank=True)
    presale = models.BooleanField(
        _("presale"), default=False,
        help_text=_("Sold before the goods are in stock; ships on the presale date."),
    )

    ship_name = models.CharField(_("recipient"), max_length=120, blank=True)
    ship_phone = models.CharField(_("recipient phone"), max_length=32, blank=True)
    ship_country = models.CharField(_("country"), max_length=2, default="CN")
    ship_province = models.CharField(_("province / state"), max_length=64, blank=True)
    ship_city = models.CharField(_("city"), max_length=64, blank=True)
    ship_district = models.CharField(_("district"), max_length=64, blank=True)
    ship_street = models.CharField(_("street address"), max_length=255, blank=True)
    ship_postcode = models.CharField(_("postcode"), max_length=16, blank=True)

    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    subtotal = models.DecimalField(_("subtotal"), **MONEY)
    shipping_fee = models.DecimalField(_("shipping fee"), **MONEY)
    discount = models.DecimalField(_("discount"), **MONEY)
    total = models.DecimalField(_("total"), **MONEY)

    placed_at = models.DateTimeField(_("placed"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    # No index of its own (db_index=False): order_wh_placed_idx leads with it (see Meta).
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", verbose_name=_("warehouse"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="orders", db_index=False,
    )
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    # Which company carries the parcel, in the hub's words (SF, ZTO, YTO, STO, YUNDA,
    # JD, EMS...): write-back maps it to each platform's own carrier name or code.
    carrier_company = models.CharField(_("carrier company"), max_length=40, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    # The platform's own last-modified time of the payload the order was last
    # built from: an older payload never changes the order.
    platform_updated_at = models.DateTimeField(_("updated on the platform"), null=True,
                                               blank=True)
    # What write-back needs from the platform's payload (Amazon: its marketplace id).
    platform_data = models.JSONField(_("platform data"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="orders")

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at", "platform_updated_at"])

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at", "-id"]
        # Index audit (issue 17; evidence: bench/README.md "Order indexes"). Each index
        # names the query that needs it; an index no measured query used was dropped
        # (migration 0013_order_index_audit): the FK indexes on channel and warehouse
        # (each led by a composite below), external_id alone (led by the unique
        # index), and order_shipped_idx / order_backlog_idx (reporting's covering
        # indexes reporting_order_shipped_cover_idx / reporting_order_backlog_idx have
        # the same keys and conditions). Also on the table, made elsewhere: pk,
        # number (unique, + its LIKE index), customer FK (a customer's orders, credit),
        # paid_at sorts (0004), reporting's two covering indexes.
        constraints = [
            # Ingest's known-orders probe (channels.ingest.batch.known_orders_sql),
            # upsert by (channel, external id), reconciliation's per-channel ids, and
            # the search box / tracking page's exact platform id (external_id first,
            # so one index serves all four; the plain external_id index is gone).
            models.UniqueConstraint(
                fields=["external_id", "channel"],
                condition=~Q(external_id=""),
                name="order_unique_channel_external_id",
            ),
        ]
        indexes = [
            # The order list's default sort, and "newest first" everywhere.
            models.Index(fields=["-placed_at", "-id"], name="order_placed_idx"),
            # The list filtered by status (each queue page), newest first.
            models.Index(fields=["status", "-placed_at", "-id"], name="order_status_placed_idx"),
            # The list filtered by channel; a channel's orders in a period (gaps,
            # payment timeout sweep); Channel's on_delete=PROTECT check.
            models.Index(fields=["channel", "-placed_at"], name="order_channel_placed_idx"),
            # The list filtered by warehouse; Warehouse's on_delete=PROTECT check.
            models.Index(fields=["warehouse", "-placed_at"], name="order_wh_placed_idx"),
            # Search box by phone; risk's orders-per-phone count.
            models.Index(fields=["buyer_phone"], name="order_buyer_phone_idx"),
            # Risk's IP velocity check: orders from one IP in the last hours.
            models.Index(fields=["buyer_ip", "placed_at"], name="order_buyer_ip_placed_idx",
                         condition=Q(buyer_ip__isnull=False)),
            # Search box and public tracking page by tracking number.
            models.Index(fields=["tracking_number"], name="order_tracking_idx"),
            # Search box by legacy id.
            models.Index(fields=["legacy_id"], name="order_legacy_id_idx"),
            # The list's sort orders (placed is covered above).
            models.Index(F("total").desc(), F("id").desc(), name="order_total_idx"),
            models.Index(F("priority").desc(), F("placed_at").desc(), F("id").desc(),
                         name="order_priority_placed_idx"),
            # Sorting by paid time puts unpaid orders last (NULLS LAST); SQLite cannot
            # index that, so those two indexes are made for PostgreSQL in migration 0004.
        ]
        permissions = [
            ("pay_order", _("Can mark an order paid")),
            ("allocate_order", _("Can allocate an order (ready to pick, out of stock, restock)")),
            ("review_order", _("Can send an order to review and approve it")),
            ("pick_order", _("Can pick an order")),
            ("ship_order", _("Can ship, deliver and complete an order")),
            ("hold_order", _("Can put an order on hold")),
            ("release_order", _("Can release an order from hold")),
            ("cancel_order", _("Can cancel an order before picking")),
            ("intercept_order", _("Can intercept an order after picking started")),
            # Phone, e-mail and street in full (orderhub.privacy); others see them masked.
            ("view_buyer_contact", _("Can see buyers' full contact data")),
        ]

    def __str__(self):
        return self.number

    # --- state machine ------------------------------------------------------
    # Each transition only changes fields in memory. Call them through
    # orderhub.services.orders.order_transition, which saves, logs and notifies.

    @transition(field=status, source=S.PENDING_PAYMENT, target=S.PAID,
                permission="orderhub.pay_order")
    def pay(self, reason=""):
        """The platform (or finance, for offline payment) confirms the buyer paid."""
        self.paid_at = self.paid_at or timezone.now()

    @transition(field=status, source=S.PAID, target=S.READY_TO_PICK,
                permission="orderhub.allocate_order")
    def mark_ready(self, reason=""):
        """Automation passed the checks and reserved stock: the order joins a pick queue."""

    @transition(field=status, source=S.PAID, target=S.OUT_OF_STOCK,
                permission="orderhub.allocate_order")
    def mark_out_of_stock(self, reason=""):
        """No warehouse can reserve every line: wait for stock."""

    @transition(field=status, source=S.OUT_OF_STOCK, target=S.READY_TO_PICK,
                permission="orderhub.allocate_order")
    def restock(self, reason=""):
        """Allocation ran again and reserved every line."""

    @transition(field=status, source=S.PAID, target=S.REVIEW,
                permission="orderhub.review_order")
    def hold_review(self, reason=""):
        """Risk, credit or a rule wants a person to look at the order first."""

    @transition(field=status, source=S.REVIEW, target=S.PAID,
                permission="orderhub.review_order")
    def approve(self, reason=""):
        """A reviewer lets the order go on; automation runs again."""

    @transition(field=status, source=[S.READY_TO_PICK, S.OUT_OF_STOCK, S.REVIEW], target=S.PAID,
                permission="orderhub.allocate_order")
    def reprocess(self, reason=""):
        """An edit or a person asks automation to decide again."""

    @transition(field=status, source=S.READY_TO_PICK, target=S.PICKING,
                permission="orderhub.pick_order")
    def claim(self, reason=""):
        """A picker takes the order's pick task."""

    @transition(field=status, source=S.PICKING, target=S.PICKED,
                permission="orderhub.pick_order")
    def finish(self, reason=""):
        """Every line was scanned: the order is picked and ready for a waybill."""

    @transition(field=status, source=S.PICKED, target=S.SHIPPED,
                permission="orderhub.ship_order")
    def ship(self, reason=""):
        """The parcel left with the carrier."""
        self.shipped_at = self.shipped_at or timezone.now()

    @transition(field=status, source=S.SHIPPED, target=S.DELIVERED,
                permission="orderhub.ship_order")
    def deliver(self, reason=""):
        """The carrier reports the parcel delivered."""
        self.delivered_at = self.delivered_at or timezone.now()

    @transition(field=status, source=S.DELIVERED, target=S.COMPLETED,
                permission="orderhub.ship_order")
    def complete(self, reason=""):
        """The after-sales window passed: nothing more is expected."""
        self.completed_at = timezone.now()

    @transition(field=status, source=[S.PAID, S.REVIEW, S.OUT_OF_STOCK, S.READY_TO_PICK,
                                      S.ON_HOLD],
                target=S.SHIPPED, permission=lambda instance, user: False,
                conditions=[lambda self: self._effective_status() in BEFORE_PICKING])
    def ship_on_platform(self, reason=""):
        """The platform says the seller already shipped it: the hub must not pick it.

        System only (ingest): no person's role carries it. The caller sets
        carrier, tracking number and ``shipped_at`` from the platform's data;
        stock reservations are released, not consumed, and the order leaves any
        pick list.
        """
        self.shipped_at = self.shipped_at or timezone.now()
        self.held_from = ""

    def _effective_status(self):
        # A held order counts as being in the state it was held from.
        return self.held_from if self.status == S.ON_HOLD else self.status

    def _picking_not_started(self):
        return self._effective_status() in BEFORE_PICKING

    def _picking_started(self):
        return self._effective_status() in PICKING_STARTED

    @transition(field=status, source=[*BEFORE_PICKING, S.ON_HOLD], target=S.CANCELLED,
                permission="orderhub.cancel_order", conditions=[_picking_not_started])
    def cancel(self, reason=""):
        """Cancel an order nobody has started picking."""
        self.cancel_reason = reason
        self.cancelled_at = timezone.now()
        self.held_from = ""

    @transition(field=status, source=[*PICKING_STARTED, S.ON_HOLD], target=S.CANCELLED,
                permission="orderhub.intercept_order", conditions=[_picking_started])
    def intercept(self, reason=""):
        """Cancel an order whose picking already started: the parcel must be stopped."""
        self.cancel_reason = reason
        self.cancelled_at = timezone.now()
        self.held_from = ""

    @transition(field=status, source=HOLDABLE, target=S.ON_HOLD,
                permission="orderhub.hold_order")
    def hold(self, reason=""):
        """Stop the order where it is until someone releases it."""
        self.held_from = self.status
        self.hold_reason = reason

    @transition(field=status, source=S.ON_HOLD,
                target=GET_STATE(lambda self, reason="": self.held_from, states=HOLDABLE),
                permission="orderhub.release_order")
    def release(self, reason=""):
        """Let a held order go on from the state it was held in."""
        # GET_STATE reads held_from after this body runs, so it is cleared in the service.
        self.hold_reason = ""

    # --- helpers ------------------------------------------------------------------

    @property
    def state_fields(self):
        # django-fsm scans every field of the model for FSM fields on each instance it
        # builds (a list page, an import batch); the answer never changes.
        return _fsm_fields(type(self))

    @property
    def ship_address(self) -> str:
        parts = [self.ship_province, self.ship_city, self.ship_district, self.ship_street]
        return " ".join(p for p in parts if p)

    @property
    def is_urgent(self) -> bool:
        return self.priority >= self.Priority.H4


@functools.cache
def _fsm_fields(model) -> tuple:
    return tuple(f for f in model._meta.fields if isinstance(f, FSMFieldMixin))


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku_code = models.CharField(_("SKU"), max_length=64, db_index=True)
    name = models.CharField(_("name"), max_length=255)
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    is_gift = models.BooleanField(_("gift"), default=False)
    external_line_id = models.CharField(_("platform line id"), max_length=64, blank=True)
    # Units the platform itself already shipped: the hub picks only the rest.
    shipped_quantity = models.PositiveIntegerField(_("shipped on the platform"), default=0)
    # A gift line's main item (its ``external_line_id``), when the platform says.
    gift_for = models.CharField(_("gift with"), max_length=64, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "is_gift", "id"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")

    def __str__(self):
        return f"{self.sku_code} × {self.quantity}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class OrderTransitionLog(models.Model):
    """One row per state change: who moved the order from where to where, and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transition_logs")
    transition = models.CharField(_("transition"), max_length=30)
    from_status = models.CharField(_("from"), max_length=20, choices=OrderStatus.choices)
    to_status = models.CharField(_("to"), max_length=20, choices=OrderStatus.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor = models.CharField(_("actor"), max_length=150)
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("transition log entry")
        verbose_name_plural = _("transition log")

    def __str__(self):
        return f"{self.order_id}: {self.from_status} → {self.to_status}"


class OrderEvent(models.Model):
    """Something that happened to an order other than a state change."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        EDITED = "edited", _("Edited")
        NOTE = "note", _("Note")
        # Later apps add kinds (label printed, SMS sent, problem reported...).

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=30)
    message = models.TextField(_("message"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor = models.CharField(_("actor"), max_length=150)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")

    def __str__(self):
        return f"{self.order_id}: {self.kind}"


class OrderNumberSequence(models.Model):
    """The last hub order number handed out per day (``OH20261122000123``)."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("order number sequence")

    def __str__(self):
        return f"{self.day}: {self.last}"


# --- status counters (orderhub.counters) ----------------------------------------------
# Kept by database triggers, never written by Django code except orderhub.counters'
# compact and rebuild. Channel and warehouse are plain ids (0 = no warehouse), not
# foreign keys: a key must be NOT NULL to be unique, and counts outlive nothing.


class _CounterKey(models.Model):
    status = models.CharField(_("status"), max_length=20, choices=OrderStatus.choices)
    channel_id = models.BigIntegerField(_("channel id"))
    warehouse_id = models.BigIntegerField(_("warehouse id"), default=0)
    kind = models.CharField(_("kind"), max_length=12, choices=Order.Kind.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Order.Priority.choices)
    n = models.BigIntegerField(_("orders"), default=0)

    class Meta:
        abstract = True


class OrderStatusCounter(_CounterKey):
    """How many orders have one (status, channel, warehouse, kind, priority)."""

    class Meta:
        verbose_name = _("order status counter")
        verbose_name_plural = _("order status counters")
        constraints = [
            models.UniqueConstraint(
                fields=["status", "channel_id", "warehouse_id", "kind", "priority"],
                name="order_status_counter_key",
            ),
        ]

    def __str__(self):
        return f"{self.status}/{self.channel_id}/{self.warehouse_id}: {self.n}"


class OrderStatusCounterDelta(_CounterKey):
    """A change to a counter not yet folded into it (insert-only, so writers never wait)."""

    class Meta:
        verbose_name = _("order status counter change")
        verbose_name_plural = _("order status counter changes")

    def __str__(self):
        return f"{self.status}/{self.channel_id}/{self.warehouse_id}: {self.n:+d}"
