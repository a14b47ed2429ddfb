"""Transfer requests: stock asked from another warehouse for orders short in theirs.

``transfer_for_shortage`` runs after an allocation came up short
(``stock_insufficient``, sent on commit by ``order_allocate`` and the bulk
path). It picks the first active warehouse (by name) whose free units (on hand
minus reserved, minus what its open requests already promise) cover every
missing unit, and asks it for them: a request still ``requested`` between the
same two warehouses grows (its lines and its waiting orders), otherwise a new
one is made. An order already waiting on an open request adds nothing, so the
retries of an out-of-stock order (the ``retry_out_of_stock`` sweep) never
duplicate its shortage. When no single warehouse has it all, no request is
made (purchasing is told, as before).

The lead then (``warehouse.handle_transfer``):

- confirms: the units leave the source through the stock ledger
  (``transfer_out``); refused when the source no longer has them free;
- or rejects, with a reason;
- marks a confirmed request received, per line at most what was requested:
  the units arrive in the destination (``transfer_in``) and the waiting
  orders are allocated again (``retry_transfer_orders``, queued on commit;
  the out-of-stock sweep catches a lost task).

Locks: the destination warehouse row first (one creator per destination at a
time), then the request, then stock levels by pk (``stock_transfer``).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from orderhub.models import Order, OrderStatus
from orderhub.queue import enqueue
from orderhub.services.events import order_event_record
from orderhub.services.orders import Actor, actor_info
from orderhub.stored_text import register_stored_texts
from warehouse.models import (
    SKU,
    StockLevel,
    TransferLine,
    TransferOrder,
    TransferRequest,
    Warehouse,
)
from warehouse.services.stock import InsufficientStock, StockError, order_allocate, stock_transfer

logger = logging.getLogger(__name__)

ACTOR = "system:transfers"
RETRY_TASK = "warehouse.tasks.retry_transfer_orders"
S = TransferRequest.Status
OPEN = (S.REQUESTED, S.CONFIRMED)
# On the order's timeline: stored in English, translated when shown.
REQUESTED_TEXT = gettext_noop("Transfer request T%(id)s: %(units)s asked from %(source)s.")
register_stored_texts(REQUESTED_TEXT)


class TransferError(StockError):
    """A transfer action refused, with the reason for the person who tried it."""


def _missing(shortages: list[dict]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for short in shortages or ():
        units = int(short.get("requested", 0)) - max(int(short.get("available", 0)), 0)
        if units > 0:
            out[str(short["sku_code"])] += units
    return dict(out)


def _promised(source_ids, sku_ids) -> dict[tuple[int, int], int]:
    """Units open requests (not yet confirmed) already ask of each (source, SKU)."""
    rows = (TransferLine.objects.filter(request__status=S.REQUESTED,
                                        request__from_warehouse_id__in=list(source_ids),
                                        sku_id__in=list(sku_ids))
            .values("request__from_warehouse_id", "sku_id").annotate(n=Sum("quantity")))
    return {(r["request__from_warehouse_id"], r["sku_id"]): r["n"] or 0 for r in rows}


def find_source(*, warehouse_id: int, needs: dict[int, int]) -> Warehouse | None:
    """The first active warehouse (by name) other than ``warehouse_id`` that has ``needs`` free."""
    others = list(Warehouse.objects.filter(active=True).exclude(pk=warehouse_id)
                  .order_by("name", "pk"))
    if not others or not needs:
        return None
    free: dict[tuple[int, int], int] = {}
    for wh_id, sku_id, on_hand, reserved in StockLevel.objects.filter(
            warehouse__in=others, sku_id__in=list(needs)).values_list(
            "warehouse_id", "sku_id", "on_hand", "reserved"):
        free[(wh_id, sku_id)] = on_hand - reserved
    promised = _promised([w.pk for w in others], needs)
    for wh in others:
        if all(free.get((wh.pk, s), 0) - promised.get((wh.pk, s), 0) >= q
               for s, q in needs.items()):
            return wh
    return None


def transfer_for_shortage(*, order_id: int, warehouse_id: int, shortages: list[dict],
                          actor: Actor = ACTOR) -> TransferRequest | None:
    """Ask another warehouse for what ``order_id`` lacks in ``warehouse_id``.

    Returns the request the order now waits on (new, grown, or the one it
    already waited on), or None when no warehouse has the units.
    """
    missing = _missing(shortages)
    if not missing:
        return None
    with transaction.atomic():
        target = Warehouse.objects.select_for_update().filter(pk=warehouse_id).first()
        if target is None:
            return None
        waiting = (TransferRequest.objects.filter(to_warehouse=target, status__in=OPEN,
                                                  waiting__order_id=order_id).first())
        if waiting is not None:
            return waiting
        skus = dict(SKU.objects.filter(code__in=list(missing)).values_list("code", "pk"))
        needs = {skus[code]: units for code, units in missing.items() if code in skus}
        if not needs:
            return None
        source = find_source(warehouse_id=target.pk, needs=needs)
        if source is None:
            logger.info("no warehouse can cover order %s's shortage in %s", order_id,
                        target.code)
            return None
        request = (TransferRequest.objects.select_for_update()
                   .filter(from_warehouse=source, to_warehouse=target, status=S.REQUESTED)
                   .order_by("pk").first())
        if request is None:
            request = TransferRequest.objects.create(from_warehouse=source, to_warehouse=target)
        lines = {line.sku_id: line for line in request.lines.all()}
        for sku_id, units in sorted(needs.items()):
            if sku_id in lines:
                TransferLine.objects.filter(pk=lines[sku_id].pk).update(
                    quantity=lines[sku_id].quantity + units)
            else:
                TransferLine.objects.create(request=request, sku_id=sku_id, quantity=units)
        TransferOrder.objects.create(request=request, order_id=order_id)
        order_event_record(
            order=order_id, kind="transfer_requested", actor=actor,
            message=REQUESTED_TEXT % {
                "id": request.pk, "source": source.name,
                "units": ", ".join(f"{code} × {n}" for code, n in sorted(missing.items()))},
            data={"transfer_id": request.pk, "from_warehouse_id": source.pk,
                  "missing": missing})
    return request


def _check_user(actor: Actor) -> None:
    who = actor_info(actor)
    if who.user is not None and not who.user.has_perm("warehouse.handle_transfer"):
        raise TransferError(_("You are not allowed to handle transfer requests."))


def _lock(transfer: TransferRequest | int) -> TransferRequest:
    pk = transfer.pk if isinstance(transfer, TransferRequest) else int(transfer)
    locked = (TransferRequest.objects.select_for_update().select_related(
        "from_warehouse", "to_warehouse").filter(pk=pk).first())
    if locked is None:
        raise TransferError(_("There is no transfer request %(id)s.") % {"id": pk})
    return locked


def _refuse_state(request: TransferRequest, wanted: str) -> None:
    if request.status != wanted:
        raise TransferError(
            _("Transfer request T%(id)s is already %(status)s; it cannot be %(action)s.")
            % {"id": request.pk, "status": request.get_status_display().lower(),
               "action": {S.REQUESTED: _("confirmed or rejected"),
                          S.CONFIRMED: _("received")}[wanted]})


def transfer_confirm(*, transfer: TransferRequest | int, actor: Actor) -> TransferRequest:
    """The source sends the units: they leave its stock. Only a ``requested`` request."""
    _check_user(actor)
    who = actor_info(actor)
    with transaction.atomic():
        request = _lock(transfer)
        _refuse_state(request, S.REQUESTED)
        quantities = dict(request.lines.values_list("sku_id", "quantity"))
        try:
            stock_transfer(warehouse=request.from_warehouse, quantities=quantities,
                           actor=actor, outgoing=True,
                           reason=_("transfer T%(id)s to %(to)s")
                           % {"id": request.pk, "to": request.to_warehouse.code})
        except InsufficientStock as exc:
            raise TransferError(
                _("%(source)s no longer has these units free: %(skus)s")
                % {"source": request.from_warehouse.name,
                   "skus": ", ".join(f"{s.sku_code} ({s.available}/{s.requested})"
                                     for s in exc.shortages)}) from exc
        request.status = S.CONFIRMED
        request.confirmed_at = timezone.now()
        request.decided_by = who.user
        request.save(update_fields=["status", "confirmed_at", "decided_by"])
    return request


def transfer_reject(*, transfer: TransferRequest | int, actor: Actor,
                    reason: str) -> TransferRequest:
    """Refuse a ``requested`` request, with a reason; no stock moves."""
    _check_user(actor)
    who = actor_info(actor)
    reason = (reason or "").strip()
    if not reason:
        raise TransferError(_("Please give a reason for rejecting the transfer."))
    with transaction.atomic():
        request = _lock(transfer)
        _refuse_state(request, S.REQUESTED)
        request.status = S.REJECTED
        request.rejected_at = timezone.now()
        request.decided_by = who.user
        request.note = reason[:255]
        request.save(update_fields=["status", "rejected_at", "decided_by", "note"])
    return request


def _parse_units(value, code: str, requested: int) -> int:
    try:
        units = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise TransferError(_("%(sku)s: “%(value)s” is not a whole number.")
                            % {"sku": code, "value": value}) from exc
    if units < 0:
        raise TransferError(_("%(sku)s: the quantity cannot be negative.") % {"sku": code})
    if units > requested:
        raise TransferError(
            _("%(sku)s: %(units)s received is more than the %(requested)s requested.")
            % {"sku": code, "units": units, "requested": requested})
    return units


def transfer_receive(*, transfer: TransferRequest | int, actor: Actor,
                     received: dict[int, object] | None = None) -> TransferRequest:
    """The units arrived in the destination: book them in, retry the waiting orders.

    ``received``: units per line id (default: every line in full); each at
    most what was requested. Only a ``confirmed`` request; a short delivery is
    noted on the request.
    """
    _check_user(actor)
    who = actor_info(actor)
    with transaction.atomic():
        request = _lock(transfer)
        _refuse_state(request, S.CONFIRMED)
        lines = list(request.lines.select_related("sku").order_by("pk"))
        received = received or {}
        unknown = set(received) - {line.pk for line in lines}
        if unknown:
            raise TransferError(_("These lines are not on transfer T%(id)s: %(lines)s")
                                % {"id": request.pk,
                                   "lines": ", ".join(str(x) for x in sorted(unknown))})
        counts = {line.pk: _parse_units(received.get(line.pk, line.quantity), line.sku.code,
                                        line.quantity) for line in lines}
        stock_transfer(warehouse=request.to_warehouse,
                       quantities={line.sku_id: counts[line.pk] for line in lines},
                       actor=actor, outgoing=False,
                       reason=_("transfer T%(id)s from %(source)s")
                       % {"id": request.pk, "source": request.from_warehouse.code})
        for line in lines:
            line.received_quantity = counts[line.pk]
        TransferLine.objects.bulk_update(lines, ["received_quantity"])
        short = [f"{line.sku.code} {counts[line.pk]}/{line.quantity}" for line in lines
                 if counts[line.pk] < line.quantity]
        request.status = S.RECEIVED
        request.received_at = timezone.now()
        request.decided_by = who.user
        if short:
            request.note = (_("Received short: %(lines)s") % {"lines": ", ".join(short)})[:255]
        request.save(update_fields=["status", "received_at", "decided_by", "note"])
        transfer_id = request.pk
        transaction.on_commit(lambda: enqueue(RETRY_TASK, transfer_id))
    return request


def transfer_retry_orders(*, transfer_id: int, actor: Actor = ACTOR) -> list[int]:
    """Allocate again, in the destination, the out-of-stock orders waiting on a received request.

    Oldest paid first; returns the ids now ready to pick. Idempotent: orders
    no longer out of stock are left alone.
    """
    request = TransferRequest.objects.select_related("to_warehouse").filter(
        pk=transfer_id, status=S.RECEIVED).first()
    if request is None:
        return []
    ready = []
    orders = (Order.objects.filter(pk__in=request.waiting.values("order_id"),
                                   status=OrderStatus.OUT_OF_STOCK)
              .order_by("paid_at", "pk").values_list("pk", flat=True))
    for order_id in orders:
        try:
            result = order_allocate(order=order_id, warehouse=request.to_warehouse, actor=actor)
        except StockError:
            logger.warning("order %s still cannot be allocated after transfer %s", order_id,
                           transfer_id, exc_info=True)
            continue
        if result.ok:
            ready.append(order_id)
    return ready
