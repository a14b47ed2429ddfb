"""Warehouse Celery tasks: thin wrappers that take ids and call a service."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from orderhub.models import Order, OrderStatus
from warehouse.models import Reservation
from warehouse.services.external import external_stock_import, sources_due
from warehouse.services.picklists import picklists_drop_stale
from warehouse.services.platform_shipped import order_leave_warehouse, orders_leave_warehouse
from warehouse.services.presale import presale_release_due
from warehouse.services.stock import StockError, order_allocate, stock_consume, stock_release
from warehouse.services.transfers import transfer_retry_orders

logger = logging.getLogger(__name__)

# Who undoes the warehouse's work for an order the platform shipped itself.
PLATFORM_ACTOR = "system:shipped-on-platform"

# Retried: what a later try can fix (a lost connection, a deadlock or serialization
# failure). Anything else (StockError, IntegrityError, a bug) fails at once and is
# logged; the reservation sweep catches what a failed release/consume left.
RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 5,
         "retry_backoff_max": 600, "retry_jitter": True, "max_retries": 8}


@shared_task(name="warehouse.tasks.release_order_stock", ignore_result=True, **RETRY)
def release_order_stock(order_id: int) -> int:
    """Release a cancelled order's reservation (a no-op when nothing is held)."""
    status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
    if status != OrderStatus.CANCELLED:
        return 0
    return stock_release(order=order_id, actor="system:cancel", reason="order cancelled")


@shared_task(name="warehouse.tasks.consume_order_stock", ignore_result=True, **RETRY)
def consume_order_stock(order_id: int) -> int:
    """Take a shipped order's reserved units off the shelf (a no-op if already done).

    An order the platform shipped itself left from elsewhere: its units are
    released instead (``order_leave_warehouse``), never taken off this shelf.
    """

    status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
    if status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        return 0
    report = order_leave_warehouse(order=order_id, actor=PLATFORM_ACTOR)
    if report is not None:
        return report["units_released"]
    return stock_consume(order=order_id, actor="system:ship", reason="order shipped")


@shared_task(name="warehouse.tasks.leave_warehouse_shipped_on_platform", ignore_result=True,
             **RETRY)
def leave_warehouse_shipped_on_platform(order_ids: list[int]) -> int:
    """Release the stock, pick lists and pick tasks of orders the platform shipped (idempotent)."""
    return len(orders_leave_warehouse(order_ids=order_ids, actor=PLATFORM_ACTOR))


@shared_task(name="warehouse.tasks.drop_stale_pick_list_orders", ignore_result=True, **RETRY)
def drop_stale_pick_list_orders(order_ids: list[int]) -> int:
    """Take orders that left the pick queue off their active pick lists (idempotent)."""
    return len(picklists_drop_stale(order_ids=order_ids, actor="system:picklists"))


@shared_task(name="warehouse.tasks.sweep_reservations", ignore_result=True)
def sweep_reservations() -> int:
    """Catch reservations left behind when a cancel or ship receiver failed.

    Cheap: one indexed query over active reservations joined to their orders.
    """
    done = 0
    stale = Reservation.objects.filter(status=Reservation.Status.ACTIVE).filter(
        order__status__in=[OrderStatus.CANCELLED, OrderStatus.SHIPPED,
                           OrderStatus.DELIVERED, OrderStatus.COMPLETED]
    ).values_list("order_id", "order__status").distinct()
    for order_id, status in stale:
        job = release_order_stock if status == OrderStatus.CANCELLED else consume_order_stock
        done += job.run(order_id)
    return done


@shared_task(name="warehouse.tasks.retry_out_of_stock", ignore_result=True)
def retry_out_of_stock(limit: int = 200) -> int:
    """Try again to allocate out-of-stock orders in their warehouse (oldest first)."""
    restocked = 0
    orders = (Order.objects.filter(status=OrderStatus.OUT_OF_STOCK, warehouse__isnull=False)
              .select_related("warehouse").order_by("paid_at", "pk")[:limit])
    for order in orders:
        try:
            result = order_allocate(order=order.pk, warehouse=order.warehouse,
                                    actor="system:restock")
        except StockError:
            logger.warning("order %s cannot be allocated", order.pk, exc_info=True)
            continue
        restocked += result.ok
    return restocked


@shared_task(name="warehouse.tasks.import_external_stock", ignore_result=True)
def import_external_stock(warehouse_id: int) -> None:
    external_stock_import(warehouse_id=warehouse_id, actor="system:erp-import")


@shared_task(name="warehouse.tasks.import_all_external_stock", ignore_result=True)
def import_all_external_stock() -> int:
    """Enqueue one import per enabled source that is due."""
    ids = sources_due()
    for wh_id in ids:
        import_external_stock.delay(wh_id)
    return len(ids)


@shared_task(name="warehouse.tasks.release_presale_orders", ignore_result=True, **RETRY)
def release_presale_orders() -> int:
    """Beat: release the presale orders whose time has come (idempotent)."""
    return len(presale_release_due())


@shared_task(name="warehouse.tasks.retry_transfer_orders", ignore_result=True, **RETRY)
def retry_transfer_orders(transfer_id: int) -> int:
    """Allocate again the orders a received transfer request was waited on by."""
    return len(transfer_retry_orders(transfer_id=transfer_id))
