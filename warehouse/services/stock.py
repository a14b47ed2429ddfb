"""Stock services: the only code that changes stock numbers.

Locking rules (read before adding a function here):

- A function that touches an order's reservations first locks the order row
  (``select_for_update``), then the ``StockLevel`` rows it needs, always with
  ``.order_by("pk")``. Every writer takes locks in that same order, so two
  writers can wait for each other but never deadlock.
- Levels change only with ``F()`` arithmetic on a locked row, and each change
  writes one ``StockMovement`` with the same deltas: the ledger and the levels
  cannot drift (``manage.py check_stock`` verifies it).
- The database refuses ``reserved > on_hand`` and negative numbers (check
  constraints), so even a bug here cannot oversell.

Why ~670 lines in one module: every stock writer must follow the locking
rules above, and keeping all of them (reserve, batch reserve, release,
consume, reroute, adjust, count, safety) beside those rules is what keeps
them honest. Bulk SQL goes through ``orderhub.db``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from orderhub.db import add_to_rows, in_values, insert_rows
from orderhub.models import Order, OrderLine, OrderStatus
from orderhub.services.bulk import orders_edit_and_transition
from orderhub.services.orders import Actor, actor_info, order_transition, order_update
from warehouse.models import (
    SKU,
    KitComponent,
    Reservation,
    StockLevel,
    StockMovement,
    StockSource,
    Warehouse,
)
from warehouse.signals import stock_insufficient, stock_low

logger = logging.getLogger(__name__)

Kind = StockMovement.Kind


class StockError(Exception):
    """A stock operation the user should read about; ``status`` is for views."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Shortage:
    sku_code: str
    requested: int
    available: int

    def as_dict(self) -> dict:
        return {"sku_code": self.sku_code, "requested": self.requested,
                "available": self.available}


class InsufficientStock(StockError):
    """Not every line of an order can be reserved in the warehouse."""

    status = 409

    def __init__(self, *, warehouse: Warehouse, shortages: list[Shortage]):
        self.warehouse = warehouse
        self.shortages = shortages
        super().__init__(
            _("Not enough stock in %(warehouse)s for: %(skus)s")
            % {
                "warehouse": warehouse.name,
                "skus": ", ".join(
                    f"{s.sku_code} ({s.available}/{s.requested})" for s in shortages
                ),
            }
        )

    @property
    def sku_codes(self) -> list[str]:
        return [s.sku_code for s in self.shortages]

    @property
    def purchasing_contact(self) -> dict:
        return self.warehouse.purchasing_contact


class UnknownSku(StockError):
    def __init__(self, codes: list[str]):
        self.codes = codes
        super().__init__(
            _("These SKUs are not in the catalogue: %(codes)s") % {"codes": ", ".join(codes)}
        )


# --- reading ---------------------------------------------------------------------


def units_to_ship(quantity: int, shipped_quantity: int) -> int:
    """Units of a line the hub still has to ship: the platform may have shipped some already."""
    return max(quantity - shipped_quantity, 0)


def order_lines_to_ship(order_ids) -> dict[int, list[tuple[str, int]]]:
    """``(sku code, units still to ship)`` per order, in one query.

    Lines the platform already shipped in full are left out: they need no stock,
    no pick and no pack check.
    """
    lines: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for order_id, code, qty, shipped in OrderLine.objects.filter(
        order_id__in=in_values(order_ids)
    ).order_by().values_list("order_id", "sku_code", "quantity", "shipped_quantity"):
        units = units_to_ship(qty, shipped)
        if units:
            lines[order_id].append((code, units))
    return lines


def orders_stock_needs(order_ids) -> dict[int, dict[int, int] | StockError]:
    """Units per SKU id each order still takes from the shelf, or why it cannot be known.

    The one place stock needs are worked out (automation's warehouse choice and
    both reservation paths call it): kits count as their components, only the
    units still to ship count, an order with nothing left to ship needs ``{}``.
    An order naming an unknown SKU gets ``UnknownSku``, one holding a kit with
    no components a ``StockError``. At most three queries whatever the number
    of orders (lines, SKUs, kit components).
    """
    ids = list(dict.fromkeys(order_ids))
    lines = order_lines_to_ship(ids)
    codes = {code for order_id in ids for code, _q in lines.get(order_id, ())}
    skus: dict[str, int] = {}
    kits: set[int] = set()
    # values_list, not instances: automation asks for thousands of orders at a time.
    for code, sku_id, kind in SKU.objects.filter(
        code__in=in_values(codes, db_type="text")
    ).order_by().values_list("code", "id", "kind"):
        skus[code] = sku_id
        if kind == SKU.Kind.KIT:
            kits.add(sku_id)
    parts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if kits:
        for kit_id, comp_id, qty in KitComponent.objects.filter(kit_id__in=kits).order_by(
            "pk"
        ).values_list("kit_id", "component_id", "quantity"):
            parts[kit_id].append((comp_id, qty))
    kit_codes = {sku_id: code for code, sku_id in skus.items() if sku_id in kits}
    out: dict[int, dict[int, int] | StockError] = {}
    for order_id in ids:
        order_lines = lines.get(order_id, ())
        unknown = sorted({code for code, _q in order_lines} - skus.keys())
        if unknown:
            out[order_id] = UnknownSku(unknown)
            continue
        needs: dict[int, int] = defaultdict(int)
        for code, qty in order_lines:
            sku_id = skus[code]
            if sku_id not in kits:
                needs[sku_id] += qty
                continue
            if not parts[sku_id]:
                needs = StockError(_("Kit %(code)s has no components.")
                                   % {"code": kit_codes[sku_id]})
                break
            for comp_id, n in parts[sku_id]:
                needs[comp_id] += n * qty
        out[order_id] = needs if isinstance(needs, StockError) else dict(needs)
    return out


