"""Fulfillment automation: routing rules, risk rules, the blacklist and decisions.

What the automation pipeline (``fulfillment.services.automation``) reads:

- ``Rule`` + ``Condition``: routing rules edited in the admin. See
  ``fulfillment.services.rules`` for the exact semantics (order, stop, which
  action wins).
- ``RiskRule``: one row per risk check, each on/off with its parameters.
- ``Blacklist``: phones and addresses that always go to review.

What it writes:

- ``OrderDecision``: per order, what automation decided last time and why
  (the review queue shows its ``review_reasons``; shipping reads
  ``carrier_service``).
- ``ShadowResult``: what a shadow rule would have done (it never acts).
- ``ReviewAction``: every approve/reject in the review queue, by whom.
- ``CreditEntry``: the credit ledger, each change of a B2B customer's open
  balance (``fulfillment.services.credit`` is its only writer).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.models import Order, normalize_phone


class Rule(models.Model):
    class Mode(models.TextChoices):
        ACTIVE = "active", _("Active: acts on orders")
        SHADOW = "shadow", _("Shadow: only records what it would do")
        CANARY = "canary", _("Canary: acts on a share of orders, shadow on the rest")

    class Match(models.TextChoices):
        ALL = "all", _("all conditions hold")
        ANY = "any", _("any condition holds")

    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(
        _("position"), default=100,
        help_text=_("Rules run from the lowest position to the highest."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.ACTIVE)
    shadow_share = models.PositiveSmallIntegerField(
        _("shadow share (%)"), default=100,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Shadow mode only: the share of orders the rule is tried on."),
    )
    canary_share = models.PositiveSmallIntegerField(
        _("canary share (%)"), default=10,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_("Canary mode only: the share of matching orders the rule acts on (chosen "
                    "by order, so a re-run agrees); the rest are recorded as shadow results "
                    "for the comparison."),
    )
    match = models.CharField(
        _("match when"), max_length=3, choices=Match.choices, default=Match.ALL,
        help_text=_("Combine the conditions below: all must hold, or any one is enough. "
                    "Tick “not” on a condition to require the opposite."),
    )

    # --- actions ---------------------------------------------------------------------
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", verbose_name=_("assign warehouse"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
        help_text=_("The first matching rule that names a warehouse wins."),
    )
    carrier = models.CharField(
        _("carrier code"), max_length=40, blank=True,
        help_text=_("E.g. SF, ZTO, YTO, JD. The first matching rule with a carrier wins "
                    "(its service comes with it)."),
    )
    carrier_service = models.CharField(
        _("carrier service code"), max_length=40, blank=True,
        help_text=_("E.g. standard, express. Needs a carrier."),
    )
    # Carrier choice by rate table (fulfillment.shipping.rates); the carrier code above,
    # if any, is its fallback when no rate applies.
    carrier_choice = models.CharField(
        _("choose carrier by rate"), max_length=20, blank=True, default="",
        choices=[("", _("no: use the carrier code above")), ("cheapest", _("cheapest")),
                 ("fastest", _("fastest")),
                 ("cheapest_within", _("cheapest within N days"))],
        help_text=_("Picks a carrier and service from the rate tables by the destination "
                    "province and the chargeable weight. With no rate for the destination the "
                    "carrier code above is used, else the default carrier account."),
    )
    carrier_max_days = models.PositiveSmallIntegerField(
        _("within days (N)"), null=True, blank=True,
        help_text=_("For “cheapest within N days”: the most promised days allowed."),
    )
    carrier_candidates = models.CharField(
        _("choose among carriers"), max_length=255, blank=True,
        help_text=_("Comma-separated carrier account codes; empty: every enabled account "
                    "with a rate table."),
    )
    priority = models.PositiveSmallIntegerField(
        _("set priority"), choices=Order.Priority.choices, null=True, blank=True,
        help_text=_("The most urgent priority of all matching rules wins."),
    )
    add_tags = models.CharField(
        _("add tags"), max_length=255, blank=True,
        help_text=_("Comma-separated. Tags of all matching rules are added."),
    )
    hold_reason = models.CharField(
        _("hold for review with reason"), max_length=255, blank=True,
        help_text=_("Sends the order to review; reasons of all matching rules are listed."),
    )
    stop = models.BooleanField(
        _("stop processing further rules"), default=False,
        help_text=_("When this rule matches, later active rules are not evaluated."),
    )
    note = models.TextField(_("note"), blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        indexes = [models.Index(fields=["enabled", "position"], name="rule_enabled_pos_idx")]

    def __str__(self):
        return self.name

    @property
    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.add_tags.replace("，", ",").split(",") if t.strip()]

    def has_action(self) -> bool:
        return bool(self.warehouse_id or self.carrier or self.carrier_choice
                    or self.priority is not None
                    or self.tag_list or self.hold_reason.strip())


class Condition(models.Model):
    class Field(models.TextChoices):
        PROVINCE = "province", _("province")
        CITY = "city", _("city")
        CHANNEL = "channel", _("channel (code)")
        KIND = "kind", _("order kind")
        SKU_CATEGORY = "sku_category", _("any line's SKU category")
        SKU_ATTRIBUTE = "sku_attribute", _("any line's SKU attribute")
        PRESALE = "presale", _("presale")
        AMOUNT = "amount", _("order total")
        WEIGHT = "weight", _("total weight (g)")
        TIER = "tier", _("customer tier")
        MESSAGE = "message", _("buyer message")
        TAG = "tag", _("order tag")

    class Operator(models.TextChoices):
        IN = "in", _("is one of")
        CONTAINS = "contains", _("contains any of")
        GTE = "gte", _("is at least")
        LTE = "lte", _("is at most")
        BETWEEN = "between", _("is between (a-b)")
        YES = "yes", _("is yes")

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="conditions")
    field = models.CharField(_("field"), max_length=20, choices=Field.choices)
    operator = models.CharField(_("operator"), max_length=10, choices=Operator.choices)
    value = models.CharField(
        _("value"), max_length=500, blank=True,
        help_text=_("Lists: separate with commas. Ranges: 100-500. Attributes: cold_chain, "
                    "fragile, or key=value from the SKU's other attributes."),
    )
    negate = models.BooleanField(_("not"), default=False)

    class Meta:
        ordering = ["rule", "id"]
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")

    def __str__(self):
        neg = "NOT " if self.negate else ""
        return f"{neg}{self.field} {self.operator} {self.value}"


class ShadowResult(models.Model):
    """What a shadow rule would have done to one order. Nothing acted on it."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="shadow_results")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    matched = models.BooleanField(_("matched"))
    actions = models.JSONField(_("would do"), default=dict, blank=True)
    # Canary rules: True for an order the rule acted on, False for one it only
    # recorded (the comparison's shadow group). Always False for shadow rules.
    applied = models.BooleanField(_("applied (canary)"), default=False)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("shadow result")
        verbose_name_plural = _("shadow results")
        indexes = [models.Index(fields=["rule", "-created_at"], name="shadow_rule_time_idx")]

    def __str__(self):
        return f"{self.rule_id} / {self.order_id}: {self.matched}"


