"""Notification services: write outbox rows, deliver them, resend them.

How a message travels:

1. ``message_enqueue`` writes a ``Message`` row in the caller's transaction,
   keyed by a ``dedupe_key`` derived from what happened, so the same event
   (a replayed signal, a retried task) never makes a second message. On
   commit it enqueues ``deliver_message(message_id)``.
2. ``message_deliver`` claims the row (``sending``) in a short transaction,
   calls the gateway outside any transaction (no row lock is held across a
   slow HTTP call), then records one ``MessageAttempt`` and the outcome:
   ``sent``; ``retrying`` with exponential backoff; or ``failed`` for good.
3. The beat sweeper ``deliver_due_messages`` re-enqueues rows whose task was
   lost and frees rows stuck in ``sending`` by a crashed worker.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from fulfillment.notifications.gateways import GatewayError, OutgoingMessage, adapter_for
from fulfillment.notifications.models import (
    EVENT_VARIABLES,
    OPT_IN_EVENTS,
    AlertRoute,
    Audience,
    Event,
    Gateway,
    Language,
    Message,
    MessageAttempt,
    MessageTemplate,
    WarehouseContact,
    default_buyer_gateway,
)
from fulfillment.notifications.rendering import TemplateProblem, render_text, used_variables
from fulfillment.queue import enqueue

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
# A row left in "sending" this long belongs to a worker that died mid-call.
STALE_SENDING = dt.timedelta(minutes=10)
ROBOT_KINDS = (Gateway.Kind.WECOM, Gateway.Kind.DINGTALK)

Actor = AbstractBaseUser | str


class NotificationError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotPermitted(NotificationError):
    status = 403


def _label(actor: Actor) -> str:
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def backoff_seconds(attempts: int) -> int:
    """30 s, 60 s, 120 s … capped at an hour (attempts counts the try that just failed)."""
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


# --- enqueue -----------------------------------------------------------------------------

def _enqueue_task(message_id: int) -> None:
    try:
        enqueue("fulfillment.notifications.tasks.deliver_message", message_id)
    except Exception:  # noqa: BLE001 - a dead broker only delays the message: the sweeper sends it
        logger.exception("could not enqueue message %s; the sweeper will pick it up", message_id)


def message_enqueue(
    *,
    kind: str,
    event: str,
    gateway: Gateway,
    recipient: str,
    body: str,
    dedupe_key: str,
    actor: Actor,
    subject: str = "",
    language: str = Language.ZH_HANS,
    template_code: str = "",
    sign_name: str = "",
    template_params: dict | None = None,
    order=None,
) -> tuple[Message, bool]:
    """Write one outbox row (in the caller's transaction) and deliver it after commit.

    Returns ``(message, created)``; a second call with the same ``dedupe_key``
    returns the existing row and sends nothing.
    """
    if not dedupe_key:
        raise ValueError("message_enqueue needs a dedupe_key")
    existing = Message.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                kind=kind, event=event, gateway=gateway, recipient=recipient[:255],
                body=body, subject=subject[:200], language=language,
                template_code=template_code, sign_name=sign_name,
                template_params=template_params or {}, order=order,
                dedupe_key=dedupe_key[:200], created_by=_label(actor)[:150],
            )
    except IntegrityError:
        # Another worker wrote the same event's message a moment ago.
        return Message.objects.get(dedupe_key=dedupe_key[:200]), False
    transaction.on_commit(lambda: _enqueue_task(message.pk))
    return message, True


def template_for(event: str, audience: str, language: str) -> MessageTemplate | None:
    """The active template in ``language``, else in the other language, else None."""
    rows = {t.language: t for t in MessageTemplate.objects.filter(
        event=event, audience=audience, active=True)}
    return rows.get(language) or next(iter(rows.values()), None)


def template_params(template: MessageTemplate, context: dict) -> dict:
    """The SMS template's parameters: what the body uses plus every mapped variable,
    under the approved template's own names (unmapped ones keep the hub's names)."""
    names = used_variables(template.body)
    names += [name for name in (template.parameter_map or {}) if name not in names]
    return {template.parameter_name(name): str(context.get(name) or "") for name in names}


@dataclass
class Rendered:
    subject: str
    body: str
    language: str
    template_code: str = ""
    sign_name: str = ""
    params: dict | None = None


def render_event(event: str, audience: str, language: str, context: dict) -> Rendered:
    """Render the event's template; without one, a plain fallback line (never nothing)."""
    allowed = EVENT_VARIABLES.get(event, ())
    template = template_for(event, audience, language)
    if template is not None:
        try:
            body = render_text(template.body, context, allowed)
            subject = render_text(template.subject, context, allowed)
            params = template_params(template, context)
            return Rendered(subject=subject, body=body, language=template.language,
                            template_code=template.sms_template_code,
                            sign_name=template.sms_sign_name, params=params)
        except TemplateProblem:
            logger.exception("template %s is broken; using the fallback text", template.pk)
    with override(language):
        title = str(Event(event).label) if event in Event.values else event
    details = ", ".join(f"{k}: {context.get(k)}" for k in allowed if context.get(k) not in
                        (None, ""))
    return Rendered(subject=title, body=f"[OrderHub] {title}: {details}", language=language,
                    params={})


