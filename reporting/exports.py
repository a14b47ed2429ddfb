"""Exports: the order list and the dashboard summaries as CSV or XLSX.

Rows come from ``QuerySet.values_list(...).iterator(chunk_size=...)`` and are
written as they arrive, so memory stays flat however many rows there are:
CSV is streamed straight to the client; XLSX is written by openpyxl's
write-only mode to a temporary file (a zip cannot be streamed before it is
complete) and then sent in chunks. An XLSX of more than ``XLSX_SYNC_MAX_ROWS``
rows, or any export asked for with ``background=1``, runs as a Celery task
(``ExportJob``) with progress and a download link.

Buyer contact columns follow the pages' rule (``orderhub.privacy``, issue 15): in
full only for a user with ``orderhub.view_buyer_contact``, masked with the pages'
own mask functions for everyone else (finance, sales and warehouse managers). A
background job reads its requester's rights when the worker builds it.

Speed (a million orders, ``bench/export.py``): openpyxl writes through lxml
when it is installed (about twice as fast as its pure-Python writer); on
PostgreSQL the times arrive already in local time (``AT TIME ZONE``; parsing a
plain timestamp is done in C, an aware one in Python), and the rows are read
inside a transaction so the server-side cursor is not ``WITH HOLD`` (which
would copy the whole result on the server before the first row).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import DateTimeField, Func
from django.http import FileResponse, QueryDict, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from openpyxl import Workbook

from orderhub.exports import csv_row, xlsx_row
from orderhub.forms import OrderFilterForm
from orderhub.privacy import CONTACT_FIELDS, field_shown, sees_buyer_contact
from orderhub.queue import enqueue
from orderhub.selectors import order_list_queryset
from reporting import selectors
from reporting.forms import DashboardFilterForm
from reporting.models import ExportJob, ReconciliationRun
from reporting.reconciliation import reconciliation_rows

# Rows per round trip of the server-side cursor: ~5 MB of Python objects at a time.
CHUNK_SIZE = 5000
XLSX_SYNC_MAX_ROWS = 50_000
# Progress is written every this many rows: one UPDATE per ~1 s of work.
PROGRESS_EVERY = 10_000
# The export sweep (beat, every 5 min): a job still waiting after this long lost its task
# (broker down at enqueue, worker killed before it started) and is queued again.
REQUEUE_AFTER = dt.timedelta(minutes=5)
# A job running this long has lost its builder: the task's hard time limit (55 min) ends
# any build before, and a million rows take 1-2 min. Failed, with a reason.
STUCK_AFTER = dt.timedelta(hours=1)
# A job still waiting after this long will not be built (every try failed): failed.
GIVE_UP_AFTER = dt.timedelta(hours=24)
# Stored untranslated, translated on the page in the reader's language.
STUCK_REASON = gettext_noop("It stopped before finishing (the worker building it was "
                            "restarted). Please start the export again.")
NOT_STARTED_REASON = gettext_noop("It could not be started within a day. Please start the "
                                  "export again.")
SUMMARY_KINDS = ("daily", "platforms", "sales", "categories")
FORMATS = ("csv", "xlsx")


class ExportError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class ExportPlan:
    kind: str
    fmt: str
    header: list[str]
    rows: Callable[[], Iterator[list]]
    count: int
    filename: str

    @property
    def background(self) -> bool:
        return self.fmt == "xlsx" and self.count > XLSX_SYNC_MAX_ROWS


def _local(value):
    """Aware datetime → naive local time (XLSX cannot hold a zone; CSV readers want local).
    A naive one is already local (``LocalTime``)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(microsecond=0) if value.microsecond else value
        return timezone.localtime(value).replace(tzinfo=None, microsecond=0)
    return value


class LocalTime(Func):
    """A timestamp as naive wall-clock time in the current time zone, to the second.

    PostgreSQL converts it in SQL; other databases return the aware value and
    ``_local`` converts it in Python (same result, slower).
    """

    output_field = DateTimeField()

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(self.source_expressions[0])

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"date_trunc('second', ({sql}) AT TIME ZONE %s)",
                (*params, timezone.get_current_timezone_name()))