class RiskRule(models.Model):
    class Kind(models.TextChoices):
        PHONE_VELOCITY = "phone_velocity", _("Same phone: many orders in a short time")
        IP_VELOCITY = "ip_velocity", _("Same IP: many orders in a short time")
        VAGUE_ADDRESS = "vague_address", _("Address too vague")
        NEAR_FREE_SHIPPING = "near_free_shipping", _("Amount just over the free-shipping line")
        BLACKLIST = "blacklist", _("Blacklisted phone or address")
        NEW_B2B = "new_b2b", _("New B2B customer's first order")

    kind = models.CharField(_("check"), max_length=20, choices=Kind.choices, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    count = models.PositiveIntegerField(
        _("orders (N)"), null=True, blank=True,
        help_text=_("Velocity checks: flag when the phone/IP has at least N orders "
                    "(this one included) in the window."),
    )
    hours = models.PositiveIntegerField(_("window (hours)"), null=True, blank=True)
    min_street_length = models.PositiveIntegerField(
        _("shortest street address"), null=True, blank=True,
        help_text=_("Vague address: flag street addresses with fewer characters."),
    )
    threshold = models.DecimalField(
        _("free-shipping threshold"), null=True, blank=True, max_digits=14, decimal_places=2,
    )
    margin = models.DecimalField(
        _("margin"), null=True, blank=True, max_digits=14, decimal_places=2,
        help_text=_("Flag subtotals from the threshold up to threshold + margin "
                    "(orders padded just enough to ship free)."),
    )

    class Meta:
        ordering = ["kind"]
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")

    def __str__(self):
        return self.get_kind_display()

    def clean(self):
        super().clean()
        K = self.Kind
        needs = {
            K.PHONE_VELOCITY: ["count", "hours"],
            K.IP_VELOCITY: ["count", "hours"],
            K.VAGUE_ADDRESS: ["min_street_length"],
            K.NEAR_FREE_SHIPPING: ["threshold", "margin"],
        }.get(self.kind, [])
        missing = {f: _("This check needs a value here.") for f in needs
                   if getattr(self, f) in (None, "")}
        if missing:
            raise ValidationError(missing)
        if self.kind in (K.PHONE_VELOCITY, K.IP_VELOCITY) and (self.count or 0) < 2:
            raise ValidationError({"count": _("Use at least 2 orders.")})


class Blacklist(models.Model):
    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        ADDRESS = "address", _("Address")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = models.CharField(
        _("value"), max_length=255,
        help_text=_("A phone number, or a piece of address: any order whose address "
                    "contains it matches."),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = _("blacklist entry")
        verbose_name_plural = _("blacklist")
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="blacklist_unique_value"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.value}"

    def clean(self):
        super().clean()
        self.value = " ".join((self.value or "").split())
        if self.kind == self.Kind.PHONE and self.value:
            self.value = normalize_phone(self.value)
        if self.kind == self.Kind.ADDRESS and len(self.value.replace(" ", "")) < 4:
            raise ValidationError({"value": _("Give at least 4 characters of the address.")})


class OrderDecision(models.Model):
    """What automation decided for one order last time it ran, and why."""

    class Result(models.TextChoices):
        READY = "ready_to_pick", _("Ready to pick")
        REVIEW = "review", _("Review")
        OUT_OF_STOCK = "out_of_stock", _("Out of stock")

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="decision")
    result = models.CharField(_("result"), max_length=20, choices=Result.choices)
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", verbose_name=_("warehouse"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    warehouse_source = models.CharField(_("warehouse chosen by"), max_length=40, blank=True)
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    carrier_service = models.CharField(_("carrier service"), max_length=40, blank=True)
    # Why a "choose carrier" rule picked the carrier: costs, days, weights
    # (``fulfillment.shipping.rates.choose_carrier``); empty for a fixed carrier.
    carrier_reason = models.JSONField(_("carrier choice"), default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Order.Priority.choices, default=Order.Priority.NORMAL
    )
    tags_added = models.JSONField(_("tags added"), default=list, blank=True)
    matched_rules = models.JSONField(_("matched rules"), default=list, blank=True)
    # [{"code": "risk:blacklist", "message": "..."}]; the review queue lists them.
    review_reasons = models.JSONField(_("review reasons"), default=list, blank=True)
    # Set when review_reasons has a credit hold: finance's queue filters on it.
    credit_hold = models.BooleanField(_("credit hold"), default=False)
    # Reason codes a reviewer approved: the next run skips those checks.
    approved_checks = models.JSONField(_("approved checks"), default=list, blank=True)
    runs = models.PositiveIntegerField(_("runs"), default=0)
    decided_at = models.DateTimeField(_("decided"), default=timezone.now)

    class Meta:
        ordering = ["-decided_at"]
        verbose_name = _("automation decision")
        verbose_name_plural = _("automation decisions")
        permissions = [
            ("review_credit", _("Can approve or reject credit holds")),
        ]

    def __str__(self):
        return f"{self.order_id}: {self.result}"

    @property
    def reason_codes(self) -> list[str]:
        return [r.get("code", "") for r in self.review_reasons]

    @property
    def carrier_reason_text(self) -> str:
        """Why the carrier was chosen, in the reader's language ("" for a fixed carrier)."""
        from fulfillment.shipping.rates import explain

        return explain(self.carrier_reason)



