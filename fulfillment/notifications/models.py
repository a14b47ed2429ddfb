"""Notifications: message templates, gateways, team routing and the message outbox.

- ``MessageTemplate``: the text per event, audience and language (Django template
  syntax, rendered with a small, fixed set of variables per event).
- ``Gateway``: one configured outside system (Aliyun SMS, a generic HTTP SMS
  gateway, a WeCom or DingTalk robot, e-mail); credentials encrypted at rest.
- ``AlertRoute``: which team events go to which gateway (and recipient).
- ``WarehouseContact``: people of a warehouse (its lead, its purchasing contact)
  and how to reach them; kept here so the warehouse models stay untouched.
- ``Message`` / ``MessageAttempt``: the outbox; one row per message, one
  attempt row per try (see ``fulfillment.notifications.services``).
"""

from __future__ import annotations

import json
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fulfillment.notifications.rendering import TemplateProblem, check_template
from orderhub.crypto import EncryptedCredentials


class Event(models.TextChoices):
    # Buyer SMS events.
    SHIPPED = "shipped", _("Shipped")
    # Sent when the order is picked and packed, before the carrier collects it.
    READY_TO_SHIP = "ready_to_ship", _("Packed, about to ship")
    DELAYED = "delayed", _("Parcel delayed")
    # Team alert events.
    OUT_OF_STOCK = "out_of_stock", _("Out of stock")
    INTERCEPT = "intercept", _("Order intercepted")
    URGENT_ORDER = "urgent_order", _("Urgent order")
    STOCK_LOW = "stock_low", _("Stock low")
    PICK_PROBLEM = "pick_problem", _("Picking problem")
    SPIKE = "spike", _("Sales spike")
    CHANNEL_PAUSED = "channel_paused", _("Channel sync paused")
    PARCEL_STALLED = "parcel_stalled", _("Parcel stalled")
    WAYBILL_FAILED = "waybill_failed", _("Waybill booking failed")
    # Change request (approval chain) events; their texts come from the changes app.
    CHANGE_WAITING = "change_waiting", _("Change request waiting for approval")
    CHANGE_DECIDED = "change_decided", _("Change request decided")
    PICKLIST_REPRINTED = "picklist_reprinted", _("Pick list voided and reprinted")


# The variables each event's template may use. A template naming any other
# variable is refused at save, so a typo never reaches a buyer as an empty gap.
EVENT_VARIABLES: dict[str, tuple[str, ...]] = {
    Event.SHIPPED: ("order_number", "buyer_name", "shop", "carrier", "tracking_number",
                    "estimated_delivery", "tracking_url"),
    Event.READY_TO_SHIP: ("order_number", "buyer_name", "shop", "carrier", "tracking_url"),
    Event.DELAYED: ("order_number", "buyer_name", "shop", "carrier", "tracking_number",
                    "last_event_at"),
    Event.OUT_OF_STOCK: ("order_number", "warehouse", "shortages", "contact_name"),
    Event.INTERCEPT: ("order_number", "from_status", "reason", "actor"),
    Event.URGENT_ORDER: ("order_number", "priority", "warehouse"),
    Event.STOCK_LOW: ("warehouse", "sku_code", "available", "safety"),
    Event.PICK_PROBLEM: ("order_number", "warehouse", "problem", "note", "actor"),
    Event.SPIKE: ("sku_code", "province", "day", "orders", "payment_success_percent"),
    Event.CHANNEL_PAUSED: ("channel", "reason"),
    Event.PARCEL_STALLED: ("order_number", "carrier", "tracking_number", "last_event_at"),
    Event.WAYBILL_FAILED: ("order_number", "error"),
}

# Events whose texts the hub writes itself (per recipient, with links and lists no
# template variable could carry): they have no templates and accept none.
UNTEMPLATED_EVENTS = (Event.CHANGE_WAITING, Event.CHANGE_DECIDED, Event.PICKLIST_REPRINTED)

BUYER_EVENTS = (Event.SHIPPED, Event.READY_TO_SHIP, Event.DELAYED)
# Buyer events sent only while an admin keeps an active template for them (no
# fallback text): the pre-shipment SMS is opt-in, its templates are seeded inactive.
OPT_IN_EVENTS = (Event.READY_TO_SHIP,)

