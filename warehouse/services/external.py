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

from orderhub.services.orders import Actor
from warehouse.adapters import StockSourceError, adapter_for
from warehouse.models import SKU, StockLevel, StockMovement, StockSource, Warehouse
from warehouse.services.stock import stock_count

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
    Warehouse.objects.filter(pk=warehouse.pk).update(
        stock_synced_at=timezone.now(), stock_stale_since=None, stock_sync_error="",
    )
    if result.conflicts:
        logger.warning("stock import for %s: ERP below reserved for %s", warehouse.code,
                       [c["sku_code"] for c in result.conflicts])
    return result


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