def order_stock_needs(order: Order | int) -> dict[int, int]:
    """Units per SKU id an order still takes from the shelf (``orders_stock_needs`` for one).

    Raises ``UnknownSku`` or ``StockError`` (a kit without components).
    """
    order_id = order.pk if isinstance(order, Order) else int(order)
    needs = orders_stock_needs([order_id])[order_id]
    if isinstance(needs, StockError):
        raise needs
    return needs


# --- internals ------------------------------------------------------------------------


def _lock_levels(warehouse_id: int, sku_ids) -> dict[int, StockLevel]:
    levels = StockLevel.objects.select_for_update().filter(
        warehouse_id=warehouse_id, sku_id__in=list(sku_ids)
    ).order_by("pk")
    return {lvl.sku_id: lvl for lvl in levels}


def _lock_order(order: Order | int) -> Order:
    pk = order.pk if isinstance(order, Order) else order
    return Order.objects.select_for_update().get(pk=pk)


def _move(
    level: StockLevel,
    *,
    kind: str,
    on_hand: int = 0,
    reserved: int = 0,
    actor,
    order_id: int | None = None,
    reason: str = "",
    low_alerts: list | None = None,
) -> StockMovement:
    """Apply deltas to a level the caller holds locked; return the unsaved movement."""
    before_available = level.available
    StockLevel.objects.filter(pk=level.pk).update(
        on_hand=F("on_hand") + on_hand, reserved=F("reserved") + reserved,
        updated_at=timezone.now(),
    )
    level.on_hand += on_hand
    level.reserved += reserved
    if low_alerts is not None and before_available > 0 >= level.available:
        low_alerts.append(level)
    return StockMovement(
        warehouse_id=level.warehouse_id, sku_id=level.sku_id, kind=kind,
        on_hand_delta=on_hand, reserved_delta=reserved,
        on_hand_after=level.on_hand, reserved_after=level.reserved,
        order_id=order_id, reason=reason[:255], actor_user=actor.user, actor=actor.label,
    )


def _announce_low(levels: list[StockLevel]) -> None:
    for level in levels:
        payload = {
            "warehouse_id": level.warehouse_id, "sku_id": level.sku_id,
            "sku_code": level.sku.code, "available": level.available, "safety": level.safety,
        }
        transaction.on_commit(lambda p=payload: stock_low.send(sender=StockLevel, **p))


# --- reservations ---------------------------------------------------------------------


def stock_reserve(*, order: Order | int, warehouse: Warehouse, actor: Actor) -> list[Reservation]:
    """Reserve every line of ``order`` in ``warehouse``, or nothing.

    Idempotent: an order that already holds its reservations in this warehouse
    gets them back unchanged. An order holding stock in another warehouse must
    be moved with ``stock_reroute``. Raises ``InsufficientStock`` naming every
    short SKU, ``UnknownSku`` for lines not in the catalogue.
    """
    who = actor_info(actor)
    with transaction.atomic():
        order = _lock_order(order)
        existing = list(order.reservations.filter(status=Reservation.Status.ACTIVE))
        if existing:
            if any(r.warehouse_id != warehouse.pk for r in existing):
                raise StockError(
                    _("Order %(number)s holds stock in another warehouse; re-route it instead.")
                    % {"number": order.number}
                )
            return existing
        needs = order_stock_needs(order)
        levels = _lock_levels(warehouse.pk, needs)
        skus = SKU.objects.in_bulk(needs)
        shortages = []
        for sku_id, qty in sorted(needs.items()):
            level = levels.get(sku_id)
            sku = skus[sku_id]
            if level is None:
                free = 0
            else:
                free = level.on_hand - level.reserved
                if sku.stop_selling_at_safety:
                    free -= level.safety
            if free < qty:
                shortages.append(Shortage(sku.code, qty, max(free, 0)))
        if shortages:
            raise InsufficientStock(warehouse=warehouse, shortages=shortages)
        movements, reservations, low = [], [], []
        reason = _("order %(number)s") % {"number": order.number}
        for sku_id, qty in sorted(needs.items()):
            level = levels[sku_id]
            level.sku = skus[sku_id]
            movements.append(_move(level, kind=Kind.RESERVATION, reserved=qty, actor=who,
                                   order_id=order.pk, reason=reason, low_alerts=low))
            reservations.append(Reservation(order=order, warehouse=warehouse, sku_id=sku_id,
                                            quantity=qty))
        StockMovement.objects.bulk_create(movements)
        Reservation.objects.bulk_create(reservations)
        _announce_low(low)
    return reservations


