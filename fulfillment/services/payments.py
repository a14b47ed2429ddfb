"""Payment timeout: orders nobody paid for in time are cancelled and give back stock."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.models import Channel
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import Actor, OrderServiceError, order_transition
from warehouse.services.stock import stock_release

logger = logging.getLogger(__name__)

ACTOR = "system:payment-timeout"
DEFAULT_TIMEOUT_MINUTES = 1440


def default_timeout_minutes() -> int:
    return int(getattr(settings, "PAYMENT_TIMEOUT_MINUTES", DEFAULT_TIMEOUT_MINUTES))


def channel_timeout_minutes(config, default: int | None = None) -> int | None:
    """The channel's ``payment_timeout_minutes`` setting; None means never time out.

    A missing or unreadable value falls back to the default; 0 turns the
    timeout off for that channel.
    """
    default = default_timeout_minutes() if default is None else default
    raw = (config or {}).get("payment_timeout_minutes") if isinstance(config, dict) else None
    if raw is None or raw == "":
        return default
    try:
        minutes = int(raw)
    except (TypeError, ValueError):
        logger.warning("unreadable payment_timeout_minutes %r; using %s", raw, default)
        return default
    if minutes < 0:
        return default
    return minutes or None


def orders_cancel_unpaid(*, now: dt.datetime | None = None, actor: Actor = ACTOR,
                         limit: int = 1000) -> list[int]:
    """Cancel ``pending_payment`` orders older than their channel's timeout.

    Each order is cancelled through ``order_transition`` (so it is logged and
    the warehouse receiver releases anything it held), and its reservation is
    released here too in case the order held stock. Returns the cancelled ids.
    An order paid meanwhile is skipped, not an error.
    """
    now = now or timezone.now()
    default = default_timeout_minutes()
    cancelled: list[int] = []
    for channel_id, config in Channel.objects.values_list("pk", "config").order_by("pk"):
        minutes = channel_timeout_minutes(config, default)
        if minutes is None:
            continue
        cutoff = now - dt.timedelta(minutes=minutes)
        due = list(Order.objects.filter(
            channel_id=channel_id, status=OrderStatus.PENDING_PAYMENT, placed_at__lt=cutoff,
        ).order_by("placed_at", "pk").values_list("pk", flat=True)[: limit - len(cancelled)])
        reason = _("Not paid within %(minutes)s minutes.") % {"minutes": minutes}
        for order_id in due:
            try:
                order_transition(order=order_id, name="cancel", actor=actor, reason=reason,
                                 expected_status=OrderStatus.PENDING_PAYMENT)
            except OrderServiceError:
                # Paid (or cancelled) between the query and now: nothing to do.
                continue
            stock_release(order=order_id, actor=actor, reason=reason)
            cancelled.append(order_id)
        if len(cancelled) >= limit:
            break
    return cancelled
