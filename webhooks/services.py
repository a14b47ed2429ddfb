"""Outbound webhooks: recording deliveries (outbox), sending them, retries, pausing.

- ``deliveries_record`` writes one ``Delivery`` per interested subscription in the
  caller's transaction and queues them after commit; the broker only speeds them
  up: ``deliveries_due`` (beat, every minute) queues whatever is due and not queued.
- ``delivery_send`` makes one attempt: claims the row, signs the stored body, POSTs
  it, writes one ``DeliveryAttempt``. 2xx succeeds; 410 Gone fails the delivery and
  pauses the subscription; anything else (timeouts, connection errors, 5xx, other
  statuses) is retried with bounded exponential backoff and jitter, up to
  ``MAX_ATTEMPTS`` tries. ``WEBHOOK_MAX_FAILURES`` deliveries in a row that fail for
  good pause the subscription and its owner is told by e-mail.
- Deliveries of a paused or inactive subscription wait; resuming sends them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import random
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from orderhub.queue import enqueue
from webhooks import payloads, signing
from webhooks.models import (
    STATUS_EVENTS,
    Delivery,
    DeliveryAttempt,
    EventType,
    Subscription,
    WebhookCursor,
)

logger = logging.getLogger(__name__)

ACTOR = "system:webhooks"
MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 60
BACKOFF_FACTOR = 4
MAX_BACKOFF_SECONDS = 6 * 3600
# A try takes at most the timeout; a row "sending" for longer lost its worker.
STALE_SENDING = dt.timedelta(minutes=10)
# A queued task not run by then is dropped by the broker (``expires``) and queued again.
QUEUED_FOR = dt.timedelta(minutes=10)
RESPONSE_KEPT_CHARS = 2000
# Deliveries queued one by one after a commit; a larger batch (a bulk import) is left to
# one sweep task, so a dead broker costs one refused publish, not thousands.
DIRECT_ENQUEUE_LIMIT = 20
USER_AGENT = "OrderHub-Webhooks/1"

SEND_TASK = "webhooks.tasks.send_delivery"
SWEEP_TASK = "webhooks.tasks.send_due_deliveries"


class WebhookError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotPermitted(WebhookError):
    status = 403


class UnsafeURL(WebhookError):
    """The URL is not http(s), or points at a private, loopback or reserved address."""


# --- settings ------------------------------------------------------------------------------

def max_failures() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_FAILURES", 5))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10.0))


def blocks_private_addresses() -> bool:
    return bool(getattr(settings, "WEBHOOK_BLOCK_PRIVATE_ADDRESSES", True))


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> int:
    """Wait after the ``attempts``-th failed try: 1 min, 4 min, 16 min … capped at 6 h,
    each ±20 % (jitter keeps a receiver's outage from bringing every retry back at once)."""
    base = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * BACKOFF_FACTOR ** max(0, attempts - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return max(1, min(MAX_BACKOFF_SECONDS, int(base * jitter)))


# --- where deliveries may go -----------------------------------------------------------------

def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: str, *, resolve_host: bool = True) -> str:
    """Why deliveries may not go to ``url`` ("" when they may).

    Only http and https. With ``WEBHOOK_BLOCK_PRIVATE_ADDRESSES`` (on unless DEBUG),
    a host that is, or resolves to, a private, loopback, link-local or reserved
    address is refused: a subscription must not reach into the hub's own network.
    ``resolve_host=False`` checks literal addresses only (the admin form, where the
    name may not resolve yet).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _("This is not a valid URL.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Only http:// and https:// URLs can receive webhooks.")
    if parts.username or parts.password:
        return _("Put no user name or password in the URL: deliveries are signed.")
    if not blocks_private_addresses():
        return ""
    host = parts.hostname
    refused = _("The URL points at a private or local address; webhooks go to public "
                "addresses only.")
    if host == "localhost" or host.endswith(".localhost"):
        return refused
    try:
        return "" if _is_public(host) else refused
    except ValueError:
        pass  # a name, not an address
    if not resolve_host:
        return ""
    try:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    except OSError:
        return _("The URL's host name could not be resolved.")
    if not addresses or not all(_is_public(address) for address in addresses):
        return refused
    return ""


# --- recording (the outbox) ----------------------------------------------------------------

def subscriptions_for(event: str, subscriptions: Iterable[Subscription] | None = None,
                      ) -> list[Subscription]:
    """Active subscriptions (paused ones included: their deliveries wait) for ``event``."""
    if subscriptions is None:
        subscriptions = Subscription.objects.filter(active=True)
    return [s for s in subscriptions if s.active and event in (s.events or [])]


@dataclass
class NewDelivery:
    subscription: Subscription
    event: str
    data: dict
    occurred_at: dt.datetime
    order_id: int | None = None
    source: str = ""
    source_id: int | None = None


def deliveries_record(items: Iterable[NewDelivery]) -> list[Delivery]:
    """Write the deliveries (in the caller's transaction) and queue them after commit.

    Each body carries its delivery's id, so a receiver can drop a delivery it has
    already taken (retries and re-sends send the same id). A delivery whose
    (subscription, event, source, source id) already exists is not written again:
    the live receivers and ``missed_events_record`` may both try.
    """
    rows = []
    for item in items:
        delivery_id = uuid.uuid4()
        body = payloads.encode({"id": str(delivery_id), **payloads.envelope(
            event=item.event, occurred_at=item.occurred_at, data=item.data)})
        rows.append(Delivery(uuid=delivery_id, subscription=item.subscription, event=item.event,
                             order_id=item.order_id, body=body, next_attempt_at=timezone.now(),
                             created_at=timezone.now(), source=item.source,
                             source_id=item.source_id))
    if not rows:
        return []
    with transaction.atomic():
        # A row already written by the other path is skipped (the unique key); its uuid
        # is then in no row, so ``_queue_new`` does not queue it.
        if any(row.source_id for row in rows):
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            # Skipped rows have no id (nor do written ones, after ignore_conflicts).
            ids = dict(Delivery.objects.filter(uuid__in=[row.uuid for row in rows])
                       .values_list("uuid", "pk"))
            for row in rows:
                row.pk = ids.get(row.uuid)
                row._state.adding = row.pk is None
            rows = [row for row in rows if row.pk]
        else:
            Delivery.objects.bulk_create(rows)
        uuids = [row.uuid for row in rows]
        transaction.on_commit(lambda: _queue_new(uuids))
    return rows


def _queue_new(uuids: list) -> None:
    if len(uuids) > DIRECT_ENQUEUE_LIMIT:
        enqueue(SWEEP_TASK)
        return
    # bulk_create does not return ids on every database: look them up once.
    ids = list(Delivery.objects.filter(uuid__in=uuids, subscription__active=True,
                                       subscription__paused=False)
               .values_list("pk", flat=True))
    if ids:
        Delivery.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
    for pk in ids:
        if not enqueue(SEND_TASK, pk, expires=int(QUEUED_FOR.total_seconds())):
            # The broker is down: the rest wait for the sweep as well.
            Delivery.objects.filter(pk__in=ids).update(enqueued_at=None)
            return


# --- sending -----------------------------------------------------------------------------

def _claim(delivery_id: int, now: dt.datetime) -> Delivery | None:
    with transaction.atomic():
        delivery = (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("subscription").filter(pk=delivery_id).first())
        if delivery is None:
            return None
        if (delivery.status not in Delivery.PENDING or delivery.next_attempt_at > now
                or not delivery.subscription.sending):
            return None
        delivery.status = Delivery.Status.SENDING
        delivery.attempts += 1
        delivery.claimed_at = now
        delivery.save(update_fields=["status", "attempts", "claimed_at"])
        return delivery


@dataclass
class _Outcome:
    ok: bool = False
    status_code: int | None = None
    response_body: str = ""
    error: str = ""
    retryable: bool = True
    gone: bool = False


def _post(delivery: Delivery, client: httpx.Client | None) -> _Outcome:
    subscription = delivery.subscription
    problem = url_problem(subscription.url)
    if problem:
        return _Outcome(error=problem, retryable=False)
    body = delivery.body.encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_HEADER: delivery.event,
        signing.DELIVERY_HEADER: str(delivery.uuid),
        signing.SIGNATURE_HEADER: signing.signature_header(subscription.secret, timestamp, body),
    }
    own_client = client is None
    if own_client:
        limit = timeout_seconds()
        client = httpx.Client(timeout=httpx.Timeout(limit, connect=min(5.0, limit)),
                              follow_redirects=False, trust_env=False)
    try:
        response = client.post(subscription.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return _Outcome(error=_("No answer in time (%(kind)s).") % {"kind": type(exc).__name__})
    except httpx.HTTPError as exc:
        return _Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if own_client:
            client.close()
    text = response.text[:RESPONSE_KEPT_CHARS]
    if 200 <= response.status_code < 300:
        return _Outcome(ok=True, status_code=response.status_code, response_body=text)
    if response.status_code == 410:
        return _Outcome(status_code=410, response_body=text, retryable=False, gone=True,
                        error=_("The receiver answered 410 Gone: it wants no more deliveries."))
    return _Outcome(status_code=response.status_code, response_body=text,
                    error=_("The receiver answered HTTP %(status)s.")
                    % {"status": response.status_code})


def delivery_send(*, delivery_id: int, client: httpx.Client | None = None,
                  actor: str = ACTOR) -> str:
    """One attempt. Returns "succeeded", "retry", "failed" or "skipped".

    "skipped": not due, not pending, its subscription paused or inactive, or
    another worker holds it; nothing was sent. Safe to call any number of times.
    """
    now = timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return "skipped"
    started = time.monotonic()
    try:
        outcome = _post(delivery, client)
    except Exception as exc:  # noqa: BLE001 - a bug or an unreadable secret must not leave it "sending"
        logger.exception("webhook delivery %s crashed", delivery.pk)
        outcome = _Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
    attempt = DeliveryAttempt(
        delivery=delivery, started_at=now, ok=outcome.ok, status_code=outcome.status_code,
        response_body=outcome.response_body, error=outcome.error[:2000],
        duration_ms=int((time.monotonic() - started) * 1000), actor=actor[:150])
    if outcome.ok:
        return _record_success(delivery, attempt)
    return _record_failure(delivery, attempt, outcome)


def _record_success(delivery: Delivery, attempt: DeliveryAttempt) -> str:
    with transaction.atomic():
        attempt.save()
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.last_status_code = attempt.status_code
        delivery.last_error = ""
        delivery.save(update_fields=["status", "delivered_at", "last_status_code",
                                     "last_error"])
        Subscription.objects.filter(pk=delivery.subscription_id,
                                    consecutive_failures__gt=0).update(consecutive_failures=0)
    return "succeeded"


def _record_failure(delivery: Delivery, attempt: DeliveryAttempt, outcome: _Outcome) -> str:
    with transaction.atomic():
        attempt.save()
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error[:2000]
        if outcome.retryable and delivery.attempts < MAX_ATTEMPTS:
            delivery.status = Delivery.Status.RETRYING
            delivery.next_attempt_at = timezone.now() + dt.timedelta(
                seconds=backoff_seconds(delivery.attempts))
            delivery.enqueued_at = None
            delivery.save(update_fields=["status", "last_status_code", "last_error",
                                         "next_attempt_at", "enqueued_at"])
            return "retry"
        delivery.status = Delivery.Status.FAILED
        delivery.save(update_fields=["status", "last_status_code", "last_error"])
        _subscription_failed(delivery.subscription_id, outcome)
    logger.warning("webhook delivery %s (%s) to subscription %s failed for good after %s "
                   "attempts: %s", delivery.pk, delivery.event, delivery.subscription_id,
                   delivery.attempts, outcome.error[:200])
    return "failed"


def _subscription_failed(subscription_id: int, outcome: _Outcome) -> None:
    """Count a delivery that failed for good; pause at ``WEBHOOK_MAX_FAILURES`` in a row."""
    Subscription.objects.filter(pk=subscription_id).update(
        consecutive_failures=F("consecutive_failures") + 1)
    subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
    if subscription.paused:
        return
    with override(settings.LANGUAGE_CODE):
        if outcome.gone:
            reason = _("The receiver answered 410 Gone.")
        elif subscription.consecutive_failures >= max_failures():
            reason = _("%(n)s deliveries in a row failed; the last: %(error)s") % {
                "n": subscription.consecutive_failures, "error": outcome.error}
        else:
            return
    subscription_pause(subscription=subscription, reason=reason)


# --- pausing, resuming, re-sending ------------------------------------------------------

def subscription_pause(*, subscription: Subscription, reason: str, actor: str = ACTOR,
                       ) -> Subscription:
    """Pause deliveries to ``subscription`` (they wait) and tell its owner after commit."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.paused:
            return subscription
        subscription.paused = True
        subscription.paused_at = timezone.now()
        subscription.paused_reason = reason[:255]
        subscription.save(update_fields=["paused", "paused_at", "paused_reason", "updated_at"])
        paused_id = subscription.pk
        transaction.on_commit(lambda: notify_owner_paused(paused_id))
    logger.warning("webhook subscription %s paused by %s: %s", subscription.pk, actor, reason)
    return subscription


def notify_owner_paused(subscription_id: int) -> None:
    """E-mail the subscription's owner (without one: the superusers) that it was paused."""
    subscription = (Subscription.objects.select_related("owner")
                    .filter(pk=subscription_id).first())
    if subscription is None or not subscription.paused:
        return
    base = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    with override(settings.LANGUAGE_CODE):
        subject = _("[OrderHub] Webhook paused: %(name)s") % {"name": subscription.name}
        body = _(
            "Deliveries to %(url)s are paused: %(reason)s\n\n"
            "Events keep being recorded and wait. When the receiver works again, resume "
            "the subscription in the admin (%(link)s); waiting deliveries are then sent, "
            "and failed ones can be re-sent from the delivery list."
        ) % {"url": subscription.url, "reason": subscription.paused_reason,
             "link": f"{base}/admin/webhooks/subscription/{subscription.pk}/change/"}
    owner = subscription.owner
    if owner is not None and owner.is_active and owner.email:
        recipients = [owner.email]
    else:
        # No owner to tell: the hub's admins (superusers with an address), else ADMINS.
        recipients = sorted(set(get_user_model().objects.filter(
            is_superuser=True, is_active=True).exclude(email="").values_list("email", flat=True)))
    try:
        if recipients:
            send_mail(subject, body, None, recipients)
        else:
            mail_admins(subject, body)
    except Exception:  # noqa: BLE001 - a mail outage must not undo the pause; it is logged
        logger.exception("webhook subscription %s: could not tell the owner it was paused",
                         subscription_id)


def subscription_resume(*, subscription: Subscription, actor) -> Subscription:
    """Resume deliveries: waiting ones go out now, the failure count starts again."""
    if not isinstance(actor, str) and not actor.has_perm("webhooks.change_subscription"):
        raise NotPermitted(_("You are not allowed to change webhook subscriptions."))
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        subscription.paused = False
        subscription.paused_at = None
        subscription.paused_reason = ""
        subscription.consecutive_failures = 0
        subscription.save(update_fields=["paused", "paused_at", "paused_reason",
                                         "consecutive_failures", "updated_at"])
        subscription.deliveries.filter(status__in=Delivery.PENDING).update(
            next_attempt_at=timezone.now(), enqueued_at=None)
        transaction.on_commit(lambda: enqueue(SWEEP_TASK))
    logger.info("webhook subscription %s resumed by %s", subscription.pk, _label(actor))
    return subscription


def _label(actor) -> str:
    return actor if isinstance(actor, str) else actor.get_username()


def delivery_resend(*, delivery: Delivery | int, actor) -> Delivery:
    """Send a delivery again (same row, same id and body; earlier attempts are kept)."""
    if not isinstance(actor, str) and not actor.has_perm("webhooks.resend_delivery"):
        raise NotPermitted(_("You are not allowed to re-send webhook deliveries."))
    with transaction.atomic():
        pk = delivery.pk if isinstance(delivery, Delivery) else delivery
        delivery = Delivery.objects.select_for_update().get(pk=pk)
        if delivery.status in (Delivery.Status.SENDING, *Delivery.PENDING):
            raise WebhookError(_("This delivery is already waiting to be sent."))
        delivery.status = Delivery.Status.QUEUED
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.enqueued_at = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "enqueued_at"])
        transaction.on_commit(lambda: _queue_ids([pk]))
    logger.info("webhook delivery %s re-queued by %s", pk, _label(actor))
    return delivery