def stock_reserve_batch(
    *, orders, warehouse: Warehouse | None = None, actor: Actor,
    warehouse_for: Mapping[int, Warehouse] | None = None,
) -> dict[int, list[Reservation] | StockError]:
    """Reserve many orders in one transaction (bulk allocation).

    Each order is reserved in ``warehouse_for[order id]``, else in
    ``warehouse``: one call can serve a batch bound for several warehouses.
    Each order is still all lines or nothing; orders are served in the order
    given, so earlier ones win scarce stock. Returns, per order id, its
    reservations or the error (``InsufficientStock``, ``UnknownSku``, or a
    ``StockError`` for an order holding stock elsewhere). Same locks, same
    order, as ``stock_reserve``: orders by pk, then levels by pk, the levels of
    every warehouse in one ordered ``SELECT ... FOR UPDATE``.
    """
    who = actor_info(actor)
    warehouse_for = warehouse_for or {}
    ids = list(dict.fromkeys(o.pk if isinstance(o, Order) else int(o) for o in orders))
    target = {order_id: warehouse_for.get(order_id, warehouse) for order_id in ids}
    if any(wh is None for wh in target.values()):
        raise ValueError("stock_reserve_batch needs a warehouse for every order")
    results: dict[int, list[Reservation] | StockError] = {}
    with transaction.atomic():
        # values_list: model instances would cost django-fsm a query each (deferred status).
        locked = dict(Order.objects.select_for_update().filter(pk__in=in_values(ids)).order_by("pk")
                      .values_list("pk", "number"))
        active: dict[int, list[Reservation]] = defaultdict(list)
        for res in Reservation.objects.filter(order_id__in=in_values(ids),
                                              status=Reservation.Status.ACTIVE):
            active[res.order_id].append(res)
        fresh = [order_id for order_id in ids if order_id in locked and not active.get(order_id)]
        computed = orders_stock_needs(fresh)
        needs_by_order: dict[int, dict[int, int]] = {}
        for order_id in ids:
            if order_id not in locked:
                results[order_id] = StockError(_("There is no order %(id)s.") % {"id": order_id})
            elif active.get(order_id):
                if any(r.warehouse_id != target[order_id].pk for r in active[order_id]):
                    results[order_id] = StockError(_("Order holds stock in another warehouse."))
                else:
                    results[order_id] = active[order_id]
            elif isinstance(computed[order_id], StockError):
                results[order_id] = computed[order_id]
            else:
                needs_by_order[order_id] = computed[order_id]
        wanted: dict[int, set[int]] = defaultdict(set)
        for order_id, needs in needs_by_order.items():
            wanted[target[order_id].pk].update(needs)
        levels = _lock_levels_many(wanted)
        all_skus = {sku_id for needs in needs_by_order.values() for sku_id in needs}
        skus = SKU.objects.in_bulk(all_skus)
        start = {key: lvl.reserved for key, lvl in levels.items()}
        movements, reservations, low = [], [], []
        now = timezone.now()
        actor_user_id = who.user.pk if who.user else None
        for order_id in ids:
            needs = needs_by_order.get(order_id)
            if needs is None:
                continue
            wh = target[order_id]
            shortages = []
            for sku_id, qty in sorted(needs.items()):
                level, sku = levels.get((wh.pk, sku_id)), skus[sku_id]
                free = 0 if level is None else level.on_hand - level.reserved - (
                    level.safety if sku.stop_selling_at_safety else 0)
                if free < qty:
                    shortages.append(Shortage(sku.code, qty, max(free, 0)))
            if shortages:
                results[order_id] = InsufficientStock(warehouse=wh, shortages=shortages)
                continue
            mine = []
            reason = _("order %(number)s") % {"number": locked[order_id]}
            for sku_id, qty in sorted(needs.items()):
                level = levels[(wh.pk, sku_id)]
                level.sku = skus[sku_id]
                before = level.available
                level.reserved += qty
                if before > 0 >= level.available:
                    low.append(level)
                movements.append((
                    wh.pk, sku_id, Kind.RESERVATION.value, 0, qty, level.on_hand,
                    level.reserved, order_id, reason[:255], actor_user_id, who.label, now,
                ))
                mine.append(Reservation(order_id=order_id, warehouse=wh, sku_id=sku_id,
                                        quantity=qty, created_at=now))
            reservations += mine
            results[order_id] = mine
        deltas = {lvl.pk: lvl.reserved - start[key] for key, lvl in levels.items()
                  if lvl.reserved != start[key]}
        _add_reserved(deltas)
        insert_rows(StockMovement, [dict(zip(MOVEMENT_COLUMNS, row, strict=True))
                                    for row in movements])
        # The reservations are returned to the caller: they get their ids and
        # count as saved, as bulk_create would leave them.
        insert_rows(Reservation, reservations, returning_pk=True)
        _announce_low(low)
    return results


