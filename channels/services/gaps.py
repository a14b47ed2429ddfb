"""Gap detection: compare the platform's daily order counts with the hub's."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors import get_connector
from channels.models import Channel, GapAlert
from channels.services.health import notify_owner
from orderhub.models import Order


def gap_check(*, channel: Channel, day: dt.date, connector=None) -> GapAlert | None:
    """Compare the platform's order count for ``day`` (local date) with the hub's."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=1)
    connector = connector or get_connector(channel)
    platform_count = connector.count_orders(start=start, end=end)
    if platform_count is None:
        return None
    hub_count = Order.objects.filter(channel=channel, placed_at__gte=start,
                                     placed_at__lt=end).count()
    if platform_count <= hub_count:
        GapAlert.objects.filter(channel=channel, day=day, resolved=False).update(resolved=True)
        return None
    alert, _created = GapAlert.objects.update_or_create(
        channel=channel, day=day,
        defaults={"platform_count": platform_count, "hub_count": hub_count, "resolved": False})
    notify_owner(channel, _("possible missing orders"), _(
        "On %(day)s the platform reports %(platform)s orders but the hub holds %(hub)s: "
        "%(missing)s possibly missing. Check the channel's sync problems and run a poll."
    ) % {"day": day, "platform": platform_count, "hub": hub_count, "missing": alert.missing})
    return alert


def gap_check_days() -> int:
    return max(1, int(getattr(settings, "GAP_CHECK_DAYS", 7)))


def gap_check_window(*, channel: Channel, days: int | None = None, today: dt.date | None = None,
                     connector=None) -> list[GapAlert]:
    """``gap_check`` for each of the last ``days`` full local days (yesterday backwards).

    A late-arriving order (a webhook lost, a poll that never came back) can belong
    to any recent day, not only yesterday; an alert for a day that has caught up
    is resolved. Cost: one count call to the platform per day.
    """
    days = days or gap_check_days()
    today = today or timezone.localdate()
    own_connector = connector is None
    connector = connector or get_connector(channel)
    alerts = []
    try:
        for back in range(1, days + 1):
            alert = gap_check(channel=channel, day=today - dt.timedelta(days=back),
                              connector=connector)
            if alert is not None:
                alerts.append(alert)
    finally:
        if own_connector:
            connector.close()
    return alerts
