"""CSV stock counts: parse and check every row first, then apply all or nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from orderhub.services.orders import Actor
from warehouse.models import SKU, StockLevel, Warehouse
from warehouse.services.stock import StockError, stock_count

MAX_ROWS = 20000
REQUIRED = ("warehouse", "sku", "counted")


@dataclass
class CountRow:
    line: int
    warehouse_code: str
    sku_code: str
    counted_raw: str
    counted: int | None = None
    on_hand: int | None = None
    reserved: int = 0
    warehouse: Warehouse | None = None
    sku: SKU | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def delta(self) -> int | None:
        if self.counted is None or self.on_hand is None:
            return None
        return self.counted - self.on_hand


@dataclass
class CountPreview:
    rows: list[CountRow]
    errors: list[str]  # problems with the file itself

    @property
    def ok(self) -> bool:
        return not self.errors and all(not r.errors for r in self.rows)

    @property
    def changes(self) -> list[CountRow]:
        return [r for r in self.rows if r.delta]


def count_preview(content: bytes | str) -> CountPreview:
    """Read a CSV with columns ``warehouse,sku,counted`` and check each row."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                content = content.decode("gb18030")  # Excel on Chinese Windows saves GBK
            except UnicodeDecodeError:
                return CountPreview([], [_("The file is not UTF-8 or GBK text.")])
    reader = csv.DictReader(io.StringIO(content))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return CountPreview([], [_("Missing columns: %(cols)s (need warehouse, sku, counted).")
                                 % {"cols": ", ".join(missing)}])
    reader.fieldnames = header
    rows: list[CountRow] = []
    for n, raw in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            return CountPreview(rows, [_("At most %(n)s rows per file.") % {"n": MAX_ROWS}])
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        rows.append(CountRow(n, (raw.get("warehouse") or "").strip(),
                             (raw.get("sku") or "").strip(), (raw.get("counted") or "").strip()))
    warehouses = Warehouse.objects.in_bulk({r.warehouse_code for r in rows}, field_name="code")
    skus = SKU.objects.in_bulk({r.sku_code for r in rows}, field_name="code")
    levels = {
        (lv.warehouse_id, lv.sku_id): lv
        for lv in StockLevel.objects.filter(warehouse__in=warehouses.values(),
                                            sku__in=skus.values())
    }
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        row.warehouse = warehouses.get(row.warehouse_code)
        row.sku = skus.get(row.sku_code)
        if row.warehouse is None:
            row.errors.append(_("Unknown warehouse “%(code)s”.") % {"code": row.warehouse_code})
        if row.sku is None:
            row.errors.append(_("Unknown SKU “%(code)s”.") % {"code": row.sku_code})
        elif row.sku.is_kit:
            row.errors.append(_("%(code)s is a kit; count its components.")
                              % {"code": row.sku_code})
        try:
            row.counted = int(row.counted_raw)
            if row.counted < 0:
                row.errors.append(_("The count cannot be negative."))
                row.counted = None
        except ValueError:
            row.errors.append(_("“%(value)s” is not a whole number.")
                              % {"value": row.counted_raw})
        key = (row.warehouse_code, row.sku_code)
        if key in seen:
            row.errors.append(_("Same SKU and warehouse as line %(n)s.") % {"n": seen[key]})
        seen.setdefault(key, row.line)
        if row.warehouse and row.sku:
            level = levels.get((row.warehouse.pk, row.sku.pk))
            row.on_hand = level.on_hand if level else 0
            row.reserved = level.reserved if level else 0
            if row.counted is not None and row.counted < row.reserved:
                row.errors.append(
                    _("%(n)s units are promised to orders; a count below that needs a look first.")
                    % {"n": row.reserved}
                )
    return CountPreview(rows, [])


def count_apply(*, content: bytes | str, actor: Actor, reason: str = "") -> CountPreview:
    """Apply a checked count file in one transaction; any bad row applies nothing."""
    preview = count_preview(content)
    if not preview.ok:
        raise StockError(_("The file has errors; nothing was changed."))
    reason = reason.strip() or _("stock count upload")
    with transaction.atomic():
        for row in preview.rows:
            stock_count(warehouse=row.warehouse, sku=row.sku, counted=row.counted, actor=actor,
                        reason=reason)
    return preview