def _lock_levels_many(wanted: Mapping[int, set[int]]) -> dict[tuple[int, int], StockLevel]:
    """Lock the levels of ``{warehouse id: sku ids}``, all of them in one query by pk."""
    query = Q()
    for wh_id, sku_ids in wanted.items():
        if sku_ids:
            query |= Q(warehouse_id=wh_id, sku_id__in=sorted(sku_ids))
    if not query:
        return {}
    return {(lvl.warehouse_id, lvl.sku_id): lvl
            for lvl in StockLevel.objects.select_for_update().filter(query).order_by("pk")}


# --- bulk writes -----------------------------------------------------------------------
# Bulk allocation writes thousands of ledger rows per call: they go through
# orderhub.db's writers (COPY, one array UPDATE), not bulk_create, which with its
# per-value SQL compilation was two thirds of stock_reserve_batch's time
# (cProfile, 2,000 orders: 1.35 s of 3.3 s in bulk_create, 0.4 s compiling a
# CASE WHEN per level).

MOVEMENT_COLUMNS = ["warehouse_id", "sku_id", "kind", "on_hand_delta", "reserved_delta",
                    "on_hand_after", "reserved_after", "order_id", "reason", "actor_user_id",
                    "actor", "created_at"]


def _add_reserved(deltas: dict[int, int]) -> None:
    """``reserved += delta`` per StockLevel pk, in one statement, on rows the caller locked."""
    add_to_rows(StockLevel, "reserved", deltas, also={"updated_at": timezone.now()})


def _close_reservations(*, order: Order | int, actor: Actor, consume: bool, reason: str) -> int:
    who = actor_info(actor)
    status = Reservation.Status.CONSUMED if consume else Reservation.Status.RELEASED
    with transaction.atomic():
        order = _lock_order(order)
        active = list(
            order.reservations.select_for_update().filter(status=Reservation.Status.ACTIVE)
            .order_by("pk")
        )
        if not active:
            return 0
        by_wh: dict[int, list[Reservation]] = defaultdict(list)
        for res in active:
            by_wh[res.warehouse_id].append(res)
        movements, units = [], 0
        for wh_id in sorted(by_wh):
            levels = _lock_levels(wh_id, {r.sku_id for r in by_wh[wh_id]})
            for res in by_wh[wh_id]:
                level = levels[res.sku_id]
                if consume:
                    movements.append(_move(level, kind=Kind.SHIP, on_hand=-res.quantity,
                                           reserved=-res.quantity, actor=who,
                                           order_id=order.pk, reason=reason))
                else:
                    movements.append(_move(level, kind=Kind.RELEASE, reserved=-res.quantity,
                                           actor=who, order_id=order.pk, reason=reason))
                units += res.quantity
        StockMovement.objects.bulk_create(movements)
        Reservation.objects.filter(pk__in=[r.pk for r in active]).update(
            status=status, closed_at=timezone.now()
        )
    return units


def stock_release(*, order: Order | int, actor: Actor, reason: str = "") -> int:
    """Give back everything ``order`` holds. Returns the units released (0 if none)."""
    return _close_reservations(order=order, actor=actor, consume=False, reason=reason)


def stock_consume(*, order: Order | int, actor: Actor, reason: str = "") -> int:
    """The order shipped: its reserved units leave the shelf. Returns the units."""
    return _close_reservations(order=order, actor=actor, consume=True, reason=reason)


def stock_reroute(*, order: Order | int, warehouse: Warehouse, actor: Actor,
                  reason: str = "") -> list[Reservation]:
    """Move an order's reservation (and the order) to ``warehouse``, all or nothing.

    If the new warehouse is short, ``InsufficientStock`` is raised and the old
    reservation stays exactly as it was.
    """
    with transaction.atomic():
        order = _lock_order(order)
        if order.warehouse_id == warehouse.pk and order.reservations.filter(
            status=Reservation.Status.ACTIVE, warehouse=warehouse
        ).exists():
            return list(order.reservations.filter(status=Reservation.Status.ACTIVE))
        note = reason or _("re-routed to %(warehouse)s") % {"warehouse": warehouse.code}
        stock_release(order=order, actor=actor, reason=note)
        reservations = stock_reserve(order=order, warehouse=warehouse, actor=actor)
        order_update(order=order, actor=actor, changes={"warehouse": warehouse}, reason=note)
    return reservations


