"""Settlement reconciliation: a platform's bill file against the hub's orders.

``reconciliation_run_create`` reads the whole file first (CSV in UTF-8 or
GBK/GB18030, or XLSX), checks every row, and only when every row is good
matches the rows to orders by (channel, external id) and saves the run with
its differences in one transaction. Any bad row (wrong template, unreadable
encoding, bad amount, duplicate id) raises ``SettlementFileError`` with every
problem found, row by row, and nothing is saved.

Column templates: each platform's bill names its columns differently, and
Alipay/JD bills put a few comment lines above the header; the header row is
the first row (of the first 30) that holds the template's id column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import load_workbook

from orderhub.models import Order, OrderStatus
from reporting.models import ReconciliationDifference, ReconciliationRun
from reporting.selectors.scope import local_midnight

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
HEADER_SEARCH_ROWS = 30
MAX_ERRORS_SHOWN = 200

# field -> accepted header names (first found wins); "currency" may be fixed by
# "default_currency"; "amount_out" is a spending column read when "amount" is empty.
TEMPLATES: dict[str, dict] = {
    "generic": {
        "label": gettext_lazy("Generic (external_id, amount, currency, status)"),
        "columns": {"external_id": ["external_id", "order_id", "订单号"],
                    "amount": ["amount", "金额"], "currency": ["currency", "币种"],
                    "status": ["status", "状态"]},
    },
    "alipay": {
        "label": gettext_lazy("Taobao / Tmall (Alipay account statement)"),
        "columns": {"external_id": ["商户订单号"], "amount": ["收入金额（+元）", "收入金额(+元)"],
                    "amount_out": ["支出金额（-元）", "支出金额(-元)"], "status": ["业务类型"]},
        "default_currency": "CNY",
    },
    "jd": {
        "label": gettext_lazy("JD (settlement details)"),
        "columns": {"external_id": ["订单编号"], "amount": ["应结金额", "结算金额"],
                    "status": ["费用名称", "订单状态"]},
        "default_currency": "CNY",
    },
    "pinduoduo": {
        "label": gettext_lazy("Pinduoduo (fund details)"),
        "columns": {"external_id": ["商户订单号", "订单号"], "amount": ["收入(+元)", "收入金额"],
                    "amount_out": ["支出(-元)", "支出金额"], "status": ["账务类型"]},
        "default_currency": "CNY",
    },
    "douyin": {
        "label": gettext_lazy("Douyin shop (settlement bill)"),
        "columns": {"external_id": ["订单号", "子订单号"], "amount": ["结算金额", "订单实付"],
                    "status": ["结算状态", "订单状态"]},
        "default_currency": "CNY",
    },
    "shopify": {
        "label": gettext_lazy("Shopify (payout transactions)"),
        "columns": {"external_id": ["Order"], "amount": ["Amount"], "currency": ["Currency"],
                    "status": ["Type"]},
    },
    "amazon": {
        "label": gettext_lazy("Amazon (settlement report)"),
        "columns": {"external_id": ["order-id"], "amount": ["amount", "total-amount"],
                    "currency": ["currency"], "status": ["transaction-type"]},
    },
}
REQUIRED = ("external_id", "amount")

REFUND_WORDS = ("refund", "退款", "退货", "chargeback")
CANCEL_WORDS = ("cancel", "关闭", "取消")


def template_choices() -> list[tuple[str, str]]:
    return [(key, spec["label"]) for key, spec in TEMPLATES.items()]


class SettlementFileError(Exception):
    """The file cannot be used; ``errors`` is a list of ``(row number or None, message)``."""

    def __init__(self, errors: list[tuple[int | None, str]]):
        super().__init__("; ".join(message for _row, message in errors[:5]))
        self.errors = errors[:MAX_ERRORS_SHOWN]
        self.total_errors = len(errors)


@dataclass
class SettlementRow:
    row_number: int
    external_id: str
    amount: Decimal
    currency: str
    status: str

    @property
    def normalized_status(self) -> str:
        """"paid", "refunded" or "cancelled" from the platform's own wording."""
        text = self.status.lower()
        if any(word in text for word in REFUND_WORDS):
            return "refunded"
        if any(word in text for word in CANCEL_WORDS):
            return "cancelled"
        return "paid"


# --- reading --------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise SettlementFileError([(None, _(
        "The file is neither UTF-8 nor GBK text; save it again as CSV (UTF-8) or XLSX."))])


def _cells_csv(data: bytes) -> tuple[list[list[str]], str]:
    text, encoding = _decode(data)
    if text.count("\x00"):
        raise SettlementFileError([(None, _("The file is not a text CSV file."))])
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter)), encoding


