"""Pick tasks: claiming the next order, scanning items, problems, finishing.

Claiming locks candidate orders with ``SKIP LOCKED``: two pickers asking at
the same instant each get a different order (or nothing), never the same one.
A scan locks its task row, so scans of one task are applied one at a time and
a retried scan (same idempotency key) is answered from the stored result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, F, Func, Subquery, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override
from PIL import Image

from orderhub.models import Order, OrderStatus
from orderhub.services.events import order_event_record
from orderhub.services.orders import OrderServiceError, actor_info, order_transition
from orderhub.stored_text import register_stored_texts
from warehouse.models import (
    SKU,
    Barcode,
    PickList,
    PickProblem,
    PickTask,
    PickTaskLine,
    ScanEvent,
    Warehouse,
)
from warehouse.services.picklists import bin_lookup, catalogue_for, expand_lines
from warehouse.services.stock import StockError
from warehouse.signals import pick_problem_reported

R = ScanEvent.Result


class PickingError(StockError):
    pass


class TaskNotYours(PickingError):
    status = 409


# --- claiming ---------------------------------------------------------------------


def _open_task(picker) -> PickTask | None:
    return PickTask.objects.filter(picker=picker, status=PickTask.Status.OPEN).first()


def _start_task(order: Order, picker, pick_list: PickList | None = None) -> PickTask:
    """Claim ``order`` (locked by the caller) and write its task lines."""
    order_transition(order=order, name="claim", actor=picker, scan_flow=True)
    task = PickTask.objects.create(order=order, warehouse_id=order.warehouse_id, picker=picker,
                                   pick_list=pick_list)
    items = expand_lines(order, catalogue_for([order]))
    bins = bin_lookup(order.warehouse_id, {sku for sku, *_rest in items})
    merged: dict[tuple[int, bool], PickTaskLine] = {}
    for sku, qty, gift, _sold_as in items:
        line = merged.get((sku.pk, gift))
        if line is None:
            bin_code, pick_order = bins.get(sku.pk, ("", 10**6))
            line = merged[(sku.pk, gift)] = PickTaskLine(
                task=task, sku=sku, name=sku.name, bin_code=bin_code, pick_order=pick_order,
                quantity=0, is_gift=gift,
            )
        line.quantity += qty
    PickTaskLine.objects.bulk_create(merged.values())
    return task


def task_claim_next(*, picker, warehouse: Warehouse) -> PickTask | None:
    """The picker's open task, or the most urgent unclaimed order of ``warehouse``.

    Urgent first (higher ``priority``), then the oldest paid. Returns None when
    nothing is waiting.
    """
    actor_info(picker)
    existing = _open_task(picker)
    if existing is not None:
        return existing
    for _attempt in range(3):
        with transaction.atomic():
            order = (
                Order.objects.select_for_update(skip_locked=True)
                .filter(status=OrderStatus.READY_TO_PICK, warehouse=warehouse)
                .order_by("-priority", F("paid_at").asc(nulls_last=True), "pk")
                .first()
            )
            if order is None:
                return None
            try:
                return _start_task(order, picker)
            except OrderServiceError:
                # The order changed between the read and the lock (SQLite has no
                # row locks): try the next one.
                continue
    return None


def task_claim_code(*, picker, warehouse: Warehouse, code: str) -> PickTask:
    """Start the task for a scanned order number or pick-list number."""
    actor_info(picker)
    code = (code or "").strip()
    existing = _open_task(picker)
    if existing is not None:
        if code in (existing.order.number, getattr(existing.pick_list, "number", None)):
            return existing
        raise PickingError(_("Finish order %(number)s first.") % {"number": existing.order.number})
    pick_list = PickList.objects.filter(number=code).first()
    with transaction.atomic():
        if pick_list is not None:
            if pick_list.status != PickList.Status.ACTIVE:
                raise PickingError(
                    _("Pick list %(number)s was reprinted and is void; use the newest copy.")
                    % {"number": code}
                )
            order = (Order.objects.select_for_update(skip_locked=True)
                     .filter(pk__in=pick_list.slots.values("order_id"),
                             status=OrderStatus.READY_TO_PICK)
                     .order_by("pk").first())
            if order is None:
                raise PickingError(_("Every order of this pick list is taken or done."))
        else:
            order = Order.objects.select_for_update().filter(number=code).first()
            if order is None:
                raise PickingError(_("“%(code)s” is not an order or pick list.") % {"code": code})
            if order.status != OrderStatus.READY_TO_PICK:
                raise PickingError(
                    _("Order %(number)s is %(status)s; it cannot be picked now.")
                    % {"number": order.number, "status": order.get_status_display()}
                )
        if order.warehouse_id != warehouse.pk:
            raise PickingError(_("This order is picked in another warehouse."))
        return _start_task(order, picker, pick_list)


# --- scanning --------------------------------------------------------------------------

# Selected with the scan's task lock (PostgreSQL): ``SET LOCAL synchronous_commit TO
# OFF`` without a round trip of its own. A scan's COMMIT waited on the WAL flush (~2-10
# ms here, more under load), the largest single cost of the hot path. The database
# stays consistent; what a crash can lose is the last fraction of a second of
# acknowledged scans (at most 3 x wal_writer_delay), which the screen shows as not
# counted when it reloads, and the picker scans that item again. Only the scan's own
# transaction is affected; every other keeps full durability.
FAST_COMMIT = Func(Value("synchronous_commit"), Value("off"), Value(True),
                   function="set_config", output_field=CharField())


@dataclass
class ScanOutcome:
    result: str
    message: str
    task: PickTask
    line_id: int | None = None
    replay: bool = False
    # The task's lines as they are after this scan (sku loaded), for ``task_state``.
    lines: list[PickTaskLine] | None = None

    @property
    def ok(self) -> bool:
        return self.result == R.OK


def _lock_task(task_id, picker, *, scan_key: str | None = None) -> PickTask:
    """Lock the task row (only: a scan must not block, or wait for, ops working on the
    order). With ``scan_key``, the same query tells whether a scan with that key is
    stored already (``task.previous_scan_id``): one round trip less on the hot path."""
    tasks = PickTask.objects.select_for_update(of=("self",)).select_related("order")
    if scan_key is not None:
        tasks = tasks.annotate(previous_scan_id=Subquery(
            ScanEvent.objects.filter(key=scan_key).order_by().values("pk")[:1]))
        if connection.vendor == "postgresql":
            tasks = tasks.annotate(fast_commit=FAST_COMMIT)
    task = tasks.filter(pk=task_id).order_by().first()
    if task is None:
        raise PickingError(_("There is no such task."))
    if task.picker_id != picker.pk:
        raise TaskNotYours(_("This order is being picked by someone else."))
    if task.status != PickTask.Status.OPEN:
        raise TaskNotYours(_("This task is closed (%(status)s).")
                           % {"status": task.get_status_display()})
    return task


def _require_picking(task: PickTask) -> None:
    """Refuse work on an order that ops put on hold meanwhile (the task stays open:
    a release brings the order back to picking and the picker goes on)."""
    order = task.order
    if order.status == OrderStatus.ON_HOLD:
        raise TaskNotYours(_("Order %(number)s is on hold: stop picking it and put the "
                             "items aside. Reason: %(reason)s")
                           % {"number": order.number, "reason": order.hold_reason or "—"})
    if order.status != OrderStatus.PICKING:
        raise TaskNotYours(_("Order %(number)s is %(status)s; it cannot be picked now.")
                           % {"number": order.number, "status": order.get_status_display()})


def _sku_for_barcode(code: str) -> int | None:
    # order_by(): both codes are unique, and Barcode's default ordering joins SKU.
    sku_id = Barcode.objects.filter(code=code).order_by().values_list("sku_id", flat=True).first()
    if sku_id is None:
        sku_id = SKU.objects.filter(code=code).order_by().values_list("pk", flat=True).first()
    return sku_id


def task_scan(*, task_id: int, picker, barcode: str, key: str) -> ScanOutcome:
    """Count one scanned item on the picker's task.

    ``key`` is the client's idempotency key: the same key is answered with the
    first result and never counts twice. A wrong item, an over-pick or an
    unknown barcode is refused (recorded, nothing counted).
    """
    who = actor_info(picker)
    barcode, key = scan_input(barcode, key, PickingError)
    try:
        return _task_scan(task_id=task_id, picker=picker, who=who, barcode=barcode, key=key)
    except IntegrityError as exc:
        # The same key raced in on another task: the whole scan (count included) was
        # rolled back. No savepoint around the insert: two round trips less per scan.
        if ScanEvent.objects.filter(key=key).exists():
            raise PickingError(_("This scan key was already used.")) from exc
        raise


def scan_input(barcode, key, error=None) -> tuple[str, str]:
    """A scan's barcode and idempotency key, stripped; ``error`` raised when unusable."""
    error = error or PickingError
    barcode = (barcode or "").strip()
    key = (key or "").strip()
    if not barcode:
        raise error(_("Nothing was scanned."))
    if not key or len(key) > 64:
        raise error(_("A scan needs an idempotency key of at most 64 characters."))
    return barcode, key