# What Aliyun (and Tencent) accept as a template parameter name: ${name}.
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", _("Simplified Chinese")
    EN = "en", _("English")


class Audience(models.TextChoices):
    BUYER = "buyer", _("Buyer (SMS)")
    TEAM = "team", _("Team")


class MessageTemplate(models.Model):
    event = models.CharField(_("event"), max_length=20, choices=Event.choices)
    audience = models.CharField(_("audience"), max_length=10, choices=Audience.choices)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices)
    subject = models.CharField(
        _("subject / title"), max_length=200, blank=True,
        help_text=_("E-mail subject and robot title. Variables allowed, like the body."),
    )
    body = models.TextField(
        _("body"),
        help_text=_("Django template syntax: {{ order_number }}, {{ tracking_number }}… "
                    "Only the variables listed for the event may be used."),
    )
    sms_template_code = models.CharField(
        _("Aliyun template code"), max_length=40, blank=True,
        help_text=_("E.g. SMS_71390007: the template approved in the Aliyun console. Its "
                    "${…} parameters are filled from the variables of the same name."),
    )
    parameter_map = models.JSONField(
        _("template parameter names"), default=dict, blank=True,
        help_text=_("When the approved SMS template names its parameters differently, map the "
                    "hub's variables to them, e.g. {\"order_number\": \"order\", "
                    "\"tracking_number\": \"waybill\"}. Variables not listed keep their own "
                    "names."),
    )
    sms_sign_name = models.CharField(
        _("Aliyun sign name"), max_length=40, blank=True,
        help_text=_("The approved SMS signature (签名); empty uses the gateway's."),
    )
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["event", "audience", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(fields=["event", "audience", "language"],
                                    name="msgtemplate_unique_event_audience_lang"),
        ]

    def __str__(self):
        return f"{self.get_event_display()} / {self.get_audience_display()} / {self.language}"

    def save(self, *args, **kwargs):
        # A template that cannot render must never be stored, whatever path saves it.
        self.clean()
        super().save(*args, **kwargs)

    @property
    def variables(self) -> tuple[str, ...]:
        return EVENT_VARIABLES.get(self.event, ())

    def parameter_name(self, variable: str) -> str:
        """The SMS template's name for the hub's ``variable`` (its own name when unmapped)."""
        return (self.parameter_map or {}).get(variable) or variable

    def clean(self):
        super().clean()
        if self.event in UNTEMPLATED_EVENTS:
            raise ValidationError({"event": _(
                "Change request messages are written by the hub and have no template; "
                "route them to a robot under alert routes.")})
        errors = {}
        for field in ("subject", "body"):
            try:
                check_template(getattr(self, field) or "", self.variables)
            except TemplateProblem as exc:
                errors[field] = exc.message
        if self.audience == Audience.BUYER and self.event not in BUYER_EVENTS:
            errors["audience"] = _("Buyers are only sent SMS for packed, shipped and delayed "
                                   "parcels.")
        problem = parameter_map_problem(self.parameter_map, self.variables)
        if problem:
            errors["parameter_map"] = problem
        if errors:
            raise ValidationError(errors)


def parameter_map_problem(mapping, variables: tuple[str, ...]) -> str:
    """Why ``mapping`` (hub variable → template parameter) is unusable; "" when it is fine."""
    if mapping in (None, ""):
        return ""
    if not isinstance(mapping, dict):
        return _("Enter a JSON object: {\"hub variable\": \"template parameter\"}.")
    for variable, name in mapping.items():
        if variable not in variables:
            return _("“%(name)s” is not a variable of this event. It offers: %(allowed)s.") % {
                "name": variable, "allowed": ", ".join(variables) or "—"}
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            return _("“%(name)s” is not a valid template parameter name (letters, digits and "
                     "_, up to 40, not starting with a digit).") % {"name": name}
    # A name may not be used twice, nor be the own name of a variable left unmapped
    # (both would go out under it and one would overwrite the other).
    names = list(mapping.values())
    unmapped = [v for v in variables if v not in mapping]
    duplicate = next((n for n in names if names.count(n) > 1 or n in unmapped), None)
    if duplicate:
        return _("Two variables are mapped to the same parameter “%(name)s”.") % {
            "name": duplicate}
    return ""