def _cells_xlsx(data: bytes) -> list[list[str]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
        raise SettlementFileError([(None, _("The XLSX file cannot be opened: %(error)s") % {
            "error": exc.__class__.__name__})]) from exc
    sheet = workbook.worksheets[0]
    rows = []
    for row in sheet.iter_rows(values_only=True):
        rows.append(["" if value is None else str(value) for value in row])
        if len(rows) > MAX_ROWS + HEADER_SEARCH_ROWS:
            break
    workbook.close()
    return rows


def _find_header(rows: list[list[str]], spec: dict) -> tuple[int, dict[str, int]]:
    id_names = spec["columns"]["external_id"]
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        cells = [cell.strip().lstrip("\ufeff") for cell in row]
        if not any(name in cells for name in id_names):
            continue
        positions = {}
        for field, names in spec["columns"].items():
            for name in names:
                if name in cells:
                    positions[field] = cells.index(name)
                    break
        missing = [f for f in REQUIRED if f not in positions]
        if missing:
            break
        return index, positions
    wanted = ", ".join(" / ".join(spec["columns"][f]) for f in REQUIRED)
    raise SettlementFileError([(None, _(
        "This file does not match the “%(template)s” template: columns %(wanted)s not found."
    ) % {"template": spec["label"], "wanted": wanted})])


def _amount(raw: str) -> Decimal:
    cleaned = raw.strip().replace(",", "").replace("¥", "").replace("￥", "").replace(" ", "")
    if cleaned.startswith("(") and cleaned.endswith(")"):
        cleaned = f"-{cleaned[1:-1]}"
    value = Decimal(cleaned)
    if not value.is_finite():
        raise InvalidOperation
    return value.quantize(Decimal("0.01"))


def settlement_rows_read(*, data: bytes, file_name: str, template: str
                         ) -> tuple[list[SettlementRow], str]:
    """Every row of the file, checked; raises SettlementFileError listing all bad rows."""
    if template not in TEMPLATES:
        raise SettlementFileError([(None, _("Unknown template “%(t)s”.") % {"t": template})])
    if len(data) > MAX_FILE_BYTES:
        raise SettlementFileError([(None, _("The file is larger than 20 MB."))])
    spec = TEMPLATES[template]
    if file_name.lower().endswith(".xlsx"):
        cells, encoding = _cells_xlsx(data), "xlsx"
    else:
        cells, encoding = _cells_csv(data)
    header_index, positions = _find_header(cells, spec)
    rows: list[SettlementRow] = []
    errors: list[tuple[int | None, str]] = []
    seen: dict[str, int] = {}
    for index in range(header_index + 1, len(cells)):
        row_number = index + 1  # as a spreadsheet shows it
        cells_here = cells[index]
        if not any(cell.strip() for cell in cells_here) or cells_here[0].startswith("#"):
            continue  # blank lines and the bills' "#..." footers

        def cell(field, _cells=cells_here):
            position = positions.get(field)
            if position is None or position >= len(_cells):
                return ""
            return _cells[position].strip().strip("\t").lstrip("'`")

        external_id = cell("external_id")
        if not external_id:
            errors.append((row_number, _("No order id.")))
            continue
        raw_amount, sign = cell("amount"), 1
        if not raw_amount and cell("amount_out"):
            # Income and spending in two columns (Alipay, Pinduoduo): a refund is spending.
            raw_amount, sign = cell("amount_out"), -1
        try:
            amount = sign * _amount(raw_amount)
        except (InvalidOperation, ValueError):
            errors.append((row_number, _("“%(value)s” is not an amount.") % {
                "value": raw_amount}))
            continue
        currency = (cell("currency") or spec.get("default_currency") or "").upper()
        if len(currency) != 3 or not currency.isalpha():
            errors.append((row_number, _("“%(value)s” is not a currency code.") % {
                "value": currency}))
            continue
        if external_id in seen:
            errors.append((row_number, _("Order %(id)s appears twice (first on row %(row)s).")
                           % {"id": external_id, "row": seen[external_id]}))
            continue
        seen[external_id] = row_number
        rows.append(SettlementRow(row_number, external_id, amount, currency, cell("status")))
        if len(rows) > MAX_ROWS:
            errors.append((row_number, _("More than %(n)s rows: split the file.") % {
                "n": MAX_ROWS}))
            break
    if errors:
        raise SettlementFileError(errors)
    if not rows:
        raise SettlementFileError([(None, _("The file holds no settlement rows."))])
    return rows, encoding


# --- matching --------------------------------------------------------------------------------


def _status_differs(hub_status: str, platform: str) -> bool:
    hub_cancelled = hub_status == OrderStatus.CANCELLED
    if platform in ("refunded", "cancelled"):
        return not hub_cancelled
    return hub_cancelled or hub_status == OrderStatus.PENDING_PAYMENT


def reconciliation_run_create(*, channel, template: str, period_from, period_to, upload,
                              actor) -> ReconciliationRun:
    """Read, check, match and save one settlement file as a run (all or nothing)."""
    data = upload.read()
    rows, encoding = settlement_rows_read(data=data, file_name=upload.name, template=template)
    by_id = {row.external_id: row for row in rows}

    orders: dict[str, dict] = {}
    ids = list(by_id)
    fields = ("pk", "external_id", "status", "total", "currency")
    for start in range(0, len(ids), 1000):
        for values in Order.objects.filter(channel=channel,
                                           external_id__in=ids[start:start + 1000]
                                           ).values(*fields):
            orders[values["external_id"]] = values
    start_at = local_midnight(period_from)
    end_at = local_midnight(period_to + dt.timedelta(days=1))
    missing_on_platform = (
        Order.objects.filter(channel=channel, paid_at__gte=start_at, paid_at__lt=end_at)
        .exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT])
        .exclude(external_id__in=ids).values(*fields).order_by("external_id")
    ) if len(ids) <= 30_000 else _missing_in_python(channel, start_at, end_at, set(ids), fields)

    differences: list[ReconciliationDifference] = []
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"platform": Decimal("0.00"), "hub": Decimal("0.00")})
    matched = 0
    for row in rows:
        totals[row.currency]["platform"] += row.amount
        order = orders.get(row.external_id)
        if order is None:
            differences.append(ReconciliationDifference(
                kind=ReconciliationDifference.Kind.MISSING_IN_HUB, external_id=row.external_id,
                row_number=row.row_number, currency=row.currency, platform_amount=row.amount,
                platform_status=row.status[:40]))
            continue
        matched += 1
        if order["status"] != OrderStatus.CANCELLED:
            totals[order["currency"]]["hub"] += order["total"]
        common = {"external_id": row.external_id, "order_id": order["pk"],
                  "row_number": row.row_number, "currency": row.currency,
                  "platform_amount": row.amount, "hub_amount": order["total"],
                  "platform_status": row.status[:40], "hub_status": order["status"]}
        platform_status = row.normalized_status
        if platform_status == "paid" and (row.amount != order["total"]
                                          or row.currency != order["currency"]):
            differences.append(ReconciliationDifference(
                kind=ReconciliationDifference.Kind.AMOUNT_MISMATCH, **common))
        if _status_differs(order["status"], platform_status):
            differences.append(ReconciliationDifference(
                kind=ReconciliationDifference.Kind.STATUS_MISMATCH, **common))
    for order in missing_on_platform:
        totals[order["currency"]]["hub"] += order["total"]
        differences.append(ReconciliationDifference(
            kind=ReconciliationDifference.Kind.MISSING_ON_PLATFORM,
            external_id=order["external_id"], order_id=order["pk"], currency=order["currency"],
            hub_amount=order["total"], hub_status=order["status"]))

    counts = {kind: 0 for kind in ReconciliationDifference.Kind.values}
    for difference in differences:
        counts[difference.kind] += 1
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            channel=channel, template=template, period_from=period_from, period_to=period_to,
            file_name=upload.name[:255], encoding=encoding, rows_read=len(rows),
            matched=matched, counts=counts,
            totals={currency: {"platform": str(t["platform"]), "hub": str(t["hub"]),
                               "difference": str(t["platform"] - t["hub"])}
                    for currency, t in sorted(totals.items())},
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        for difference in differences:
            difference.run = run
        ReconciliationDifference.objects.bulk_create(differences, batch_size=2000)
    return run


def _missing_in_python(channel, start_at, end_at, ids: set, fields):
    # A NOT IN of tens of thousands of ids is slow to plan; compare in Python instead.
    qs = (Order.objects.filter(channel=channel, paid_at__gte=start_at, paid_at__lt=end_at)
          .exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT])
          .values(*fields).order_by("external_id"))
    return [order for order in qs.iterator(chunk_size=5000) if order["external_id"] not in ids]


def reconciliation_rows(run: ReconciliationRun):
    """The run's differences as export rows (header first)."""
    header = ["Kind", "Platform order id", "Hub order", "File row", "Currency",
              "Platform amount", "Hub amount", "Platform status", "Hub status"]
    labels = dict(ReconciliationDifference.Kind.choices)

    def rows():
        qs = (run.differences.select_related("order").order_by("kind", "external_id", "id")
              .values_list("kind", "external_id", "order__number", "row_number", "currency",
                           "platform_amount", "hub_amount", "platform_status", "hub_status"))
        for kind, *rest in qs.iterator(chunk_size=2000):
            yield [str(labels.get(kind, kind)), *rest]

    return header, rows