class ReviewAction(models.Model):
    class Action(models.TextChoices):
        APPROVE = "approve", _("Approved")
        REJECT = "reject", _("Rejected")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="review_actions")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    codes = models.JSONField(_("reasons"), default=list, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("review action")
        verbose_name_plural = _("review actions")
        indexes = [models.Index(fields=["order", "-created_at"], name="review_action_order_idx")]

    def __str__(self):
        return f"{self.order_id}: {self.action}"



class CreditEntry(models.Model):
    """One change of a B2B customer's open balance: the credit ledger.

    Only ``fulfillment.services.credit`` writes these rows, and it is the only
    writer of ``Customer.open_balance``: each entry is written under the
    customer's row lock together with the new balance, so ``balance_after`` of
    a customer's latest entry is always the stored balance. ``amount`` is
    signed: what the customer owes goes up with an accepted order and down
    when it is settled, cancelled or refunded.
    """

    class Kind(models.TextChoices):
        OPENING = "opening", _("Opening balance")
        ACCEPT = "accept", _("Order accepted on credit")
        CHANGE = "change", _("Order total changed")
        SETTLE = "settle", _("Order settled")
        RELEASE = "release", _("Order cancelled")
        REFUND = "refund", _("Refund")
        ADJUST = "adjust", _("Manual adjustment")

    # At most one of each per order, so a re-run of automation, a repeated
    # signal or a double click never counts an order twice.
    ONCE_PER_ORDER = (Kind.ACCEPT, Kind.SETTLE, Kind.RELEASE)

    customer = models.ForeignKey(
        "orderhub.Customer", verbose_name=_("customer"), on_delete=models.PROTECT,
        related_name="credit_entries",
    )
    order = models.ForeignKey(
        Order, verbose_name=_("order"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="credit_entries",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=14, decimal_places=2)
    credit_limit = models.DecimalField(_("credit limit then"), max_digits=14, decimal_places=2)
    # Finance approved an order that takes the balance over the limit.
    over_limit = models.BooleanField(_("over the limit"), default=False)
    actor = models.CharField(_("actor"), max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("credit ledger entry")
        verbose_name_plural = _("credit ledger")
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind"], condition=models.Q(kind__in=["accept", "settle",
                                                                         "release"]),
                name="credit_entry_once_per_order",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="credit_customer_idx"),
        ]

    def __str__(self):
        return f"{self.customer_id}: {self.kind} {self.amount}"
