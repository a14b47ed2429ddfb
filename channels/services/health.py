"""Channel health: pause/resume, poll failures with backoff, telling the owner."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors import AuthError, ConnectorError
from channels.models import Channel
from channels.signals import channel_paused

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


def max_failures() -> int:
    return int(getattr(settings, "CHANNEL_MAX_FAILURES", 5))


# --- people are told -------------------------------------------------------------------

def notify_owner(channel: Channel, subject: str, message: str) -> None:
    """Tell the channel's owner (or the site admins) that something needs a person."""
    subject = f"[OrderHub] {channel.name}: {subject}"
    try:
        if channel.owner and channel.owner.email:
            send_mail(subject, message, None, [channel.owner.email])
        else:
            mail_admins(subject, message)
    except Exception:  # noqa: BLE001 - a mail outage must not break the sync; it is logged
        logger.exception("channel %s: could not send notification %r", channel.code, subject)


# --- health -----------------------------------------------------------------------------

def channel_pause(*, channel: Channel, reason: str, actor: str = "system:channels") -> Channel:
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        if channel.paused:
            return channel
        channel.paused = True
        channel.paused_reason = (reason or _("paused"))[:255]
        channel.paused_at = timezone.now()
        channel.save(update_fields=["paused", "paused_reason", "paused_at"])
    logger.warning("channel %s paused by %s: %s", channel.code, actor, channel.paused_reason)
    paused = channel
    # The owner and the team hear of it through the notification outbox (robot and
    # e-mail, with retries): see fulfillment.notifications.receivers.on_channel_paused.
    transaction.on_commit(lambda: channel_paused.send(
        sender=Channel, channel_id=paused.pk, code=paused.code, name=paused.name,
        reason=paused.paused_reason,
    ))
    return channel


def channel_resume(*, channel: Channel, actor: str = "system:channels") -> Channel:
    """Resume polling from the stored cursor (minus the overlap): nothing is skipped."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        channel.paused = False
        channel.paused_reason = ""
        channel.paused_at = None
        channel.consecutive_failures = 0
        channel.next_poll_at = timezone.now()
        channel.resumed_at = timezone.now()
        channel.save(update_fields=["paused", "paused_reason", "paused_at",
                                    "consecutive_failures", "next_poll_at", "resumed_at"])
    logger.info("channel %s resumed by %s", channel.code, actor)
    return channel


def _record_failure(channel: Channel, exc: ConnectorError) -> None:
    now = timezone.now()
    channel.refresh_from_db()
    channel.consecutive_failures += 1
    channel.last_error = exc.message[:2000]
    channel.last_error_at = now
    delay = min(MAX_BACKOFF_SECONDS,
                channel.poll_interval * 2 ** (channel.consecutive_failures - 1))
    channel.next_poll_at = now + dt.timedelta(seconds=delay)
    channel.save(update_fields=["consecutive_failures", "last_error", "last_error_at",
                                "next_poll_at", "last_poll_at"])
    if isinstance(exc, AuthError):
        channel_pause(channel=channel, reason=_("Authentication failed: %(error)s")
                      % {"error": exc.message[:200]})
    elif channel.consecutive_failures >= max_failures():
        channel_pause(channel=channel, reason=_("%(n)s polls in a row failed. Last error: "
                                                "%(error)s") % {"n": channel.consecutive_failures,
                                                                "error": exc.message[:150]})