def buyer_sms(*, event: str, order, context: dict, dedupe_key: str,
              actor: Actor) -> Message | None:
    """Queue a buyer SMS for ``order`` through the buyer gateway; None when none applies.

    Opt-in events (the pre-shipment SMS) are sent only while an active template
    exists for them: no template means the seller has not switched them on.
    """
    phone = order.buyer_phone or order.ship_phone
    if not phone:
        return None
    if event in OPT_IN_EVENTS and not MessageTemplate.objects.filter(
            event=event, audience=Audience.BUYER, active=True).exists():
        return None
    gateway = default_buyer_gateway()
    if gateway is None:
        logger.debug("no buyer SMS gateway configured; %s SMS for order %s skipped", event,
                     order.pk)
        return None
    language = order_language(order)
    rendered = render_event(event, Audience.BUYER, language, context)
    message, _created = message_enqueue(
        kind=Message.Kind.SMS, event=event, gateway=gateway, recipient=phone,
        body=rendered.body, subject=rendered.subject, language=rendered.language,
        template_code=rendered.template_code, sign_name=rendered.sign_name,
        template_params=rendered.params, order=order, dedupe_key=dedupe_key, actor=actor,
    )
    return message


# Sample values for "send test": what an admin sees in the test SMS, per hub variable.
SAMPLE_VALUES = {
    "order_number": "TEST-0001", "buyer_name": "张三", "shop": "OrderHub",
    "carrier": "SF", "tracking_number": "SF1234567890", "estimated_delivery": "2026-01-02",
    "tracking_url": "https://example.com/track/?number=TEST-0001",
    "last_event_at": "2026-01-01 09:00",
}


@dataclass
class SendTestResult:
    ok: bool
    detail: str  # the gateway's message id, or its error code and message
    params: dict


def template_send_test(*, template: MessageTemplate, gateway: Gateway, phone: str,
                       actor: Actor, client=None) -> SendTestResult:
    """Send ``template`` with sample values to ``phone`` through ``gateway``, now.

    No order and no outbox row: the admin waits for the gateway's answer, which is
    returned (and logged) whatever it is; nothing is retried.
    """
    if not isinstance(actor, str) and not actor.has_perm("notifications.change_messagetemplate"):
        raise NotPermitted(_("You are not allowed to test message templates."))
    phone = (phone or "").strip()
    if not phone:
        raise NotificationError(_("Enter the phone number to send the test to."))
    if not gateway.is_sms:
        raise NotificationError(_("Choose an SMS gateway for the test."))
    context = {name: SAMPLE_VALUES.get(name, name) for name in template.variables}
    params = template_params(template, context)
    outgoing = OutgoingMessage(
        recipient=phone, body=render_text(template.body, context, template.variables),
        template_code=template.sms_template_code, sign_name=template.sms_sign_name,
        template_params=params, reference=f"test{template.pk}",
    )
    adapter = None
    try:
        adapter = adapter_for(gateway, client=client)
        result = adapter.send(outgoing)
        outcome = SendTestResult(ok=True, detail=result.provider_id, params=params)
    except GatewayError as exc:
        outcome = SendTestResult(ok=False, detail=exc.message, params=params)
    finally:
        if adapter is not None and client is None:
            adapter.close()
    logger.info("test SMS of template %s through gateway %s by %s: %s %s", template.pk,
                gateway.pk, _label(actor), "ok" if outcome.ok else "failed", outcome.detail[:300])
    return outcome


def order_language(order) -> str:
    """Chinese for buyers in mainland China (address or +86 phone), English for others."""
    if (order.ship_country or "CN").upper() == "CN" or (order.buyer_phone or "").startswith("+86"):
        return Language.ZH_HANS
    return Language.EN


