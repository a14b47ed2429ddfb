"""Order and stock events become webhook deliveries.

Every signal here is sent after the transaction that caused it committed. Each
receiver looks up the interested subscriptions first (one query, no transaction;
nothing more when no subscription wants the event) and writes all its deliveries
in one transaction of its own, queued after that commit
(``services.deliveries_record``).
Batches (a bulk import) cost a constant number of queries, not one per order.
Receivers never raise: the event has happened; a failure is logged. An order event
they miss (a crash, an error) is written later by the minute sweep
``services.missed_events_record`` from the order and its transition log rows; both
paths key a delivery on that row, so an event never gets two.
"""

from __future__ import annotations

import functools
import logging

from django.utils import timezone

from orderhub.models import Order, OrderTransitionLog
from orderhub.signals import orders_created, orders_status_changed
from warehouse import signals as warehouse_signals
from warehouse.models import Warehouse
from webhooks import payloads
from webhooks.models import STATUS_EVENTS, Delivery, EventType, Subscription
from webhooks.services import NewDelivery, deliveries_record, subscriptions_for

logger = logging.getLogger(__name__)


def _safe(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            # No transaction here: most events interest no subscription, and finding that
            # out must not take a write lock. ``deliveries_record`` writes in one.
            func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the event happened; a failed webhook must not undo it
            logger.exception("webhook receiver %s failed", func.__name__)
    return wrapper


def _active() -> list[Subscription]:
    return [s for s in Subscription.objects.filter(active=True) if s.events]


def _orders(order_ids) -> dict[int, Order]:
    return Order.objects.select_related("channel").in_bulk(list(set(order_ids)))


@_safe
def on_orders_created(sender, order_ids, actor="", **kwargs):
    subscriptions = subscriptions_for(EventType.ORDER_CREATED, _active())
    if not subscriptions:
        return
    now = timezone.now()
    orders = _orders(order_ids)
    items = []
    for order_id in order_ids:
        order = orders.get(order_id)
        if order is None:
            continue
        for subscription in subscriptions:
            items.append(NewDelivery(
                subscription=subscription, event=EventType.ORDER_CREATED, occurred_at=now,
                order_id=order.pk, source=Delivery.Source.ORDER, source_id=order.pk,
                data={"order": payloads.order_summary(
                    order, buyer_data=subscription.include_buyer_data)}))
    deliveries_record(items)


def _events_for(to_status: str) -> list[str]:
    events = [EventType.ORDER_STATUS_CHANGED]
    if to_status in STATUS_EVENTS:
        events.append(STATUS_EVENTS[to_status])
    return events


def _log_ids(changes) -> dict[tuple[int, str, str], int]:
    """The transition log row of each change (its newest matching row), in one query: the
    key the missed-event sweep uses too, so the two never both write a delivery."""
    rows = (OrderTransitionLog.objects
            .filter(order_id__in={c.order_id for c in changes},
                    to_status__in={c.to_status for c in changes})
            .values_list("pk", "order_id", "transition", "to_status"))
    found: dict[tuple[int, str, str], int] = {}
    for pk, order_id, transition, to_status in rows:
        key = (order_id, transition, to_status)
        found[key] = max(pk, found.get(key, 0))
    return found


@_safe
def on_orders_status_changed(sender, changes, actor="", **kwargs):
    active = _active()
    wanted = {event: subscriptions_for(event, active) for event in EventType.values}
    if not any(wanted[event] for event in wanted if event != EventType.ORDER_CREATED):
        return
    relevant = [change for change in changes
                if any(wanted[event] for event in _events_for(change.to_status))]
    if not relevant:
        return
    now = timezone.now()
    orders = _orders(change.order_id for change in relevant)
    log_ids = _log_ids(relevant)
    items = []
    for change in relevant:
        order = orders.get(change.order_id)
        if order is None:
            continue
        log_id = log_ids.get((change.order_id, change.transition, change.to_status))
        for event in _events_for(change.to_status):
            for subscription in wanted[event]:
                items.append(NewDelivery(
                    subscription=subscription, event=event, occurred_at=now, order_id=order.pk,
                    source=Delivery.Source.TRANSITION if log_id else "", source_id=log_id,
                    data={"order": payloads.order_summary(
                              order, buyer_data=subscription.include_buyer_data),
                          "change": {"transition": change.transition,
                                     "from_status": change.from_status,
                                     "to_status": change.to_status, "actor": actor}}))
    deliveries_record(items)


@_safe
def on_stock_low(sender, warehouse_id, sku_id, sku_code, available, safety, **kwargs):
    subscriptions = subscriptions_for(EventType.STOCK_LOW, _active())
    if not subscriptions:
        return
    warehouse = Warehouse.objects.filter(pk=warehouse_id).values("code", "name").first() or {}
    data = {"stock": {"warehouse": warehouse.get("code"), "warehouse_name": warehouse.get("name"),
                      "sku": sku_code, "available": available, "safety": safety}}
    now = timezone.now()
    deliveries_record(NewDelivery(subscription=subscription, event=EventType.STOCK_LOW,
                                  occurred_at=now, data=data) for subscription in subscriptions)


def connect() -> None:
    uid = "webhooks."
    orders_created.connect(on_orders_created, dispatch_uid=uid + "created")
    orders_status_changed.connect(on_orders_status_changed, dispatch_uid=uid + "status")
    warehouse_signals.stock_low.connect(on_stock_low, dispatch_uid=uid + "stock_low")