# --- order list ----------------------------------------------------------------------------

ORDER_FIELDS = [
    ("number", "Hub order number"),
    ("external_id", "Platform order id"),
    ("channel__code", "Channel"),
    ("channel__platform", "Platform"),
    ("status", "Status"),
    ("kind", "Kind"),
    ("priority", "Priority"),
    ("placed_at", "Placed"),
    ("paid_at", "Paid"),
    ("shipped_at", "Shipped"),
    ("warehouse__code", "Warehouse"),
    ("buyer_name", "Buyer"),
    ("ship_province", "Province / state"),
    ("ship_city", "City"),
    ("currency", "Currency"),
    ("total", "Total"),
    ("carrier", "Carrier"),
    ("tracking_number", "Tracking number"),
]


def order_filters(params: QueryDict) -> dict:
    """The order list's filters from ``params``, exactly as the list page reads them."""
    form = OrderFilterForm(params)
    if not form.is_valid():
        messages = [f"{name}: {msg}" for name, errs in form.errors.items() for msg in errs]
        raise ExportError(_("The filters are not valid: %(errors)s") % {
            "errors": "; ".join(messages)})
    return form.filters()


ORDER_TIME_FIELDS = {"placed_at", "paid_at", "shipped_at"}


def order_export_queryset(filters: dict):
    return order_list_queryset(filters).values_list(*[
        LocalTime(name) if name in ORDER_TIME_FIELDS else name for name, _label in ORDER_FIELDS
    ])


# Columns holding the buyer's contact data: masked for a role without
# ``orderhub.view_buyer_contact``, exactly as on the pages (``orderhub.privacy``).
ORDER_CONTACT_COLUMNS = [(i, name) for i, (name, _label) in enumerate(ORDER_FIELDS)
                         if name in CONTACT_FIELDS]


def _order_rows(filters: dict, *, contact_full: bool = False) -> Iterator[list]:
    queryset = order_export_queryset(filters)
    connection = connections[router.db_for_read(queryset.model)]
    # In a transaction the cursor is not WITH HOLD: rows flow from the first fetch on.
    # A generator closed early (client gone) leaves the block and rolls the read back.
    with transaction.atomic(using=connection.alias):
        for row in queryset.iterator(chunk_size=CHUNK_SIZE):
            cells = [_local(value) for value in row]
            if not contact_full:
                for i, name in ORDER_CONTACT_COLUMNS:
                    cells[i] = field_shown(name, cells[i], full=False)
            yield cells


# --- summaries -----------------------------------------------------------------------------


def _dashboard_filters(params: QueryDict):
    form = DashboardFilterForm(params)
    if not form.is_valid():
        messages = [str(msg) for errs in form.errors.values() for msg in errs]
        raise ExportError(_("The filters are not valid: %(errors)s") % {
            "errors": "; ".join(messages)})
    return form.dashboard_filters()


def _money_cells(sales: dict) -> str:
    return "; ".join(f"{currency} {amount}" for currency, amount in sales.items())


def _summary(kind: str, filters) -> tuple[list[str], list[list]]:
    if kind == "daily":
        header = ["Day", "Placed", "Paid", "Shipped", "Cancelled", "Sales"]
        rows = [[r["day"], r["placed"], r["paid"], r["shipped"], r["cancelled"],
                 _money_cells(r["sales"])] for r in selectors.by_day(filters)]
    elif kind == "platforms":
        header = ["Platform", "Placed", "Paid", "Shipped", "Cancelled", "Sales"]
        rows = [[r["platform"], r["placed"], r["paid"], r["shipped"], r["cancelled"],
                 _money_cells(r["sales"])] for r in selectors.by_platform(filters)]
    elif kind == "categories":
        header = ["SKU category", "Placed", "Paid", "Shipped", "Cancelled", "Sales"]
        rows = [[r["category"], r["placed"], r["paid"], r["shipped"], r["cancelled"],
                 _money_cells(r["sales"])] for r in selectors.by_category(filters)]
    else:
        header = ["Day", "Platform", "Currency", "Orders", "Total"]
        rows = [[r["day"], r["platform"], r["currency"], r["orders"], r["total"]]
                for r in selectors.sales_summary(filters)]
    return header, rows


