"""Orders the platform shipped before the hub picked them (``ship_on_platform``).

The seller shipped such an order from elsewhere, or before the hub knew of it:
nothing left this warehouse's shelves. So its reservation is released (not
consumed: on hand stays as it is), it comes off any active pick list (voided
and reprinted without it, as for any order leaving the queue), an open pick
task for it is abandoned, and the warehouse lead hears of it
(``order_shipped_on_platform``, which notifications turn into a team alert).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from orderhub.models import Order, OrderTransitionLog
from orderhub.services.orders import Actor
from warehouse.models import PickTask
from warehouse.services.picklists import SHIPPED_ON_PLATFORM, picklists_drop_stale
from warehouse.services.stock import stock_release
from warehouse.signals import order_shipped_on_platform

logger = logging.getLogger(__name__)


def orders_shipped_on_platform(order_ids) -> set[int]:
    """Which of ``order_ids`` the platform shipped itself (one indexed query)."""
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    if not ids:
        return set()
    return set(OrderTransitionLog.objects.filter(order_id__in=ids, transition=SHIPPED_ON_PLATFORM)
               .order_by().values_list("order_id", flat=True).distinct())


def order_leave_warehouse(*, order: Order | int, actor: Actor) -> dict | None:
    """Take a platform-shipped order out of the warehouse: stock, pick lists, pick task.

    Returns what was undone (``units_released``, ``pick_lists``, ``tasks_closed``)
    or None when the order was not shipped on the platform. Idempotent: a second
    call finds nothing left and reports zeros; the lead is told only when
    something was undone.
    """
    order_id = order.pk if isinstance(order, Order) else int(order)
    if order_id not in orders_shipped_on_platform([order_id]):
        return None
    with transaction.atomic():
        # The order row lock first, as every stock writer takes it.
        locked = Order.objects.select_for_update().get(pk=order_id)
        open_tasks = list(PickTask.objects.filter(order_id=order_id, status=PickTask.Status.OPEN)
                          .values_list("pk", flat=True))
        units = stock_release(order=locked, actor=actor, reason=_("shipped on the platform"))
        lists = picklists_drop_stale(order_ids=[order_id], actor=actor)
        report = {"order_id": order_id, "warehouse_id": locked.warehouse_id,
                  "units_released": units, "pick_lists": lists,
                  "tasks_closed": len(open_tasks)}
        if units or lists or open_tasks:
            payload = dict(report)
            transaction.on_commit(
                lambda: order_shipped_on_platform.send(sender=Order, **payload))
    return report


def orders_leave_warehouse(*, order_ids, actor: Actor) -> list[dict]:
    """``order_leave_warehouse`` for each platform-shipped order of ``order_ids``.

    One transaction per order, so one order's failure leaves the others done;
    the first failure is raised after the rest were tried (the task retries all,
    which is safe: the done ones have nothing left to undo).
    """
    reports, failed = [], None
    for order_id in sorted(orders_shipped_on_platform(order_ids)):
        try:
            report = order_leave_warehouse(order=order_id, actor=actor)
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the other orders
            logger.exception("taking order %s out of the warehouse failed", order_id)
            failed = failed or exc
            continue
        if report is not None:
            reports.append(report)
    if failed is not None:
        raise failed
    return reports