def _queue_ids(ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
    for pk in ids:
        if not enqueue(SEND_TASK, pk, expires=int(QUEUED_FOR.total_seconds())):
            Delivery.objects.filter(pk__in=ids).update(enqueued_at=None)
            return


# --- the sweep ------------------------------------------------------------------------------

def deliveries_due(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of deliveries to send now that no queued task holds; marks them queued.

    Frees rows a dead worker left in ``sending``. A row queued less than
    ``QUEUED_FOR`` ago is in flight (its task expires by then) and left alone.
    """
    now = now or timezone.now()
    Delivery.objects.filter(status=Delivery.Status.SENDING,
                            claimed_at__lt=now - STALE_SENDING).update(
        status=Delivery.Status.RETRYING, next_attempt_at=now, enqueued_at=None,
        last_error=_("The worker stopped while sending; trying again."))
    ids = list(Delivery.objects.filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - QUEUED_FOR),
        status__in=Delivery.PENDING, next_attempt_at__lte=now,
        subscription__active=True, subscription__paused=False,
    ).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    if ids:
        Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
    return ids


# --- missed events (the safety net behind the live receivers) ----------------------------

# Rows younger than this are left to the live receivers (and to transactions that took an
# id but have not committed yet: the cursor never passes a row it could not see).
MISSED_GRACE = dt.timedelta(minutes=2)
MISSED_BATCH = 500


def _status_events(to_status: str) -> list[str]:
    events = [EventType.ORDER_STATUS_CHANGED]
    if to_status in STATUS_EVENTS:
        events.append(STATUS_EVENTS[to_status])
    return events


def _locked_cursor(source: str, model) -> WebhookCursor | None:
    """The source's cursor, locked; None when it had to be started (at today's newest row,
    so nothing older is replayed)."""
    cursor = WebhookCursor.objects.select_for_update().filter(source=source).first()
    if cursor is None:
        last = model.objects.aggregate(m=Max("id"))["m"] or 0
        WebhookCursor.objects.get_or_create(source=source, defaults={"last_id": last})
    return cursor


def _ready(rows: list, now: dt.datetime) -> list:
    """The rows (in id order) old enough to sweep: stop at the first young one."""
    ready = []
    for row in rows:
        if row.created_at > now - MISSED_GRACE:
            break
        ready.append(row)
    return ready


def _existing(source: str, ids: list[int]) -> set[tuple[int, str, int]]:
    return set(Delivery.objects.filter(source=source, source_id__in=ids)
               .values_list("subscription_id", "event", "source_id"))


def _sweep_created(active: list[Subscription], now: dt.datetime, limit: int) -> int:
    from orderhub.models import Order

    source = Delivery.Source.ORDER
    with transaction.atomic():
        cursor = _locked_cursor(source, Order)
        if cursor is None:
            return 0
        orders = _ready(list(Order.objects.select_related("channel")
                             .filter(pk__gt=cursor.last_id).order_by("pk")[:limit]), now)
        if not orders:
            return 0
        subscriptions = subscriptions_for(EventType.ORDER_CREATED, active)
        have = _existing(source, [order.pk for order in orders])
        items = [
            NewDelivery(subscription=subscription, event=EventType.ORDER_CREATED,
                        occurred_at=order.created_at, order_id=order.pk, source=source,
                        source_id=order.pk,
                        data={"order": payloads.order_summary(
                            order, buyer_data=subscription.include_buyer_data)})
            for order in orders for subscription in subscriptions
            if order.created_at >= subscription.created_at
            and (subscription.pk, EventType.ORDER_CREATED, order.pk) not in have]
        deliveries_record(items)
        cursor.last_id = orders[-1].pk
        cursor.save(update_fields=["last_id", "updated_at"])
    return len(items)


def _sweep_transitions(active: list[Subscription], now: dt.datetime, limit: int) -> int:
    from orderhub.models import Order, OrderTransitionLog

    source = Delivery.Source.TRANSITION
    with transaction.atomic():
        cursor = _locked_cursor(source, OrderTransitionLog)
        if cursor is None:
            return 0
        logs = _ready(list(OrderTransitionLog.objects.filter(pk__gt=cursor.last_id)
                           .order_by("pk")[:limit]), now)
        if not logs:
            return 0
        wanted = {event: subscriptions_for(event, active) for event in EventType.values}
        have = _existing(source, [log.pk for log in logs])
        orders = Order.objects.select_related("channel").in_bulk({log.order_id for log in logs})
        items = []
        for log in logs:
            order = orders.get(log.order_id)
            if order is None:
                continue
            for event in _status_events(log.to_status):
                for subscription in wanted[event]:
                    if (log.created_at < subscription.created_at
                            or (subscription.pk, event, log.pk) in have):
                        continue
                    items.append(NewDelivery(
                        subscription=subscription, event=event, occurred_at=log.created_at,
                        order_id=order.pk, source=source, source_id=log.pk,
                        data={"order": payloads.order_summary(
                                  order, buyer_data=subscription.include_buyer_data),
                              "change": {"transition": log.transition,
                                         "from_status": log.from_status,
                                         "to_status": log.to_status, "actor": log.actor}}))
        deliveries_record(items)
        cursor.last_id = logs[-1].pk
        cursor.save(update_fields=["last_id", "updated_at"])
    return len(items)


def missed_events_record(*, now: dt.datetime | None = None, limit: int = MISSED_BATCH) -> int:
    """Write the deliveries the live receivers missed (a crash or an error between the
    order's commit and theirs), from what the database records durably with the change:
    new orders (order.created) and transition log rows (the status events).

    Reads only rows past each source's cursor (at most ``limit`` per source, older than
    ``MISSED_GRACE``), skips events from before a subscription existed and those that
    already have their delivery, then moves the cursor in the same transaction.
    Returns the number of deliveries written.
    """
    now = now or timezone.now()
    active = [s for s in Subscription.objects.filter(active=True) if s.events]
    written = _sweep_created(active, now, limit) + _sweep_transitions(active, now, limit)
    if written:
        logger.warning("webhooks: recorded %s missed deliveries", written)
    return written