# --- plan and write ----------------------------------------------------------------------------


def plan_export(*, kind: str, fmt: str, params: QueryDict, user=None) -> ExportPlan:
    """Validate the request and say what will be written; nothing is read row by row yet.

    Buyer contact columns follow ``user``'s rights as the pages do: in full only with
    ``orderhub.view_buyer_contact``, masked otherwise (also when ``user`` is None, so a
    caller that forgets the user leaks nothing).
    """
    if fmt not in FORMATS:
        raise ExportError(_("Unknown format “%(fmt)s”; use csv or xlsx.") % {"fmt": fmt})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if kind == "orders":
        filters = order_filters(params)
        count = order_export_queryset(filters).count()
        contact_full = sees_buyer_contact(user)
        return ExportPlan(kind, fmt, [label for _name, label in ORDER_FIELDS],
                          lambda: _order_rows(filters, contact_full=contact_full), count,
                          f"orders-{stamp}.{fmt}")
    if kind in SUMMARY_KINDS:
        filters = _dashboard_filters(params)
        header, rows = _summary(kind, filters)
        return ExportPlan(kind, fmt, header, lambda: iter(rows), len(rows),
                          f"{kind}-{filters.date_from}-{filters.date_to}.{fmt}")
    if kind == "reconciliation":
        run = ReconciliationRun.objects.filter(pk=_int(params.get("run"))).first()
        if run is None:
            raise ExportError(_("No such reconciliation run."))
        header, rows = reconciliation_rows(run)
        return ExportPlan(kind, fmt, header, rows, run.differences.count(),
                          f"reconciliation-{run.pk}.{fmt}")
    raise ExportError(_("Unknown export “%(kind)s”.") % {"kind": kind})


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def csv_chunks(header: list[str], rows: Iterable[list], rows_per_chunk: int = 500
               ) -> Iterator[str]:
    """CSV text in chunks of ``rows_per_chunk`` rows; a BOM first so Excel reads UTF-8.

    Cells are neutralised (``orderhub.exports``): a buyer's ``=…`` never runs as a formula.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(csv_row(header))
    n = 0
    for row in rows:
        writer.writerow(csv_row(row))
        n += 1
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_xlsx(target, header: list[str], rows: Iterable[list],
               progress: Callable[[int], None] | None = None) -> int:
    """Write a one-sheet workbook to ``target`` (path or binary file) in write-only mode.

    Text is written as text cells, never formulas (``orderhub.exports``).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("export")
    sheet.append(xlsx_row(sheet, header))
    n = 0
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
        n += 1
        if progress and n % PROGRESS_EVERY == 0:
            progress(n)
    workbook.save(target)
    return n


def write_csv(target: Path, header: list[str], rows: Iterable[list],
              progress: Callable[[int], None] | None = None) -> int:
    n = 0

    def counted():
        nonlocal n
        for row in rows:
            yield row
            n += 1
            if progress and n % PROGRESS_EVERY == 0:
                progress(n)

    with open(target, "w", encoding="utf-8", newline="") as handle:
        for chunk in csv_chunks(header, counted()):
            handle.write(chunk)
    return n


def export_response(plan: ExportPlan):
    """The HTTP answer for a small enough export: streamed CSV or a chunked XLSX file."""
    disposition = f'attachment; filename="{plan.filename}"'
    if plan.fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(plan.header, plan.rows()),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = disposition
        return response
    # Deleted by the OS as soon as FileResponse closes it.
    handle = tempfile.TemporaryFile(dir=settings.VAR_DIR)
    write_xlsx(handle, plan.header, plan.rows())
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=plan.filename,
                        content_type=(
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                        ))


# --- background jobs ------------------------------------------------------------------------


def _params_dict(params) -> dict:
    if isinstance(params, QueryDict):
        return {key: params.getlist(key) for key in params if key != "background"}
    return dict(params)