@dataclass
class AllocationResult:
    ok: bool
    order: Order
    reservations: list[Reservation] = field(default_factory=list)
    error: InsufficientStock | None = None


def order_allocate(*, order: Order | int, warehouse: Warehouse, actor: Actor) -> AllocationResult:
    """Reserve a paid (or out-of-stock) order in ``warehouse`` and move it on.

    Success: ``paid`` → ``ready_to_pick`` (``out_of_stock`` → ``restock``).
    With the warehouse's ERP set to confirm each order, its SKUs are first read
    from the ERP (``external.erp_check_order_stock``; the mirror on failure).
    Short: ``paid`` → ``out_of_stock``, and ``stock_insufficient`` tells the
    warehouse's purchasing contact which SKUs are missing. Unknown SKUs and
    other errors propagate (the order stays where it was).

    The single-order (webhook) path: a system actor's allocation of an order
    holding no stock yet costs 7 statements on PostgreSQL (``_allocate_fresh``;
    + 1 probe for pick lists after commit, by the warehouse receiver); a person's
    goes through ``stock_reserve`` + ``order_transition`` (permission checks).
    """
    order_id = order.pk if isinstance(order, Order) else order
    # Optional per-order ERP confirmation (StockSource.check_each_order), before any
    # stock row is locked: the ERP round trip must not hold up other allocations.
    # Whether any warehouse asks for it is cached: no query when none does.
    if warehouse.pk in erp_check_warehouse_ids():
        # Imported here because external.py builds on this module.
        from warehouse.services.external import erp_check_order_stock

        erp_check_order_stock(order=order, warehouse=warehouse, actor=actor)
    who = actor_info(actor)
    try:
        with transaction.atomic():
            if who.user is None:
                done = _allocate_fresh(order_id, warehouse, who.label)
                if done is not None:
                    return done
            order = _lock_order(order_id)
            _check_allocatable(order)
            if order.warehouse_id != warehouse.pk:
                order = order_update(order=order, actor=actor,
                                     changes={"warehouse": warehouse}, reason="allocate")
            reservations = stock_reserve(order=order, warehouse=warehouse, actor=actor)
            name = "mark_ready" if order.status == OrderStatus.PAID else "restock"
            order = order_transition(order=order, name=name, actor=actor)
        return AllocationResult(ok=True, order=order, reservations=reservations)
    except InsufficientStock as exc:
        order = Order.objects.get(pk=order_id)
        if order.status == OrderStatus.PAID:
            with transaction.atomic():
                if order.warehouse_id != warehouse.pk:
                    order = order_update(order=order, actor=actor,
                                         changes={"warehouse": warehouse}, reason="allocate")
                order = order_transition(order=order, name="mark_out_of_stock", actor=actor,
                                         reason=exc.message)
        payload = {
            "order_id": order.pk, "warehouse_id": warehouse.pk,
            "shortages": [s.as_dict() for s in exc.shortages],
            "purchasing_contact": exc.purchasing_contact,
        }
        transaction.on_commit(lambda: stock_insufficient.send(sender=Order, **payload))
        return AllocationResult(ok=False, order=order, error=exc)


def _check_allocatable(order: Order) -> None:
    if order.status not in (OrderStatus.PAID, OrderStatus.OUT_OF_STOCK):
        raise StockError(
            _("Order %(number)s is %(status)s; only paid orders are allocated.")
            % {"number": order.number, "status": order.get_status_display()}
        )


