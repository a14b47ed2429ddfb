"""CSV / XLSX channels: per-channel column mapping, grouping rows into orders, row errors.

The channel's ``config["csv"]`` is its template::

    {"columns": {"order_id": "订单号", "buyer_name": "买家", "phone": "手机号",
                 "province": "省", "city": "市", "district": "区", "address": "详细地址",
                 "sku": "商家编码", "name": "商品名称", "quantity": "数量", "price": "单价",
                 "placed_at": "下单时间", "status": "订单状态", "message": "买家留言",
                 "postcode": "邮编", "shipping_fee": "运费", "total": "实付金额",
                 "carrier": "快递公司", "tracking_number": "快递单号", "shipped_at": "发货时间"},
     "unpaid_values": ["待付款"], "cancelled_values": ["已取消", "交易关闭"],
     "legacy": false, "legacy_window_days": 90}

Keys missing from ``columns`` default to the key itself as the column title.
A paid order whose row carries a tracking number was shipped already (a
legacy system or the platform's own backend did it): it enters as
``shipped`` with that carrier and tracking number and is never picked.
One order spans several rows (one per line) sharing the order id. Each order's
rows are stored as one raw payload, so a broken row costs only its own order.

Legacy history (``"legacy": true``) keeps the legacy id. Only orders placed
within ``legacy_window_days`` (default 90) become hub orders; older ones are
archived as ``LegacyOrder`` rows, searchable by buyer phone, so years of
finished orders do not flood the order list, the queues and the reports.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.connectors.base import (
    CANCELLED,
    PAID,
    SHIPPED,
    UNPAID,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    NormalizedShipment,
    money,
    quantity,
)
from channels.ingest.batch import ingest_items
from channels.ingest.mapping import clean_text
from channels.ingest.raw import canonical_json, quarantine, store_raw
from channels.ingest.results import REJECTED, IngestResult
from channels.models import Channel, LegacyOrder, RawPayload
from orderhub.models import Order, normalize_phone

REQUIRED = ["order_id", "sku", "quantity"]
FIELDS = ["order_id", "buyer_name", "phone", "province", "city", "district", "address",
          "postcode", "sku", "name", "quantity", "price", "placed_at", "status", "message",
          "shipping_fee", "total", "gift", "country", "carrier", "tracking_number",
          "shipped_at"]
GIFT_VALUES = ("1", "y", "yes", "true", "是", "赠品")
DEFAULT_UNPAID = ["unpaid", "pending", "待付款", "等待买家付款"]
DEFAULT_CANCELLED = ["cancelled", "canceled", "refunded", "已取消", "交易关闭", "已退款"]
DEFAULT_LEGACY_WINDOW_DAYS = 90
# Rows per query when checking and archiving legacy orders (well under SQLite's
# bound-variable limit; ~500 archived orders ≈ 1 MB of JSON).
LEGACY_CHUNK = 500


class FileError(Exception):
    """The file as a whole cannot be read (encoding, format, missing columns)."""


def template(channel: Channel) -> dict:
    return dict((channel.config or {}).get("csv") or {})


def legacy_window_days(channel: Channel) -> int | None:
    """Days of legacy history imported as live orders, or None for a non-legacy template."""
    tpl = template(channel)
    if not tpl.get("legacy"):
        return None
    value = tpl.get("legacy_window_days", DEFAULT_LEGACY_WINDOW_DAYS)
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        days = int(value)
        if days < 0:
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise FileError(
            _("The channel's legacy_window_days setting must be a whole number of days, not "
              "“%(value)s”. Fix it in the channel settings.") % {"value": value}) from exc
    return days


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030, the superset of the GBK Chinese sites export."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(_("The file is neither UTF-8 nor GBK text. Save it as CSV (UTF-8) and "
                      "try again."))


def read_rows(name: str, data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV or XLSX file, as text."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        # Loaded only for a spreadsheet: openpyxl takes a noticeable time to import, and
        # every web and worker process imports this module (no import cycle needs it).
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
            raise FileError(_("This is not a readable Excel file (%(error)s).")
                            % {"error": type(exc).__name__}) from exc
        rows = [["" if v is None else (v.isoformat() if isinstance(v, dt.datetime) else str(v))
                 for v in row] for row in book.active.iter_rows(values_only=True)]
    else:
        text = decode(data)
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [r for r in rows if any(str(c).strip() for c in r)]
    if not rows:
        raise FileError(_("The file is empty."))
    return [str(c).strip() for c in rows[0]], rows[1:]


@dataclass
class CsvOutcome:
    result: IngestResult
    row_errors: list[tuple[int, str]] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    # Legacy orders older than the window: newly archived / already in the archive.
    archived: int = 0
    archived_unchanged: int = 0


def group_orders(channel: Channel, header: list[str], rows: list[list[str]]
                 ) -> tuple[list[dict], list[tuple[int, str]]]:
    """Rows → order payloads ({"order_id", "rows": [...]}) plus whole-row errors."""
    columns = {key: (template(channel).get("columns") or {}).get(key, key) for key in FIELDS}
    index = {title: i for i, title in enumerate(header)}
    missing = [columns[k] for k in REQUIRED if columns[k] not in index]
    if missing:
        raise FileError(_("These columns are missing: %(cols)s. The file has: %(have)s.")
                        % {"cols": ", ".join(missing), "have": ", ".join(header)})
    orders: dict[str, dict] = {}
    errors = []
    for n, row in enumerate(rows, start=2):
        values = {key: (row[index[title]].strip() if title in index and index[title] < len(row)
                        else "") for key, title in columns.items()}
        values["_row"] = n
        if not values["order_id"]:
            errors.append((n, _("Row %(n)s has no order id.") % {"n": n}))
            continue
        orders.setdefault(values["order_id"], {"order_id": values["order_id"], "rows": []})
        orders[values["order_id"]]["rows"].append(values)
    return list(orders.values()), errors


class CsvNormalizer:
    """Turns one grouped CSV order into a NormalizedOrder (errors name the row)."""

    def __init__(self, channel: Channel):
        self.channel = channel
        tpl = template(channel)
        self.unpaid = {v.lower() for v in tpl.get("unpaid_values", DEFAULT_UNPAID)}
        self.cancelled = {v.lower() for v in tpl.get("cancelled_values", DEFAULT_CANCELLED)}
        self.legacy = bool(tpl.get("legacy"))

    def external_id(self, raw: dict) -> str:
        return str(raw.get("order_id", ""))

    def updated_at(self, raw: dict):
        return None

    def _placed(self, value: str, row: int) -> dt.datetime:
        if not value:
            return timezone.now()
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                    "%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S"):
            try:
                naive = dt.datetime.strptime(value, fmt)
            except ValueError:
                continue
            # Chinese platforms export local (Asia/Shanghai) times without an offset.
            return timezone.make_aware(naive, timezone.get_current_timezone())
        raise NormalizationError(_("row %(n)s: “%(v)s” is not a date") % {"n": row, "v": value})

    def normalize(self, raw: dict) -> NormalizedOrder:
        rows = raw.get("rows") if isinstance(raw, dict) else None
        if not rows:
            raise NormalizationError("no rows")
        first = rows[0]
        lines = []
        for i, row in enumerate(rows):
            n = row.get("_row", i + 2)
            if not row.get("sku"):
                raise NormalizationError(_("row %(n)s: no SKU") % {"n": n})
            qty = quantity(row.get("quantity"), f"row {n}: quantity")
            price = money(row.get("price") or "0", f"row {n}: price")
            gift = str(row.get("gift", "")).strip().lower() in GIFT_VALUES
            lines.append(NormalizedLine(
                external_line_id=f"{raw['order_id']}-{i + 1}", platform_sku=row["sku"],
                name=row.get("name") or row["sku"], quantity=qty, unit_price=price,
                is_gift=gift or price == 0,
            ))
        status_text = str(first.get("status", "")).strip().lower()
        status = (UNPAID if status_text in self.unpaid
                  else CANCELLED if status_text in self.cancelled else PAID)
        total = first.get("total")
        tracking = clean_text(str(first.get("tracking_number") or ""))
        shipments = []
        if tracking and status == PAID:
            shipped_at = first.get("shipped_at") or ""
            shipments.append(NormalizedShipment(
                carrier=clean_text(str(first.get("carrier") or "")), tracking_number=tracking,
                shipped_at=self._placed(shipped_at, first.get("_row", 2)) if shipped_at
                else None))
        return NormalizedOrder(
            fulfillment=SHIPPED if shipments else "",
            shipments=shipments,
            external_id=str(raw["order_id"])[:64],
            legacy_id=str(raw["order_id"])[:64] if self.legacy else "",
            status=status,
            updated_at=None,
            placed_at=self._placed(first.get("placed_at", ""), first.get("_row", 2)),
            lines=lines,
            currency=(self.channel.config or {}).get("currency", "CNY"),
            total=money(total, f"row {first.get('_row')}: total") if total else None,
            shipping_fee=money(first.get("shipping_fee") or "0",
                               f"row {first.get('_row')}: shipping fee"),
            buyer_name=first.get("buyer_name", ""),
            buyer_phone=first.get("phone", ""),
            buyer_message=first.get("message", ""),
            ship_name=first.get("buyer_name", ""),
            ship_phone=first.get("phone", ""),
            ship_country=first.get("country", "") or "CN",
            ship_province=first.get("province", ""),
            ship_city=first.get("city", ""),
            ship_district=first.get("district", ""),
            ship_street=first.get("address", ""),
            ship_postcode=first.get("postcode", ""),
        )


def _chunks(items: list, size: int = LEGACY_CHUNK):
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def legacy_split(*, channel: Channel, orders: list[dict], normalizer: CsvNormalizer,
                 window_days: int | None, now: dt.datetime | None = None
                 ) -> tuple[list[dict], list[tuple[dict, NormalizedOrder]]]:
    """(orders for the pipeline, old legacy orders to archive with their normalized form).

    An order goes to the archive only when it is legacy, normalizes, was placed
    before the window and is not already a hub order (an order imported while it
    was recent stays a hub order when the same file is imported again later).
    Orders that do not normalize go to the pipeline, which quarantines them.
    """
    if window_days is None:
        return orders, []
    cutoff = (now or timezone.now()) - dt.timedelta(days=window_days)
    live, old = [], []
    for order in orders:
        try:
            norm = normalizer.normalize(order)
        except NormalizationError:
            live.append(order)
            continue
        if norm.placed_at < cutoff:
            old.append((order, norm))
        else:
            live.append(order)
    archive = []
    for chunk in _chunks(old):
        held = set(Order.objects.filter(
            channel=channel, external_id__in=[n.external_id for _o, n in chunk],
        ).values_list("external_id", flat=True))
        for order, norm in chunk:
            if norm.external_id in held:
                live.append(order)
            else:
                archive.append((order, norm))
    return live, archive


def _legacy_row(channel: Channel, raw: dict, norm: NormalizedOrder) -> LegacyOrder:
    phone_raw = (norm.buyer_phone or "").strip()
    try:
        phone = normalize_phone(phone_raw, norm.ship_country or "CN")
    except ValidationError:
        phone = ""  # kept as written in buyer_phone_raw; only valid numbers are searchable
    total = norm.total
    if total is None:
        total = (sum((ln.unit_price * ln.quantity for ln in norm.lines), Decimal("0"))
                 + norm.shipping_fee - norm.discount)
    return LegacyOrder(
        channel=channel, legacy_id=norm.legacy_id or norm.external_id,
        buyer_name=clean_text(norm.buyer_name)[:120], buyer_phone=phone,
        buyer_phone_raw=phone_raw[:64], placed_at=norm.placed_at, total=total,
        currency=(norm.currency or "CNY")[:3],
        status_text=clean_text(str(raw["rows"][0].get("status", "")))[:64],
        lines=[{"sku": ln.platform_sku, "name": ln.name, "quantity": ln.quantity,
                "unit_price": str(ln.unit_price), "gift": ln.is_gift} for ln in norm.lines],
        raw=raw,
    )


def legacy_archive(*, channel: Channel, items: list[tuple[dict, NormalizedOrder]]
                   ) -> tuple[int, int]:
    """Store old legacy orders once per (channel, legacy id): (archived, already there).

    Rows already archived are left exactly as they are, so re-importing a file
    changes nothing.
    """
    archived = unchanged = 0
    for chunk in _chunks(items):
        rows = {}
        for raw, norm in chunk:
            row = _legacy_row(channel, raw, norm)
            rows.setdefault(row.legacy_id, row)
        with transaction.atomic():
            held = set(LegacyOrder.objects.filter(channel=channel, legacy_id__in=list(rows))
                       .values_list("legacy_id", flat=True))
            new = [row for legacy_id, row in rows.items() if legacy_id not in held]
            # ignore_conflicts: a concurrent import of the same file must not fail here.
            LegacyOrder.objects.bulk_create(new, ignore_conflicts=True)
        archived += len(new)
        unchanged += len(chunk) - len(new)
    return archived, unchanged


def csv_preview(*, channel: Channel, name: str, data: bytes, limit: int = 20) -> dict:
    """What an import would do, without storing anything: orders, and errors by row."""
    header, rows = read_rows(name, data)
    orders, row_errors = group_orders(channel, header, rows)
    window = legacy_window_days(channel)
    normalizer = CsvNormalizer(channel)
    cutoff = timezone.now() - dt.timedelta(days=window) if window is not None else None
    preview, errors, to_archive = [], list(row_errors), 0
    for order in orders:
        try:
            norm = normalizer.normalize(order)
        except NormalizationError as exc:
            errors.append((order["rows"][0]["_row"], f"{order['order_id']}: {exc}"))
            continue
        if cutoff is not None and norm.placed_at < cutoff:
            to_archive += 1
        if len(preview) < limit:
            preview.append(norm)
    return {"header": header, "orders": preview, "order_count": len(orders),
            "errors": sorted(errors), "legacy_window_days": window,
            "archive_count": to_archive}


def csv_import(*, channel: Channel, path: Path | None = None, name: str = "",
               data: bytes | None = None, all_or_nothing: bool = False) -> CsvOutcome:
    """Import a CSV/XLSX file; broken rows/orders are quarantined, the rest imported.

    With ``all_or_nothing`` a file with any error imports nothing (the broken
    orders are still kept in quarantine so a person sees why). Legacy orders
    older than the channel's window are archived, not imported (see the module
    docstring); ``archived`` / ``archived_unchanged`` count them.
    """
    if data is None:
        data = path.read_bytes()
        name = path.name
    try:
        window = legacy_window_days(channel)
        header, rows = read_rows(name, data)
        orders, row_errors = group_orders(channel, header, rows)
    except FileError as exc:
        raw, _created = store_raw(channel=channel, body=data, source=RawPayload.Source.IMPORT)
        if raw.status != RawPayload.Status.PROCESSED:
            quarantine(raw, f"{name}: {exc}")
        result = IngestResult()
        result.add(REJECTED, raw=raw)
        return CsvOutcome(result=result, row_errors=[(0, str(exc))])
    result = IngestResult()
    for n, message in row_errors:
        raw, _created = store_raw(channel=channel, body=canonical_json({"row": n, "file": name}),
                                  source=RawPayload.Source.IMPORT)
        quarantine(raw, message)
        result.add(REJECTED, raw=raw)
    normalizer = CsvNormalizer(channel)
    if all_or_nothing:
        bad = []
        for order in orders:
            try:
                normalizer.normalize(order)
            except NormalizationError as exc:
                bad.append((order, str(exc)))
        if bad or row_errors:
            for order, _message in bad:
                sub = ingest_items(channel=channel, items=[order],
                                   source=RawPayload.Source.IMPORT, normalizer=normalizer)
                result.merge(sub)
            return CsvOutcome(result=result, row_errors=row_errors + [
                (o["rows"][0]["_row"], m) for o, m in bad])
    live, old = legacy_split(channel=channel, orders=orders, normalizer=normalizer,
                             window_days=window)
    archived, archived_unchanged = legacy_archive(channel=channel, items=old)
    result.merge(ingest_items(channel=channel, items=live, source=RawPayload.Source.IMPORT,
                              normalizer=normalizer))
    return CsvOutcome(result=result, row_errors=row_errors, archived=archived,
                      archived_unchanged=archived_unchanged)