def _params_querydict(params: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, values in params.items():
        query.setlist(key, values if isinstance(values, list) else [values])
    return query


def export_job_start(*, kind: str, fmt: str, params, actor) -> ExportJob:
    """Record the job and enqueue its task after commit; validates the filters first."""
    params = _params_dict(params)
    plan = plan_export(kind=kind, fmt=fmt, params=_params_querydict(params), user=actor)
    job = ExportJob.objects.create(kind=kind, format=fmt, params=params,
                                   rows_total=plan.count, created_by=actor)
    # Enqueued by name: the task module imports this one, not the other way round.
    # A dead broker leaves the job waiting instead of failing the committed request.
    transaction.on_commit(lambda: enqueue("reporting.tasks.build_export", job.pk))
    return job


def export_job_claim(job_id: int) -> bool:
    """Take a waiting job for building; False when another builder has it or it is over.

    One conditional UPDATE: of two copies of the task (a re-queued job whose first task
    arrived after all), exactly one wins.
    """
    return bool(ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.PENDING).update(
        status=ExportJob.Status.RUNNING, rows_done=0, started_at=timezone.now()))


def export_job_run(*, job_id: int) -> ExportJob:
    """Build the job's file under MEDIA_ROOT/exports, if this call claims it.

    Safe to call again: a job that is running, finished or failed is left alone. An
    unexpected error (database, disk) puts the job back to waiting before it is raised,
    so the task's retry or the sweep claims it again and rebuilds it from the start.
    """
    if not export_job_claim(job_id):
        return ExportJob.objects.get(pk=job_id)
    job = ExportJob.objects.get(pk=job_id)
    try:
        # The requester's rights as they are now, read fresh by the worker: the file masks
        # buyer contact data exactly as the request would (and a role that lost the
        # right since asking gets it masked).
        plan = plan_export(kind=job.kind, fmt=job.format,
                           params=_params_querydict(job.params), user=job.created_by)
        folder = Path(settings.MEDIA_ROOT) / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{job.pk}-{plan.filename}"

        def progress(n: int) -> None:
            ExportJob.objects.filter(pk=job.pk).update(rows_done=n)

        writer = write_xlsx if job.format == "xlsx" else write_csv
        written = writer(folder / name, plan.header, plan.rows(), progress)
    except ExportError as exc:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED,
                                                   error=exc.message,
                                                   finished_at=timezone.now())
        job.refresh_from_db()
        return job
    except Exception:
        ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.PENDING, started_at=None, rows_done=0)
        raise
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE, rows_done=written, rows_total=written,
        file=f"exports/{name}", finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


@dataclass
class ExportSweep:
    requeued: list[int]
    failed: list[int]


def export_jobs_sweep(now: dt.datetime | None = None) -> ExportSweep:
    """Nothing waits forever after an outage: queue waiting jobs whose task was lost, fail
    jobs whose builder died mid-way (or that never started) with a reason the owner sees.

    Idempotent: a job queued twice is built once (``export_job_claim``); failing is a
    conditional UPDATE, so a job that finished meanwhile stays finished.
    """
    now = now or timezone.now()
    Status = ExportJob.Status
    failed: list[int] = []
    for status, field, age, reason in (
        (Status.RUNNING, "started_at", STUCK_AFTER, STUCK_REASON),
        (Status.PENDING, "created_at", GIVE_UP_AFTER, NOT_STARTED_REASON),
    ):
        stale = ExportJob.objects.filter(status=status, **{f"{field}__lt": now - age})
        ids = list(stale.values_list("pk", flat=True))
        if ids:
            ExportJob.objects.filter(pk__in=ids, status=status).update(
                status=Status.FAILED, error=reason, finished_at=now)
            failed += ids
    requeued = list(ExportJob.objects.filter(
        status=Status.PENDING, created_at__lt=now - REQUEUE_AFTER).values_list("pk", flat=True))
    for job_id in requeued:
        enqueue("reporting.tasks.build_export", job_id)
    return ExportSweep(requeued=requeued, failed=failed)