def _allocate_fresh(order_id: int, warehouse: Warehouse, actor: str) -> AllocationResult | None:
    """``order_allocate`` for a system actor, in few statements. Call inside a transaction.

    Returns None (nothing written, the order's row lock held) when the order
    already holds reservations: the general path returns them as they are.
    Raises ``InsufficientStock`` before writing anything. The statements, in
    the locking order of this module (order, then levels by pk):

    1. the order, locked, with whether it holds stock;
    2. its lines with their SKUs (kits take ``orders_stock_needs``'s path);
    3. the levels, locked, with their SKUs;
    4. ``reserved +=``, the movements and the reservations (one statement on
       PostgreSQL, three elsewhere: ``_reserve_rows``);
    5-7. the order's row, its version and transition log
       (``orders_edit_and_transition``: the rows ``order_update`` +
       ``order_transition`` write, without re-reading the locked row).
    """
    active = Reservation.objects.filter(order_id=OuterRef("pk"),
                                        status=Reservation.Status.ACTIVE)
    order = (Order.objects.select_for_update(of=("self",))
             .annotate(holds_stock=Exists(active)).get(pk=order_id))
    _check_allocatable(order)
    if order.holds_stock:
        return None
    needs = _stock_needs_one(order_id)
    levels = {lvl.sku_id: lvl for lvl in StockLevel.objects.select_for_update(of=("self",))
              .select_related("sku").filter(warehouse_id=warehouse.pk, sku_id__in=sorted(needs))
              .order_by("pk")}
    shortages = []
    for sku_id, qty in sorted(needs.items()):
        level = levels.get(sku_id)
        free = 0 if level is None else level.on_hand - level.reserved - (
            level.safety if level.sku.stop_selling_at_safety else 0)
        if free < qty:
            shortages.append((sku_id, qty, max(free, 0)))
    if shortages:
        missing = SKU.objects.in_bulk([sku_id for sku_id, _q, _f in shortages
                                       if sku_id not in levels])
        raise InsufficientStock(warehouse=warehouse, shortages=[
            Shortage((levels[sku_id].sku if sku_id in levels else missing[sku_id]).code, qty, free)
            for sku_id, qty, free in shortages])
    now = timezone.now()
    reason = (_("order %(number)s") % {"number": order.number})[:255]
    movements, reservations, low = [], [], []
    for sku_id, qty in sorted(needs.items()):
        level = levels[sku_id]
        before = level.available
        level.reserved += qty
        if before > 0 >= level.available:
            low.append(level)
        movements.append(dict(zip(MOVEMENT_COLUMNS, (
            warehouse.pk, sku_id, Kind.RESERVATION.value, 0, qty, level.on_hand, level.reserved,
            order_id, reason, None, actor, now), strict=True)))
        reservations.append(Reservation(order_id=order_id, warehouse=warehouse, sku_id=sku_id,
                                        quantity=qty, created_at=now))
    _reserve_rows({levels[sku_id].pk: qty for sku_id, qty in needs.items()}, movements,
                  reservations, now)
    _announce_low(low)
    name = "mark_ready" if order.status == OrderStatus.PAID else "restock"
    changes = ({order_id: {"warehouse": warehouse}} if order.warehouse_id != warehouse.pk
               else None)
    orders_edit_and_transition(orders=[order], actor=actor, changes_by_id=changes,
                               edit_reason="allocate", transition_by_id={order_id: (name, "")})
    return AllocationResult(ok=True, order=order, reservations=reservations)


def _reserve_rows(deltas: dict[int, int], movements: list[dict],
                  reservations: list[Reservation], now) -> None:
    """``reserved += delta`` on levels the caller locked, their movements, the reservations.

    On PostgreSQL one statement (data-modifying CTEs; every part runs, in one
    snapshot, on rows the caller holds locked): the single-order path is
    round-trip bound. The reservations get their ids. Elsewhere three statements.
    """
    if connection.vendor != "postgresql":
        _add_reserved(deltas)
        insert_rows(StockMovement, movements)
        Reservation.objects.bulk_create(reservations)
        return
    qn = connection.ops.quote_name

    def rows(count: int, width: int) -> str:
        return ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * count)

    res_columns = ["order_id", "warehouse_id", "sku_id", "quantity", "status", "created_at"]
    sql = (
        f"WITH moved AS (UPDATE {qn(StockLevel._meta.db_table)} AS t "
        f"SET reserved = t.reserved + d.delta, updated_at = %s "
        f"FROM (VALUES {rows(len(deltas), 2)}) AS d(id, delta) WHERE t.id = d.id), "
        f"logged AS (INSERT INTO {qn(StockMovement._meta.db_table)} "
        f"({', '.join(qn(c) for c in MOVEMENT_COLUMNS)}) "
        f"VALUES {rows(len(movements), len(MOVEMENT_COLUMNS))}) "
        f"INSERT INTO {qn(Reservation._meta.db_table)} ({', '.join(qn(c) for c in res_columns)}) "
        f"VALUES {rows(len(reservations), len(res_columns))} RETURNING id")
    params = [now, *(v for pk, delta in deltas.items() for v in (pk, delta)),
              *(row[c] for row in movements for c in MOVEMENT_COLUMNS),
              *(v for r in reservations for v in (r.order_id, r.warehouse_id, r.sku_id,
                                                   r.quantity, str(r.status), r.created_at))]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for reservation, (pk,) in zip(reservations, cursor.fetchall(), strict=True):
            reservation.pk = pk
            reservation._state.adding = False
            reservation._state.db = connection.alias


def _stock_needs_one(order_id: int) -> dict[int, int]:
    """``order_stock_needs`` for one order in one query (its lines with their SKUs).

    An unknown SKU or a kit takes ``order_stock_needs`` (which raises, or
    expands the kit): the one place those rules live.
    """
    sku = SKU.objects.filter(code=OuterRef("sku_code"))
    needs: dict[int, int] = defaultdict(int)
    for qty, shipped, sku_id, kind in (
            OrderLine.objects.filter(order_id=order_id).order_by()
            .annotate(sku_pk=Subquery(sku.values("pk")[:1]),
                      sku_kind=Subquery(sku.values("kind")[:1]))
            .values_list("quantity", "shipped_quantity", "sku_pk", "sku_kind")):
        units = units_to_ship(qty, shipped)
        if not units:
            continue
        if sku_id is None or kind == SKU.Kind.KIT:
            return order_stock_needs(order_id)
        needs[sku_id] += units
    return dict(needs)