def match_scan(lines: list, barcode: str, *, counted: str, over: str,
               sku_id: int | None = None, sku_known: bool = False) -> tuple:
    """Which of ``lines`` a scanned barcode counts towards: (result, line, message).

    The same rule for picking and pack-verify: an unknown barcode, an item not
    in the order and one more than ordered are refused; otherwise the first
    line of that SKU still short is counted (in memory: ``counted`` + 1; the
    caller writes it). ``over`` is the over-scan message (%(n)s, %(name)s).
    ``sku_known``: the caller found the barcode's SKU already (``sku_id``, None for an
    unknown code); otherwise it is looked up here.
    """
    if not sku_known:
        sku_id = _sku_for_barcode(barcode)
    if sku_id is None:
        return R.UNKNOWN, None, _("Unknown barcode %(code)s.") % {"code": barcode}
    same = [ln for ln in lines if ln.sku_id == sku_id]
    short = [ln for ln in same if getattr(ln, counted) < ln.quantity]
    if not same:
        return (R.WRONG_ITEM, None,
                _("Wrong item: %(code)s is not in this order.") % {"code": barcode})
    if not short:
        return (R.OVER_PICK, same[0],
                over % {"n": sum(ln.quantity for ln in same), "name": same[0].name})
    line = short[0]
    setattr(line, counted, getattr(line, counted) + 1)
    return (R.OK, line, _("%(name)s %(picked)s/%(qty)s") % {
        "name": line.name, "picked": getattr(line, counted), "qty": line.quantity})


