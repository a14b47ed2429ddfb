"""Channel health rules that are not a single poll: format drift and where problems are.

Format drift: a platform changes its payload format and every order it sends
is quarantined. Each payload is counted once, whether it came by webhook, poll
or file import, by reading the channel's newest stored payloads (a payload
re-read in a poll's overlap window is the same row, so it is not counted
twice). Above the threshold the channel is paused with a reason a person
understands, and ``channel_paused`` tells its owner (team robot and e-mail,
through the notification outbox) with a link to the failing payloads.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from channels.models import Channel, RawPayload
from channels.services.health import channel_pause

logger = logging.getLogger(__name__)


def drift_streak() -> int:
    """Pause after this many payloads in a row could not be read."""
    return int(getattr(settings, "FORMAT_DRIFT_STREAK", 5))


def drift_window() -> int:
    """...or when too many of the channel's last this-many payloads could not be read."""
    return int(getattr(settings, "FORMAT_DRIFT_WINDOW", 50))


def drift_percent() -> float:
    return float(getattr(settings, "FORMAT_DRIFT_PERCENT", 20))


def problems_url(channel: Channel) -> str:
    """The channel's sync problems list, absolute when ``SITE_URL`` is set (for e-mails)."""
    path = f"{reverse('channels:problems')}?{urlencode({'channel': channel.code})}"
    return (getattr(settings, "SITE_URL", "") or "").rstrip("/") + path


def format_drift_reason(channel: Channel) -> str | None:
    """Why the channel's recent payloads look like a format change, or None.

    Counts only payloads received since the channel was last resumed (those
    before were a person's to look at already). The ratio rule needs a full
    window, so a new channel's first few problems fall to the streak rule.
    """
    window = max(drift_window(), drift_streak())
    recent = RawPayload.objects.filter(channel=channel).exclude(status=RawPayload.Status.PENDING)
    if channel.resumed_at:
        recent = recent.filter(received_at__gte=channel.resumed_at)
    statuses = list(recent.order_by("-id").values_list("status", flat=True)[:window])
    failed = [status == RawPayload.Status.QUARANTINED for status in statuses]
    streak = 0
    for bad in failed:
        if not bad:
            break
        streak += 1
    if streak >= drift_streak():
        return _("Format change? The last %(n)s payloads from this channel could not be "
                 "read.") % {"n": streak}
    size = drift_window()
    if len(failed) >= size and sum(failed[:size]) * 100 >= drift_percent() * size:
        return _("Format change? %(bad)s of the last %(total)s payloads from this channel "
                 "could not be read.") % {"bad": sum(failed[:size]), "total": size}
    return None


def check_format_drift(*, channel: Channel | int) -> str | None:
    """Pause the channel when its recent payloads stopped parsing; returns the reason.

    Cheap enough to run after every quarantine (two small indexed queries).
    """
    channel_id = channel.pk if isinstance(channel, Channel) else int(channel)
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None or channel.paused or not channel.enabled:
        return None
    reason = format_drift_reason(channel)
    if reason is None:
        return None
    last_error = (RawPayload.objects.filter(channel=channel,
                                            status=RawPayload.Status.QUARANTINED)
                  .order_by("-id").values_list("error", flat=True).first() or "")
    full = _("%(reason)s Last error: %(error)s") % {"reason": reason, "error": last_error[:120]}
    logger.warning("channel %s: format drift, pausing: %s", channel.code, full)
    channel_pause(channel=channel, reason=full)
    return full
