"""Write-back outbox: tell the platform an order shipped, truthfully and at most once."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors import ConnectorError, get_connector
from channels.connectors.base import AmbiguousReply
from channels.models import ShipmentPush, ShipmentPushAttempt
from channels.services.health import MAX_BACKOFF_SECONDS, notify_owner
from orderhub.models import Order
from orderhub.queue import enqueue
from orderhub.services.events import order_event_record

logger = logging.getLogger(__name__)

SHIPMENT_PUSH_MAX_ATTEMPTS = 8
DELIVER_TASK = "channels.tasks.deliver_shipment_push"


def shipment_push_create(*, order: Order) -> ShipmentPush | None:
    """Queue telling the platform this order shipped. Call inside the ship transaction."""
    channel = order.channel
    if not channel.is_api or not order.external_id:
        return None
    push = ShipmentPush.objects.create(order=order, channel=channel, carrier=order.carrier,
                                       carrier_company=order.carrier_company,
                                       tracking_number=order.tracking_number)
    # The task by its registered name: the tasks module imports the services, not back.
    transaction.on_commit(
        lambda: enqueue(DELIVER_TASK, push.pk))
    return push


def _maybe_delivered(exc: ConnectorError) -> bool:
    """The request may have reached the platform and taken effect: a cut-off or missing
    reply (``AmbiguousReply``), or a transport failure with no HTTP status at all."""
    return isinstance(exc, AmbiguousReply) or (exc.retryable and exc.status_code is None)


def _read_back(connector, push: ShipmentPush, tracking_number: str) -> bool | None:
    """Does the platform already hold this shipment? None when it cannot tell."""
    try:
        return connector.confirm_shipment(external_id=push.order.external_id,
                                          tracking_number=tracking_number,
                                          platform_data=push.order.platform_data or {})
    except ConnectorError as exc:
        logger.warning("push %s: reading the order back failed: %s", push.pk, exc.message[:200])
        return None
    except Exception:  # noqa: BLE001 - a read-back is a check on top of the push: when it
        # breaks (a connector bug, a reply it does not know) the push goes on as it would
        # have without it, and the crash is logged for a fix.
        logger.exception("push %s: reading the order back crashed", push.pk)
        return None


def _mark_sent(push: ShipmentPush, *, status_code: int | None, confirmed: bool) -> str:
    push.status = ShipmentPush.Status.SENT
    push.sent_at = timezone.now()
    push.last_error = ""
    push.unconfirmed = False
    push.save(update_fields=["attempts", "status", "sent_at", "last_error", "unconfirmed",
                             "carrier"])
    ShipmentPushAttempt.objects.create(
        push=push, ok=True, status_code=status_code,
        error=_("confirmed by reading the order back") if confirmed else "")
    order_event_record(
        order=push.order, kind="shipment_pushed", actor="system:channels",
        message=(_("The platform already holds the tracking number (confirmed by reading "
                   "the order back).") if confirmed
                 else _("Tracking number sent to the platform.")))
    return "sent"


def shipment_push_deliver(*, push_id: int, connector=None) -> str:
    """One delivery attempt; returns "sent", "retry", "failed" or the push's final status.

    Tells the truth about the platform: a reply that may hide a success (timeout,
    cut-off body) is never a failure; the next attempt reads the order back first
    and only sends again when the platform does not hold the shipment. Before a
    push is marked permanently failed, the order is read back once more.

    The push row's lock is held across the platform call on purpose: it is what
    keeps a second worker (the task retried, the sweeper) from sending the same
    shipment while the first call is in flight; the second waits, then finds the
    push sent. Nothing else is locked, so the order and the channel stay free.
    """
    with transaction.atomic():
        # Only the push row is locked (``of=("self",)``): the platform call below can
        # take seconds, and the order and channel rows must stay free for everyone
        # else meanwhile (a person editing the order, a poll updating the channel).
        push = (ShipmentPush.objects.select_for_update(of=("self",))
                .select_related("order", "channel").get(pk=push_id))
        if push.status != ShipmentPush.Status.PENDING:
            return push.status
        push.attempts += 1
        attempt = ShipmentPushAttempt(push=push)
        order = push.order
        tracking_number = push.tracking_number or order.tracking_number
        lines = [{"external_line_id": ln.external_line_id, "quantity": ln.quantity}
                 for ln in order.lines.all()]
        own_connector = connector is None
        try:
            connector = connector or get_connector(push.channel)
            # The platform's own name/code for the carrier (the channel's carrier_map
            # first), not the hub's carrier-account code.
            company = push.carrier_company or order.carrier_company
            push.carrier = connector.carrier_name(company, fallback=push.carrier
                                                  or order.carrier)[:40]
            if push.unconfirmed and _read_back(connector, push, tracking_number):
                return _mark_sent(push, status_code=None, confirmed=True)
            outcome = connector.push_shipment(
                external_id=order.external_id, carrier=push.carrier,
                tracking_number=tracking_number, lines=lines,
                platform_data=order.platform_data or {})
        except ConnectorError as exc:
            return _push_failed(push, attempt, exc, connector, tracking_number)
        finally:
            if own_connector and connector is not None:
                connector.close()
        return _mark_sent(push, status_code=outcome.status_code, confirmed=False)


def _push_failed(push: ShipmentPush, attempt: ShipmentPushAttempt, exc: ConnectorError,
                 connector, tracking_number: str) -> str:
    order = push.order
    attempt.error = exc.message[:2000]
    attempt.status_code = exc.status_code
    attempt.save()
    push.last_error = exc.message[:2000]
    # Once unclear, stay unclear until the platform is read back: a later plain error
    # (a 409 "already fulfilled") may well be the first attempt's success showing.
    push.unconfirmed = push.unconfirmed or _maybe_delivered(exc)
    if exc.retryable and push.attempts < SHIPMENT_PUSH_MAX_ATTEMPTS:
        push.next_attempt_at = timezone.now() + dt.timedelta(
            seconds=min(MAX_BACKOFF_SECONDS, 30 * 2 ** (push.attempts - 1)))
        push.save(update_fields=["attempts", "last_error", "next_attempt_at", "unconfirmed",
                                 "carrier"])
        return "retry"
    # About to give up: never call it failed when the platform did fulfil.
    if connector is not None and _read_back(connector, push, tracking_number):
        return _mark_sent(push, status_code=None, confirmed=True)
    error = exc.message[:300]
    push.status = ShipmentPush.Status.FAILED
    push.save(update_fields=["attempts", "last_error", "status", "unconfirmed", "carrier"])
    order_event_record(
        order=order, kind="shipment_push_failed", actor="system:channels",
        message=_("The platform could not be told about the shipment: %(error)s")
        % {"error": error})
    transaction.on_commit(lambda: notify_owner(
        push.channel, _("shipment not confirmed"),
        _("Order %(number)s (%(ext)s) shipped, but the platform refused the tracking "
          "number after %(n)s tries: %(error)s") % {
            "number": order.number, "ext": order.external_id, "n": push.attempts,
            "error": error}))
    return "failed"