# Warehouse ids whose stock source confirms each order with the ERP, cached so the
# single-order path asks the database only when the cache is cold (a StockSource
# change clears it: ``erp_check_cache_clear``, connected in WarehouseConfig.ready).
ERP_CHECK_CACHE_KEY = "warehouse:erp-check-warehouses"
ERP_CHECK_CACHE_SECONDS = 300


def erp_check_warehouse_ids() -> frozenset[int]:
    """Warehouses with an enabled stock source set to ``check_each_order``.

    A cache outage costs one query, never a failure.
    """
    try:
        ids = cache.get(ERP_CHECK_CACHE_KEY)
    except Exception:  # the cache is a shortcut: the database answers
        logger.warning("cache unavailable; reading the ERP check flag from the database")
        ids, cacheable = None, False
    else:
        cacheable = True
    if ids is None:
        ids = frozenset(StockSource.objects.filter(enabled=True, check_each_order=True)
                        .values_list("warehouse_id", flat=True))
        if cacheable:
            try:
                cache.set(ERP_CHECK_CACHE_KEY, ids, ERP_CHECK_CACHE_SECONDS)
            except Exception:
                logger.warning("cache unavailable; ERP check flag not cached")
    return ids


def erp_check_cache_clear(**kwargs) -> None:
    """Forget the cached ERP check flag (a StockSource was saved or deleted).

    Cleared at once and again after commit, so a reader between the two cannot
    keep the old answer. Should the cache be down, the entry expires by itself.
    """
    def clear():
        try:
            cache.delete(ERP_CHECK_CACHE_KEY)
        except Exception:
            logger.warning("cache unavailable; the ERP check flag expires in %s s",
                           ERP_CHECK_CACHE_SECONDS)

    clear()
    transaction.on_commit(clear)


# --- adjustments ------------------------------------------------------------------


def _parse_quantity(value, *, allow_negative: bool) -> int:
    if isinstance(value, bool):
        raise StockError(_("“%(value)s” is not a whole number.") % {"value": value})
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise StockError(_("“%(value)s” is not a whole number.") % {"value": value}) from exc
    if not allow_negative and number < 0:
        raise StockError(_("The quantity cannot be negative."))
    return number


def _level_for_update(warehouse: Warehouse, sku: SKU) -> StockLevel:
    StockLevel.objects.get_or_create(warehouse=warehouse, sku=sku)
    level = StockLevel.objects.select_for_update().get(warehouse=warehouse, sku=sku)
    level.sku = sku
    return level


def stock_adjust(*, warehouse: Warehouse, sku: SKU, delta, actor: Actor, reason: str,
                 kind: str = Kind.ADJUSTMENT, order: Order | None = None) -> StockMovement:
    """Add (or, for adjustments, remove) units on hand with a reason.

    Receipts and returns only add. The shelf can never go below what is
    already promised to orders.
    """
    who = actor_info(actor)
    if kind not in (Kind.ADJUSTMENT, Kind.RECEIPT, Kind.RETURN, Kind.COUNT, Kind.SYNC):
        raise StockError(_("%(kind)s is not an adjustment.") % {"kind": kind})
    delta = _parse_quantity(delta, allow_negative=kind in (Kind.ADJUSTMENT, Kind.COUNT, Kind.SYNC))
    reason = (reason or "").strip()
    if kind == Kind.ADJUSTMENT and not reason:
        raise StockError(_("Please give a reason for the adjustment."))
    if delta == 0 and kind not in (Kind.COUNT, Kind.SYNC):
        raise StockError(_("An adjustment of zero changes nothing."))
    with transaction.atomic():
        level = _level_for_update(warehouse, sku)
        if level.on_hand + delta < level.reserved:
            raise StockError(
                _("%(sku)s: %(reserved)s units are promised to orders; on hand cannot go "
                  "below that (now %(on_hand)s, change %(delta)+d).")
                % {"sku": sku.code, "reserved": level.reserved, "on_hand": level.on_hand,
                   "delta": delta}
            )
        low: list[StockLevel] = []
        movement = _move(level, kind=kind, on_hand=delta, actor=who,
                         order_id=order.pk if order else None, reason=reason, low_alerts=low)
        movement.save()
        _announce_low(low)
    return movement


