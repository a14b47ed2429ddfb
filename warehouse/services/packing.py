"""Pack-verify: at the packing bench, scan the order, then every item again.

Picking already moved the order to ``picked``; verification adds no state
transition (the next one, ``ship``, belongs to the carrier booking). What it
adds is a ``PackCheck`` row saying who verified the order and when, and an
``OrderEvent`` on the order's timeline, so a parcel with a wrong item can be
traced to the bench that sealed it.

Starting a check locks the order row, so two packers scanning the same order
at once cannot both open a check. A scan locks its check row; a retried scan
(same idempotency key) is answered from the stored result and never counts
twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from orderhub.models import Order, OrderStatus
from orderhub.services.events import order_event_record
from orderhub.services.orders import actor_info
from warehouse.models import PackCheck, PackCheckLine, PackScan, PickList, ScanEvent, Warehouse
from warehouse.services.picking import PickingError, match_scan, scan_input
from warehouse.services.picklists import catalogue_for, expand_lines
from warehouse.signals import pack_verified

R = ScanEvent.Result
# The seal label's QR code holds the order page's absolute URL.
ORDER_URL = re.compile(r"/orders/(\d+)/?(?:[?#].*)?$")


class PackingError(PickingError):
    pass


class CheckNotYours(PackingError):
    """Someone else holds the check, or it is closed."""

    status = 409


def _order_for_code(code: str) -> Order:
    """The order a scanned order number, single-order pick list or seal QR stands for."""
    match = ORDER_URL.search(code)
    if match:
        order = Order.objects.filter(pk=int(match.group(1))).first()
    else:
        order = Order.objects.filter(number=code).first()
    if order is not None:
        return order
    pick_list = PickList.objects.filter(number=code).first()
    if pick_list is None:
        raise PackingError(_("“%(code)s” is not an order, pick list or seal label.")
                           % {"code": code})
    order_ids = list(pick_list.slots.values_list("order_id", flat=True)[:2])
    if len(order_ids) != 1:
        raise PackingError(_("Pick list %(number)s is a wave: scan the order's own barcode.")
                           % {"number": code})
    return Order.objects.get(pk=order_ids[0])


def _open_check(packer) -> PackCheck | None:
    return (PackCheck.objects.filter(packer=packer, status=PackCheck.Status.OPEN)
            .select_related("order").first())


def pack_start(*, packer, warehouse: Warehouse, code: str) -> PackCheck:
    """Open (or resume) the packer's check of the order that ``code`` names.

    The order must be ``picked``, belong to ``warehouse``, not be verified yet
    and not be under another packer's check.
    """
    actor_info(packer)
    code = (code or "").strip()
    if not code:
        raise PackingError(_("Nothing was scanned."))
    existing = _open_check(packer)
    order = _order_for_code(code)
    if existing is not None:
        if existing.order_id == order.pk:
            return existing
        raise PackingError(_("Finish or cancel order %(number)s first.")
                           % {"number": existing.order.number})
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.warehouse_id != warehouse.pk:
            raise PackingError(_("This order is packed in another warehouse."))
        if order.status != OrderStatus.PICKED:
            raise PackingError(
                _("Order %(number)s is %(status)s; only picked orders are packed.")
                % {"number": order.number, "status": order.get_status_display()}
            )
        others = {c.status: c for c in PackCheck.objects.select_related("packer")
                  .filter(order=order, status__in=[PackCheck.Status.OPEN,
                                                   PackCheck.Status.VERIFIED])}
        done = others.get(PackCheck.Status.VERIFIED)
        if done is not None:
            raise PackingError(
                _("Order %(number)s was already verified by %(who)s at %(when)s.")
                % {"number": order.number, "who": done.packer.get_username(),
                   "when": f"{timezone.localtime(done.finished_at):%Y-%m-%d %H:%M}"}
            )
        busy = others.get(PackCheck.Status.OPEN)
        if busy is not None:
            raise CheckNotYours(_("Order %(number)s is being verified by %(who)s.")
                                % {"number": order.number, "who": busy.packer.get_username()})
        check = PackCheck.objects.create(order=order, warehouse=warehouse, packer=packer)
        merged: dict[tuple[int, bool], PackCheckLine] = {}
        for sku, qty, gift, _sold_as in expand_lines(order, catalogue_for([order])):
            line = merged.get((sku.pk, gift))
            if line is None:
                line = merged[(sku.pk, gift)] = PackCheckLine(
                    pack_check=check, sku=sku, name=sku.name, quantity=0, is_gift=gift)
            line.quantity += qty
        PackCheckLine.objects.bulk_create(merged.values())
    return check


def _lock_check(check_id: int, packer) -> PackCheck:
    check = (PackCheck.objects.select_for_update(of=("self",)).select_related("order")
             .filter(pk=check_id).order_by().first())
    if check is None:
        raise PackingError(_("There is no such check."))
    if check.packer_id != packer.pk:
        raise CheckNotYours(_("This order is being verified by someone else."))
    if check.status != PackCheck.Status.OPEN:
        raise CheckNotYours(_("This check is closed (%(status)s).")
                            % {"status": check.get_status_display()})
    return check


@dataclass
class PackScanOutcome:
    result: str
    message: str
    check: PackCheck
    line_id: int | None = None
    replay: bool = False
    lines: list[PackCheckLine] | None = None

    @property
    def ok(self) -> bool:
        return self.result == R.OK


def pack_scan(*, check_id: int, packer, barcode: str, key: str) -> PackScanOutcome:
    """Count one item into the parcel. Wrong, extra and unknown items are refused."""
    who = actor_info(packer)
    barcode, key = scan_input(barcode, key, PackingError)
    try:
        return _pack_scan(check_id=check_id, packer=packer, who=who, barcode=barcode, key=key)
    except IntegrityError as exc:
        # The same key raced in on another check: the whole scan was rolled back.
        if PackScan.objects.filter(key=key).exists():
            raise PackingError(_("This scan key was already used.")) from exc
        raise


def _pack_scan(*, check_id, packer, who, barcode: str, key: str) -> PackScanOutcome:
    with transaction.atomic():
        check = _lock_check(check_id, packer)
        previous = PackScan.objects.filter(key=key).order_by().first()
        if previous is not None:
            if previous.pack_check_id != check.pk:
                raise PackingError(_("This scan key was used for another task."))
            return PackScanOutcome(previous.result, previous.message, check, previous.line_id,
                                   replay=True)
        all_lines = _lines(check)
        result, line, message = match_scan(
            all_lines, barcode, counted="scanned",
            over=_("Too many: all %(n)s of %(name)s are already in the parcel."))
        if result == R.OK:
            PackCheckLine.objects.filter(pk=line.pk).update(scanned=F("scanned") + 1)
        PackScan.objects.create(key=key, pack_check=check, barcode=barcode[:64],
                                result=result, line=line, message=message[:255],
                                actor_user=who.user)
    return PackScanOutcome(result, message, check, line.pk if line else None, lines=all_lines)


def _lines(check: PackCheck) -> list[PackCheckLine]:
    return list(PackCheckLine.objects.filter(pack_check=check).select_related("sku")
                .order_by("is_gift", "id"))


def pack_complete(*, check_id: int, packer) -> PackCheck:
    """Every item is in the parcel: record the verification on the order."""
    who = actor_info(packer)
    with transaction.atomic():
        check = _lock_check(check_id, packer)
        short = [ln for ln in check.lines.all() if ln.scanned < ln.quantity]
        if short:
            raise PackingError(
                _("Still missing: %(items)s")
                % {"items": ", ".join(f"{ln.name} ×{ln.quantity - ln.scanned}" for ln in short)}
            )
        # The order may have been intercepted while it sat on the bench.
        order = Order.objects.select_for_update().get(pk=check.order_id)
        if order.status != OrderStatus.PICKED:
            raise PackingError(
                _("Order %(number)s is %(status)s now: do not seal it, tell ops.")
                % {"number": order.number, "status": order.get_status_display()}
            )
        check.status = PackCheck.Status.VERIFIED
        check.finished_at = timezone.now()
        check.save(update_fields=["status", "finished_at"])
        units = sum(ln.quantity for ln in check.lines.all())
        order_event_record(
            order=order, kind="pack_verified", actor=packer,
            message=_("Verified at the packing bench: %(n)s units.") % {"n": units},
            data={"pack_check_id": check.pk, "units": units},
        )
        payload = {"check_id": check.pk, "order_id": order.pk,
                   "warehouse_id": check.warehouse_id, "actor": who.label}
        transaction.on_commit(lambda: pack_verified.send(sender=PackCheck, **payload))
    return check


def pack_abandon(*, check_id: int, packer) -> PackCheck:
    """Put the order aside unverified; anyone can start a new check of it later."""
    with transaction.atomic():
        check = _lock_check(check_id, packer)
        check.status = PackCheck.Status.ABANDONED
        check.finished_at = timezone.now()
        check.save(update_fields=["status", "finished_at"])
    return check


def pack_state(check: PackCheck, *, lines: list[PackCheckLine] | None = None) -> dict:
    """The check as the scanning script renders it (same shape as a pick task)."""
    lines = _lines(check) if lines is None else lines
    total = sum(ln.quantity for ln in lines)
    scanned = sum(ln.scanned for ln in lines)
    return {
        "id": check.pk,
        "order": check.order.number,
        "order_id": check.order_id,
        "status": check.status,
        "urgent": check.order.is_urgent,
        "picked": scanned,
        "total": total,
        "complete": scanned == total,
        "lines": [
            {"id": ln.pk, "sku": ln.sku.code, "name": ln.name, "bin": "",
             "quantity": ln.quantity, "picked": ln.scanned, "gift": ln.is_gift}
            for ln in sorted(lines, key=lambda ln: (ln.scanned >= ln.quantity, ln.is_gift,
                                                   ln.pk))
        ],
    }
