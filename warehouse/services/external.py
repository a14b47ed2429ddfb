"""Importing on-hand quantities from an ERP as ledger adjustments.

The ERP owns the physical count; the hub owns reservations. Each import
writes one ``sync`` movement per SKU whose figure changed, so the ledger
still explains every unit. When the ERP cannot be read, nothing changes: the
last known stock is used and the warehouse shows "stock stale since …".
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from orderhub.models import Order, OrderStatus
from orderhub.services.events import order_event_record
from orderhub.services.orders import Actor
from orderhub.stored_text import register_stored_texts
from warehouse.adapters import StockSourceError, adapter_for
from warehouse.models import (
    SKU,
    Reservation,
    StockLevel,
    StockMovement,
    StockSource,
    Warehouse,
)
from warehouse.services.stock import StockError, order_stock_needs, stock_count

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    ok: bool
    changed: int = 0
    unchanged: int = 0
    unknown_skus: list[str] = field(default_factory=list)
    # SKUs the ERP counts below what is already promised to orders: on hand is
    # kept at the reserved figure and someone must look.
    conflicts: list[dict] = field(default_factory=list)
    error: str = ""


def external_stock_import(*, warehouse_id: int, actor: Actor, adapter=None) -> ImportResult:
    warehouse = Warehouse.objects.get(pk=warehouse_id)
    source = StockSource.objects.filter(warehouse=warehouse).first()
    if source is None:
        return ImportResult(ok=False, error="no external stock source")
    adapter = adapter or adapter_for(source)
    try:
        figures = adapter.fetch_on_hand()
    except StockSourceError as exc:
        now = timezone.now()
        Warehouse.objects.filter(pk=warehouse.pk).update(
            stock_stale_since=F("stock_stale_since") if warehouse.stock_stale_since
            else (warehouse.stock_synced_at or now),
            stock_sync_error=str(exc)[:500],
        )
        logger.warning("stock import for %s failed: %s", warehouse.code, exc)
        return ImportResult(ok=False, error=str(exc))
    finally:
        adapter.close()

    result = ImportResult(ok=True)
    skus = {s.code: s for s in SKU.objects.filter(code__in=figures)}
    result.unknown_skus = sorted(set(figures) - skus.keys())
    # Rows the ERP left out hold nothing (Kingdee's query skips zero rows).
    absent = (StockLevel.objects.filter(warehouse=warehouse)
              .filter(~Q(sku__code__in=list(figures)), on_hand__gt=0).select_related("sku"))
    wanted = [(skus[code], qty) for code, qty in figures.items() if code in skus]
    wanted += [(level.sku, 0) for level in absent]
    reason = f"ERP import ({source.get_kind_display()})"
    _mirror_update(warehouse, wanted, actor=actor, reason=reason, result=result)
    Warehouse.objects.filter(pk=warehouse.pk).update(
        stock_synced_at=timezone.now(), stock_stale_since=None, stock_sync_error="",
    )
    if result.conflicts:
        logger.warning("stock import for %s: ERP below reserved for %s", warehouse.code,
                       [c["sku_code"] for c in result.conflicts])
    return result


def _mirror_update(warehouse: Warehouse, wanted, *, actor: Actor, reason: str,
                   result: ImportResult) -> None:
    """Set each ``(sku, units)`` of ``wanted`` on hand as a ``sync`` movement, one
    short transaction per SKU; never below what orders already hold."""
    for sku, qty in wanted:
        with transaction.atomic():
            level, _created = StockLevel.objects.get_or_create(warehouse=warehouse, sku=sku)
            level = StockLevel.objects.select_for_update().get(pk=level.pk)
            target = max(qty, 0)
            if target < level.reserved:
                result.conflicts.append({"sku_code": sku.code, "erp": qty,
                                         "reserved": level.reserved})
                target = level.reserved
            movement = stock_count(warehouse=warehouse, sku=sku, counted=target, actor=actor,
                                   reason=reason, kind=StockMovement.Kind.SYNC)
        if movement is None:
            result.unchanged += 1
        else:
            result.changed += 1


# --- the per-order check at allocation ------------------------------------------------
# The mirror is up to ``interval_minutes`` old. With ``check_each_order`` on, the
# single-order allocation (``order_allocate``) first asks the ERP for that order's
# SKUs only and writes the answer into the mirror, so the reservation that follows
# is made against the ERP's figure. The bulk path (``stock_reserve_batch``) does
# not: one ERP round trip per order would make a 5,000-order batch take hours, so
# it reserves against the mirror, which the periodic import keeps fresh.


# Written on the order's timeline (stored filled in, translated when shown).
ERP_UNREACHABLE = gettext_noop("ERP unreachable, used the mirror from %(time)s.")
ERP_UNREACHABLE_NEVER_IMPORTED = gettext_noop(
    "ERP unreachable, used the stock kept in the hub (never imported from the ERP).")
# The reason on the stock movements the check writes.
ERP_CHECK_REASON = gettext_noop("ERP check for order %(number)s")
register_stored_texts(ERP_UNREACHABLE, ERP_CHECK_REASON)


@dataclass
class OrderCheck:
    checked: bool  # False: the option is off (or nothing to ask); the mirror was used as is
    ok: bool = True  # False: the ERP did not answer; the mirror was used
    figures: dict[str, int] = field(default_factory=dict)
    error: str = ""


def erp_check_order_stock(*, order: Order | int, warehouse: Warehouse, actor: Actor,
                          adapter=None) -> OrderCheck:
    """Confirm in the ERP the on-hand stock of ``order``'s SKUs before it is reserved.

    Does nothing unless the warehouse's stock source has ``check_each_order``
    on. On success the mirror rows of those SKUs (and only those) take the
    ERP's figures. When the ERP fails or is slower than
    ``check_timeout_seconds``, nothing changes and the order's timeline says
    that the mirror (and from when) was used instead.
    """
    source = StockSource.objects.filter(warehouse=warehouse, enabled=True,
                                        check_each_order=True).first()
    if source is None:
        return OrderCheck(checked=False)
    order_id = order.pk if isinstance(order, Order) else int(order)
    if (Order.objects.filter(pk=order_id)
            .exclude(status__in=[OrderStatus.PAID, OrderStatus.OUT_OF_STOCK]).exists()
            or Reservation.objects.filter(order_id=order_id,
                                          status=Reservation.Status.ACTIVE).exists()):
        return OrderCheck(checked=False)  # nothing will be reserved: no need to ask
    try:
        needs = order_stock_needs(order_id)
    except StockError:
        return OrderCheck(checked=False)  # the reservation reports it, as without the check
    skus = list(SKU.objects.filter(pk__in=needs).order_by("code"))
    if not skus:
        return OrderCheck(checked=False)
    codes = [sku.code for sku in skus]
    adapter = adapter or adapter_for(source, deadline_seconds=source.check_timeout_seconds)
    try:
        figures = adapter.fetch_on_hand_for(codes)
    except StockSourceError as exc:
        _record_unreachable(order_id, warehouse, actor, exc)
        return OrderCheck(checked=True, ok=False, error=str(exc))
    finally:
        adapter.close()
    reason = _(ERP_CHECK_REASON) % {"number": _order_number(order, order_id)}
    result = ImportResult(ok=True)
    _mirror_update(warehouse, [(sku, figures.get(sku.code, 0)) for sku in skus], actor=actor,
                   reason=reason, result=result)
    if result.conflicts:
        logger.warning("ERP check for order %s in %s: ERP below reserved for %s", order_id,
                       warehouse.code, [c["sku_code"] for c in result.conflicts])
    return OrderCheck(checked=True, figures={sku.code: figures.get(sku.code, 0) for sku in skus})


def _order_number(order, order_id: int) -> str:
    if isinstance(order, Order):
        return order.number
    return Order.objects.values_list("number", flat=True).get(pk=order_id)


def _record_unreachable(order_id: int, warehouse: Warehouse, actor: Actor, exc) -> None:
    synced = Warehouse.objects.values_list("stock_synced_at", flat=True).get(pk=warehouse.pk)
    if synced:
        # A language-neutral time, so the timeline can translate the stored text.
        message = _(ERP_UNREACHABLE) % {
            "time": timezone.localtime(synced).strftime("%Y-%m-%d %H:%M")}
    else:
        message = _(ERP_UNREACHABLE_NEVER_IMPORTED)
    logger.warning("ERP check for order %s in %s failed: %s", order_id, warehouse.code, exc)
    with transaction.atomic():
        order_event_record(order=order_id, kind="erp_unreachable", actor=actor, message=message,
                           data={"error": str(exc)[:500], "warehouse": warehouse.code,
                                 "mirror_synced_at": synced.isoformat() if synced else None})


def sources_due(now: dt.datetime | None = None) -> list[int]:
    """Warehouse ids whose enabled source has not synced within its interval."""
    now = now or timezone.now()
    due = []
    for source in StockSource.objects.filter(enabled=True, warehouse__active=True).select_related(
        "warehouse"
    ):
        last = source.warehouse.stock_synced_at
        if last is None or now - last >= dt.timedelta(minutes=source.interval_minutes):
            due.append(source.warehouse_id)
    return due