class Gateway(EncryptedCredentials, models.Model):
    class Kind(models.TextChoices):
        ALIYUN_SMS = "aliyun_sms", _("Aliyun SMS")
        HTTP_SMS = "http_sms", _("HTTP SMS gateway")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk robot (signed)")
        EMAIL = "email", _("E-mail")

    SMS_KINDS = (Kind.ALIYUN_SMS, Kind.HTTP_SMS)

    name = models.CharField(_("name"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    for_buyers = models.BooleanField(
        _("send buyer SMS through this gateway"), default=False,
        help_text=_("SMS gateways only. The first enabled one is used."),
    )
    endpoint = models.URLField(
        _("endpoint"), max_length=500, blank=True,
        help_text=_("Empty uses the vendor's public endpoint."),
    )
    # Non-secret settings (HTTP SMS: method, body template, auth header name;
    # Aliyun: region, sign name; e-mail: sender). Secrets go in credentials only.
    config = models.JSONField(_("settings"), default=dict, blank=True)
    credentials_encrypted = models.TextField(_("credentials (encrypted)"), blank=True,
                                             editable=False)
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (seconds)"), default=10)

    class Meta:
        ordering = ["name"]
        verbose_name = _("gateway")
        verbose_name_plural = _("gateways")

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"<Gateway {self.name} ({self.kind})>"

    @property
    def is_sms(self) -> bool:
        return self.kind in self.SMS_KINDS

    def clean(self):
        super().clean()
        if self.for_buyers and not self.is_sms:
            raise ValidationError({"for_buyers": _("Only an SMS gateway can text buyers.")})
        if self.kind == self.Kind.HTTP_SMS:
            if not self.endpoint:
                raise ValidationError({"endpoint": _("An HTTP SMS gateway needs its URL.")})
            body = (self.config or {}).get("body_template", "")
            if body:
                try:
                    json.loads(body)
                except (TypeError, ValueError) as exc:
                    raise ValidationError({"config": _(
                        "body_template must be JSON, with {phone} and {text} in its strings."
                    )}) from exc
            method = str((self.config or {}).get("method", "POST")).upper()
            if method not in ("GET", "POST"):
                raise ValidationError({"config": _("method must be GET or POST.")})


class AlertRoute(models.Model):
    """Team alert routing: an event goes to a robot, an e-mail address or a phone."""

    event = models.CharField(_("event"), max_length=20, choices=Event.choices, db_index=True)
    gateway = models.ForeignKey(Gateway, verbose_name=_("gateway"), on_delete=models.PROTECT,
                                related_name="routes")
    recipient = models.CharField(
        _("recipient"), max_length=255, blank=True,
        help_text=_("E-mail: addresses, comma-separated. SMS: a phone number. Robots: "
                    "empty, or phone numbers to @mention."),
    )
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", verbose_name=_("only for warehouse"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="+",
        help_text=_("Empty: events of every warehouse (and those without one)."),
    )
    language = models.CharField(_("language"), max_length=10, choices=Language.choices,
                                default=Language.ZH_HANS)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["event", "id"]
        verbose_name = _("alert route")
        verbose_name_plural = _("alert routes")

    def __str__(self):
        return f"{self.get_event_display()} → {self.gateway}"

    def clean(self):
        super().clean()
        kind = self.gateway.kind if self.gateway_id else None
        if kind in (Gateway.Kind.EMAIL, *Gateway.SMS_KINDS) and not self.recipient.strip():
            raise ValidationError({"recipient": _("E-mail and SMS routes need a recipient.")})


class WarehouseContact(models.Model):
    """A person to alert for a warehouse: its lead (urgent orders) or purchasing contact."""

    class Role(models.TextChoices):
        LEAD = "lead", _("Warehouse lead")
        PURCHASING = "purchasing", _("Purchasing contact")

    warehouse = models.ForeignKey("warehouse.Warehouse", verbose_name=_("warehouse"),
                                  on_delete=models.CASCADE, related_name="+")
    role = models.CharField(_("role"), max_length=12, choices=Role.choices)
    name = models.CharField(_("name"), max_length=120)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    gateway = models.ForeignKey(
        Gateway, verbose_name=_("reach through"), on_delete=models.PROTECT, related_name="+",
        help_text=_("An SMS gateway texts the phone, e-mail mails the address, a robot "
                    "posts to its group and @mentions the phone."),
    )
    language = models.CharField(_("language"), max_length=10, choices=Language.choices,
                                default=Language.ZH_HANS)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["warehouse", "role", "name"]
        verbose_name = _("warehouse contact")
        verbose_name_plural = _("warehouse contacts")
        indexes = [models.Index(fields=["warehouse", "role"], name="whcontact_wh_role_idx")]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"

    @property
    def address(self) -> str:
        """Where the gateway sends: the e-mail for e-mail, else the phone."""
        if self.gateway_id and self.gateway.kind == Gateway.Kind.EMAIL:
            return self.email
        return self.phone

    def clean(self):
        super().clean()
        if not self.gateway_id:
            return
        if self.gateway.kind == Gateway.Kind.EMAIL and not self.email:
            raise ValidationError({"email": _("Reaching this contact by e-mail needs an "
                                              "address.")})
        if self.gateway.is_sms and not self.phone:
            raise ValidationError({"phone": _("Reaching this contact by SMS needs a phone.")})


class Message(models.Model):
    """Outbox row: one SMS or team alert, written in the transaction that caused it."""

    class Kind(models.TextChoices):
        SMS = "sms", _("Buyer SMS")
        TEAM = "team", _("Team alert")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        RETRYING = "retrying", _("Retrying")
        FAILED = "failed", _("Failed")

    PENDING = (Status.QUEUED, Status.RETRYING)

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    event = models.CharField(_("event"), max_length=20, choices=Event.choices)
    gateway = models.ForeignKey(Gateway, verbose_name=_("gateway"), on_delete=models.PROTECT,
                                related_name="messages")
    # Stored in full (the gateway needs it); pages mask it unless the role may see it.
    recipient = models.CharField(_("recipient"), max_length=255, blank=True)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices,
                                default=Language.ZH_HANS)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    template_code = models.CharField(_("template code"), max_length=40, blank=True)
    sign_name = models.CharField(_("sign name"), max_length=40, blank=True)
    template_params = models.JSONField(_("template parameters"), default=dict, blank=True)
    order = models.ForeignKey("orderhub.Order", verbose_name=_("order"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="messages")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    provider_id = models.CharField(_("gateway message id"), max_length=100, blank=True)
    # One event never sends twice: the receiver derives this from what happened.
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, unique=True)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="message_due_idx"),
            models.Index(fields=["-created_at", "-id"], name="message_created_idx"),
            models.Index(fields=["event", "-created_at"], name="message_event_idx"),
            models.Index(fields=["order", "-created_at"], name="message_order_idx"),
        ]
        permissions = [
            ("view_full_recipient", _("Can see full phone numbers of message recipients")),
            ("resend_message", _("Can resend a message")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.event} #{self.pk} ({self.status})"

    def __repr__(self):
        # Recipients are personal data: keep them out of reprs and log lines.
        return f"<Message {self.pk} {self.kind}/{self.event} {self.status}>"


class MessageAttempt(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_rows")
    started_at = models.DateTimeField(_("time"), default=timezone.now)
    ok = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    provider_id = models.CharField(_("gateway message id"), max_length=100, blank=True)
    actor = models.CharField(_("triggered by"), max_length=150, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("message attempt")
        verbose_name_plural = _("message attempts")

    def __str__(self):
        result = "ok" if self.ok else "error"
        return f"{self.message_id} @ {self.started_at:%Y-%m-%d %H:%M} ({result})"


def default_buyer_gateway() -> Gateway | None:
    return (Gateway.objects.filter(enabled=True, for_buyers=True, kind__in=Gateway.SMS_KINDS)
            .order_by("id").first())