def stock_count(*, warehouse: Warehouse, sku: SKU, counted, actor: Actor, reason: str = "",
                kind: str = Kind.COUNT) -> StockMovement | None:
    """Set on hand to a counted (or ERP-reported) figure, as a ledger adjustment.

    Returns None when the figure already matches.
    """
    counted = _parse_quantity(counted, allow_negative=False)
    with transaction.atomic():
        level = _level_for_update(warehouse, sku)
        delta = counted - level.on_hand
        if delta == 0:
            return None
        return stock_adjust(warehouse=warehouse, sku=sku, delta=delta, actor=actor,
                            reason=reason, kind=kind)


def stock_set_safety(*, warehouse: Warehouse, sku: SKU, safety, actor: Actor) -> StockLevel:
    safety = _parse_quantity(safety, allow_negative=False)
    with transaction.atomic():
        level = _level_for_update(warehouse, sku)
        was_available = level.available
        level.safety = safety
        level.save(update_fields=["safety", "updated_at"])
        if was_available > 0 >= level.available:
            _announce_low([level])
    return level


def stock_transfer(*, warehouse: Warehouse, quantities: Mapping[int, int], actor: Actor,
                   outgoing: bool, reason: str) -> list[StockMovement]:
    """Units leave (``outgoing``) or arrive in ``warehouse`` for a transfer request.

    ``quantities``: ``{sku id: units}``, each above zero. Leaving takes only free
    units (on hand minus reserved); a short SKU raises ``InsufficientStock`` and
    nothing moves. Call inside the caller's transaction (the transfer row locked
    first); the levels are locked here by pk like every other writer.
    """
    who = actor_info(actor)
    wanted = {sku_id: int(qty) for sku_id, qty in quantities.items() if int(qty) > 0}
    if not wanted:
        return []
    with transaction.atomic():
        skus = SKU.objects.in_bulk(wanted)
        if not outgoing:
            for sku_id in sorted(wanted):
                StockLevel.objects.get_or_create(warehouse=warehouse, sku=skus[sku_id])
        levels = _lock_levels(warehouse.pk, wanted)
        if outgoing:
            shortages = []
            for sku_id, qty in sorted(wanted.items()):
                level = levels.get(sku_id)
                free = level.on_hand - level.reserved if level else 0
                if free < qty:
                    shortages.append(Shortage(skus[sku_id].code, qty, max(free, 0)))
            if shortages:
                raise InsufficientStock(warehouse=warehouse, shortages=shortages)
        kind = Kind.TRANSFER_OUT if outgoing else Kind.TRANSFER_IN
        sign = -1 if outgoing else 1
        movements, low = [], []
        for sku_id, qty in sorted(wanted.items()):
            level = levels[sku_id]
            level.sku = skus[sku_id]
            movements.append(_move(level, kind=kind, on_hand=sign * qty, actor=who,
                                   reason=reason, low_alerts=low))
        StockMovement.objects.bulk_create(movements)
        _announce_low(low)
    return movements


# --- checking ---------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    warehouse_code: str
    sku_code: str
    on_hand_level: int
    on_hand_ledger: int
    reserved_level: int
    reserved_ledger: int
    reserved_active: int


def stock_drift(warehouse: Warehouse | None = None) -> list[Drift]:
    """Every (warehouse, SKU) whose level differs from its ledger or its open reservations."""
    movements = StockMovement.objects.all()
    levels = StockLevel.objects.select_related("warehouse", "sku")
    reservations = Reservation.objects.filter(status=Reservation.Status.ACTIVE)
    if warehouse is not None:
        movements = movements.filter(warehouse=warehouse)
        levels = levels.filter(warehouse=warehouse)
        reservations = reservations.filter(warehouse=warehouse)
    ledger = {
        (r["warehouse_id"], r["sku_id"]): (r["oh"] or 0, r["rs"] or 0)
        for r in movements.values("warehouse_id", "sku_id").annotate(
            oh=Sum("on_hand_delta"), rs=Sum("reserved_delta"))
    }
    active = {
        (r["warehouse_id"], r["sku_id"]): r["q"] or 0
        for r in reservations.values("warehouse_id", "sku_id").annotate(q=Sum("quantity"))
    }
    seen, drifts = set(), []
    for level in levels:
        key = (level.warehouse_id, level.sku_id)
        seen.add(key)
        oh, rs = ledger.get(key, (0, 0))
        act = active.get(key, 0)
        if (level.on_hand, level.reserved) != (oh, rs) or level.reserved != act:
            drifts.append(Drift(level.warehouse.code, level.sku.code, level.on_hand, oh,
                                level.reserved, rs, act))
    orphan_keys = (set(ledger) | set(active)) - seen
    if orphan_keys:
        whs = Warehouse.objects.in_bulk({k[0] for k in orphan_keys})
        skus = SKU.objects.in_bulk({k[1] for k in orphan_keys})
        for key in sorted(orphan_keys):
            oh, rs = ledger.get(key, (0, 0))
            drifts.append(Drift(whs[key[0]].code, skus[key[1]].code, 0, oh, 0, rs,
                                active.get(key, 0)))
    return drifts