@dataclass
class Target:
    gateway: Gateway
    recipient: str
    language: str
    key: str  # distinguishes targets of one event in the dedupe key


@dataclass(frozen=True)
class EventRoutes:
    """An event's enabled routes, read once (one query) and filtered per warehouse."""

    routes: tuple  # ((route warehouse id or None, Target), ...)

    @classmethod
    def load(cls, event: str) -> EventRoutes:
        routes = (AlertRoute.objects.filter(event=event, enabled=True, gateway__enabled=True)
                  .select_related("gateway").order_by("id"))
        return cls(tuple((r.warehouse_id, Target(r.gateway, r.recipient, r.language, f"r{r.pk}"))
                         for r in routes))

    def for_warehouse(self, warehouse_id: int | None) -> list[Target]:
        # Fresh Target copies: team_alert merges recipients into the targets it is given.
        return [Target(t.gateway, t.recipient, t.language, t.key) for wh_id, t in self.routes
                if not wh_id or wh_id == warehouse_id]


def routes_for(event: str, warehouse_id: int | None = None) -> list[Target]:
    return EventRoutes.load(event).for_warehouse(warehouse_id)


def _contact_target(contact) -> Target | None:
    if contact.address or contact.gateway.kind in (Gateway.Kind.WECOM, Gateway.Kind.DINGTALK):
        return Target(contact.gateway, contact.address, contact.language, f"c{contact.pk}")
    return None


def contacts_for(warehouse_id: int | None, role: str) -> list[Target]:
    if not warehouse_id:
        return []
    return contacts_for_warehouses([warehouse_id], role).get(warehouse_id, [])


def contacts_for_warehouses(warehouse_ids, role: str) -> dict[int, list[Target]]:
    """``contacts_for`` for many warehouses in one query (warehouses without any left out)."""
    ids = {w for w in warehouse_ids if w}
    if not ids:
        return {}
    out: dict[int, list[Target]] = {}
    for contact in (WarehouseContact.objects.filter(warehouse_id__in=ids, role=role,
                                                    enabled=True, gateway__enabled=True)
                    .select_related("gateway").order_by("id")):
        target = _contact_target(contact)
        if target is not None:
            out.setdefault(contact.warehouse_id, []).append(target)
    return out


def team_alert(*, event: str, context: dict, dedupe_key: str, actor: Actor,
               targets: list[Target] | None = None, warehouse_id: int | None = None,
               order=None, routes: EventRoutes | None = None) -> list[Message]:
    """Queue the event's team alert to every route (plus ``targets``); one message each.

    ``routes``: the event's routes read beforehand (``EventRoutes.load``), for a
    caller alerting many times in a row; by default they are read here.
    """
    routes = routes if routes is not None else EventRoutes.load(event)
    merged: dict[tuple, Target] = {}
    for target in list(targets or []) + routes.for_warehouse(warehouse_id):
        if target.gateway.kind in ROBOT_KINDS:
            # One post per robot (group): a contact to @mention joins the route's post.
            slot = merged.get((target.gateway.pk,))
            if slot is None:
                merged[(target.gateway.pk,)] = Target(target.gateway, target.recipient,
                                                      target.language, target.key)
            elif target.recipient and target.recipient not in slot.recipient:
                slot.recipient = ",".join(p for p in (slot.recipient, target.recipient) if p)
            continue
        # A contact who is also a route recipient hears the news once.
        merged.setdefault((target.gateway.pk, target.recipient), target)
    messages = []
    for target in merged.values():
        rendered = render_event(event, Audience.TEAM, target.language, context)
        message, _created = message_enqueue(
            kind=Message.Kind.TEAM, event=event, gateway=target.gateway,
            recipient=target.recipient, body=rendered.body, subject=rendered.subject,
            language=rendered.language, template_code=rendered.template_code,
            sign_name=rendered.sign_name, template_params=rendered.params, order=order,
            dedupe_key=f"{dedupe_key}:{target.key}", actor=actor,
        )
        messages.append(message)
    return messages


# --- delivery -------------------------------------------------------------------------------

def _claim(message_id: int, now: dt.datetime) -> Message | None:
    with transaction.atomic():
        message = (Message.objects.select_for_update(skip_locked=True, of=("self",))
                   .select_related("gateway").filter(pk=message_id).first())
        if message is None:
            return None
        if message.status not in Message.PENDING or message.next_attempt_at > now:
            return None
        message.status = Message.Status.SENDING
        message.attempts += 1
        message.claimed_at = now
        message.save(update_fields=["status", "attempts", "claimed_at"])
        return message