def _task_scan(*, task_id, picker, who, barcode: str, key: str) -> ScanOutcome:
    # The hot path of the warehouse (bench/scan.py): BEGIN, task lock (+ key check, +
    # fast commit), lines (+ barcode), update, insert, COMMIT: pinned by
    # tests/warehouse/test_scan_queries.py.
    with transaction.atomic():
        task = _lock_task(task_id, picker, scan_key=key)
        if task.previous_scan_id is not None:
            previous = ScanEvent.objects.get(pk=task.previous_scan_id)
            if previous.task_id != task.pk:
                raise PickingError(_("This scan key was used for another task."))
            return ScanOutcome(previous.result, previous.message, task, previous.line_id,
                               replay=True)
        _require_picking(task)
        # Loaded once with their SKUs: the response's task state reuses them (hot path).
        all_lines = _lines(task, barcode=barcode)
        result, line, message = match_scan(
            all_lines, barcode, counted="picked",
            sku_id=_scanned_sku(all_lines, barcode), sku_known=True,
            over=_("Too many: all %(n)s of %(name)s are already picked."))
        if result == R.OK:
            PickTaskLine.objects.filter(pk=line.pk).update(picked=F("picked") + 1)
        ScanEvent.objects.create(key=key, task=task, barcode=barcode[:64], result=result,
                                 line=line, message=message[:255], actor_user=who.user)
    return ScanOutcome(result, message, task, line.pk if line else None, lines=all_lines)


def _lines(task: PickTask, *, barcode: str | None = None) -> list[PickTaskLine]:
    """The task's lines with their SKUs. With ``barcode``, each line also carries
    ``barcode_sku_id``: the SKU that barcode belongs to (None: no such barcode row),
    read in the same query (one uncorrelated sub-select) instead of one more."""
    lines = PickTaskLine.objects.filter(task=task).select_related("sku")
    if barcode is not None:
        lines = lines.annotate(barcode_sku_id=Subquery(
            Barcode.objects.filter(code=barcode).order_by("pk").values("sku_id")[:1]))
    # Explicit order_by: the model's default ordering would join the task table.
    return list(lines.order_by("is_gift", "pick_order", "bin_code", "id"))


def _scanned_sku(lines: list[PickTaskLine], barcode: str) -> int | None:
    """The scanned SKU (None: unknown) as ``_sku_for_barcode`` finds it, using what
    ``_lines(task, barcode=...)`` read: no query for an item of the order."""
    if not lines:
        return _sku_for_barcode(barcode)
    if lines[0].barcode_sku_id is not None:
        return lines[0].barcode_sku_id  # a barcode row wins, as in _sku_for_barcode
    for line in lines:
        if line.sku.code == barcode:
            return line.sku_id
    # No barcode row has this code: only a SKU code (of an item not in the order) can.
    return SKU.objects.filter(code=barcode).order_by().values_list("pk", flat=True).first()


def task_state(task: PickTask, *, lines: list[PickTaskLine] | None = None) -> dict:
    """The task as the scanning script renders it; pass ``lines`` already loaded to save queries."""
    lines = _lines(task) if lines is None else lines
    total = sum(ln.quantity for ln in lines)
    picked = sum(ln.picked for ln in lines)
    return {
        "id": task.pk,
        "order": task.order.number,
        "order_id": task.order_id,
        "status": task.status,
        "urgent": task.order.is_urgent,
        # Ops may hold the order mid-pick: the screen shows it and waits for the release.
        "on_hold": task.order.status == OrderStatus.ON_HOLD,
        "hold_reason": task.order.hold_reason if task.order.status == OrderStatus.ON_HOLD else "",
        "picked": picked,
        "total": total,
        "complete": picked == total,
        "lines": [
            {"id": ln.pk, "sku": ln.sku.code, "name": ln.name, "bin": ln.bin_code,
             "quantity": ln.quantity, "picked": ln.picked, "gift": ln.is_gift}
            for ln in sorted(lines, key=lambda ln: (ln.picked >= ln.quantity, ln.is_gift,
                                                   ln.pick_order, ln.bin_code))
        ],
    }