def message_deliver(*, message_id: int, client=None, actor: str = "system:notify") -> str:
    """One delivery attempt. Returns "sent", "retry", "failed", or "skipped".

    "skipped": the row is not due, already sent or failed, or another worker
    holds it; nothing was sent. Safe to call any number of times.
    """
    now = timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return "skipped"
    attempt = MessageAttempt(message=message, started_at=now, actor=actor)
    outgoing = OutgoingMessage(
        recipient=message.recipient, body=message.body, subject=message.subject,
        template_code=message.template_code, sign_name=message.sign_name,
        template_params=message.template_params or {}, reference=f"m{message.pk}",
    )
    adapter = None
    try:
        if not message.gateway.enabled:
            raise GatewayError(_("The gateway is disabled."), retryable=False)
        adapter = adapter_for(message.gateway, client=client)
        result = adapter.send(outgoing)
    except GatewayError as exc:
        return _record_failure(message, attempt, exc)
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not leave the row "sending"
        logger.exception("gateway %s crashed on message %s", message.gateway_id, message.pk)
        return _record_failure(message, attempt, GatewayError(
            f"{type(exc).__name__}: {exc}"[:300], retryable=True))
    finally:
        if adapter is not None and client is None:
            adapter.close()
    with transaction.atomic():
        attempt.ok = True
        attempt.status_code = result.status_code
        attempt.provider_id = result.provider_id[:100]
        attempt.save()
        message.status = Message.Status.SENT
        message.sent_at = timezone.now()
        message.provider_id = result.provider_id[:100]
        message.last_error = ""
        message.save(update_fields=["status", "sent_at", "provider_id", "last_error"])
    return "sent"


def _record_failure(message: Message, attempt: MessageAttempt, exc: GatewayError) -> str:
    with transaction.atomic():
        attempt.error = exc.message[:2000]
        attempt.status_code = exc.status_code
        attempt.save()
        message.last_error = exc.message[:2000]
        if exc.retryable and message.attempts < MAX_ATTEMPTS:
            message.status = Message.Status.RETRYING
            message.next_attempt_at = timezone.now() + dt.timedelta(
                seconds=backoff_seconds(message.attempts))
            message.save(update_fields=["status", "last_error", "next_attempt_at"])
            return "retry"
        message.status = Message.Status.FAILED
        message.save(update_fields=["status", "last_error"])
    logger.warning("message %s (%s/%s) failed for good after %s attempts: %s", message.pk,
                   message.kind, message.event, message.attempts, exc.message[:200])
    return "failed"


def messages_due(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of messages to (re)send now; frees rows a dead worker left in ``sending``."""
    now = now or timezone.now()
    Message.objects.filter(status=Message.Status.SENDING,
                           claimed_at__lt=now - STALE_SENDING).update(
        status=Message.Status.RETRYING, next_attempt_at=now,
        last_error=_("The worker stopped while sending; trying again."))
    return list(Message.objects.filter(status__in=Message.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])


def message_resend(*, message: Message | int, actor: Actor) -> Message:
    """Send a failed message again (same row), or a sent one once more (a new row)."""
    if not isinstance(actor, str) and not actor.has_perm("notifications.resend_message"):
        raise NotPermitted(_("You are not allowed to resend messages."))
    label = _label(actor)
    with transaction.atomic():
        pk = message.pk if isinstance(message, Message) else message
        message = Message.objects.select_for_update().get(pk=pk)
        if message.status in (Message.Status.SENDING, *Message.PENDING):
            raise NotificationError(_("This message is already waiting to be sent."))
        if message.status == Message.Status.FAILED:
            message.status = Message.Status.QUEUED
            message.attempts = 0
            message.next_attempt_at = timezone.now()
            message.save(update_fields=["status", "attempts", "next_attempt_at"])
            transaction.on_commit(lambda: _enqueue_task(pk))
            logger.info("message %s re-queued by %s", pk, label)
            return message
        copies = Message.objects.filter(dedupe_key__startswith=f"{message.dedupe_key}:resend:")
        copy, _created = message_enqueue(
            kind=message.kind, event=message.event, gateway=message.gateway,
            recipient=message.recipient, body=message.body, subject=message.subject,
            language=message.language, template_code=message.template_code,
            sign_name=message.sign_name, template_params=message.template_params,
            order=message.order, actor=label,
            dedupe_key=f"{message.dedupe_key}:resend:{copies.count() + 1}",
        )
        return copy