# --- problems and finishing --------------------------------------------------------

# The finish's reason when a reported problem lets the picker finish short.
PICKED_SHORT = gettext_noop("Picked short: %(items)s (problem reported: %(problem)s)")
register_stored_texts(PICKED_SHORT)


# A phone camera photo is 2-6 MB; anything far bigger is not a photo of a parcel.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def _checked_photo(photo):
    """The uploaded photo, renamed, if it really is a JPEG/PNG/WebP of sane size.

    The content is read by Pillow, not trusted from the name or the browser's
    content type, and the stored name is random: a client-chosen name could
    carry a path or an executable extension.
    """
    if photo.size > PHOTO_MAX_BYTES:
        raise PickingError(
            _("The photo is too large (%(size).1f MB); the limit is %(max)s MB.")
            % {"size": photo.size / 2**20, "max": PHOTO_MAX_BYTES // 2**20}
        )
    try:
        with Image.open(photo) as image:
            kind = image.format
            image.verify()
    except Exception as exc:  # Pillow raises many types for a file that is not an image
        raise PickingError(_("The photo must be a JPEG, PNG or WebP image.")) from exc
    if kind not in PHOTO_FORMATS:
        raise PickingError(_("The photo must be a JPEG, PNG or WebP image."))
    photo.seek(0)
    photo.name = f"{uuid.uuid4().hex}.{PHOTO_FORMATS[kind]}"
    return photo


def task_report_problem(*, task_id: int, picker, kind: str, note: str = "",
                        photo=None) -> PickProblem:
    """Record a problem on the order; ops hear about it through ``pick_problem_reported``.

    ``photo`` is an uploaded file (JPEG, PNG or WebP, at most ``PHOTO_MAX_BYTES``);
    a bad one is refused and nothing is recorded.
    """
    who = actor_info(picker)
    if kind not in PickProblem.Kind.values:
        raise PickingError(_("Choose what the problem is."))
    note = (note or "").strip()
    if kind == PickProblem.Kind.OTHER and not note:
        raise PickingError(_("Please describe the problem."))
    if photo:
        photo = _checked_photo(photo)
    with transaction.atomic():
        task = _lock_task(task_id, picker)
        problem = PickProblem.objects.create(
            order=task.order, task=task, warehouse_id=task.warehouse_id, kind=kind, note=note,
            actor_user=who.user, actor=who.label, **({"photo": photo} if photo else {}),
        )
        label = PickProblem.Kind(kind).label
        order_event_record(
            order=task.order, kind="pick_problem", actor=picker,
            message=f"{label}: {note}" if note else str(label),
            data={"problem_id": problem.pk, "kind": kind, "task_id": task.pk},
        )
        payload = {"problem_id": problem.pk, "order_id": task.order_id,
                   "warehouse_id": task.warehouse_id, "kind": kind, "note": note,
                   "actor": who.label}
        transaction.on_commit(lambda: pick_problem_reported.send(sender=PickProblem, **payload))
    return problem


def task_finish(*, task_id: int, picker) -> PickTask:
    """Every line is scanned: the order becomes ``picked`` and the task is done.

    A line still short is refused unless a problem was reported on this task
    (a missing item or gift: ops already have its ticket); the order is then
    picked short and the finish's reason in the order's log names what is
    missing, so the pack bench and ops see it.
    """
    with transaction.atomic():
        task = _lock_task(task_id, picker)
        _require_picking(task)
        short = [ln for ln in task.lines.all() if ln.picked < ln.quantity]
        missing = ", ".join(f"{ln.name} ×{ln.quantity - ln.picked}" for ln in short)
        reason = ""
        if short:
            problems = list(task.problems.order_by("created_at", "pk")
                            .values_list("kind", flat=True))
            if not problems:
                raise PickingError(
                    _("Still to pick: %(items)s. Scan them, or report a problem first.")
                    % {"items": missing})
            # Stored in the site language, shown in the reader's (orderhub.stored_text).
            with override(settings.LANGUAGE_CODE):
                reason = _(PICKED_SHORT) % {
                    "items": missing,
                    "problem": ", ".join(dict.fromkeys(str(PickProblem.Kind(kind).label)
                                                       for kind in problems))}
        order_transition(order=task.order, name="finish", actor=picker, reason=reason,
                         scan_flow=True)
        task.status = PickTask.Status.DONE
        task.finished_at = timezone.now()
        task.save(update_fields=["status", "finished_at"])
    return task
