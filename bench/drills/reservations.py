"""Drill: 50 concurrent reservations of the last 10 units, three runs.

    python bench/drills/reservations.py [--orders 50] [--units 10] [--runs 3]

On the drill's own PostgreSQL (port 5440, a fresh database): a SKU with
``--units`` on hand and ``--orders`` paid orders of one unit each; every order
is allocated at once (``order_allocate``, the path automation takes: lock the
order, reserve, move to ready_to_pick or out_of_stock), one thread and one
database connection per order, all released by one barrier. Verified from the
database after each run: exactly ``--units`` allocated, the rest out of stock,
reserved never above on hand, the ledger equal to the levels (``stock_drift``),
no thread failing with anything but "short".
"""

from __future__ import annotations

import threading
import time

import _kit


def race(*, channel, warehouse, sku, orders: int, run: int) -> dict:
    from django.db import connections

    from orderhub.services.orders import order_create, order_transition
    from warehouse.services.stock import InsufficientStock, order_allocate

    ids = []
    for i in range(orders):
        order = order_create(channel=channel, actor="system:drill", external_id=f"R{run}-{i}",
                             buyer_name="演练", ship_province="上海市", ship_city="上海市",
                             ship_street="世纪大道1号",
                             lines=[{"sku_code": sku.code, "name": "last units",
                                     "quantity": 1, "unit_price": "10.00"}])
        ids.append(order_transition(order=order.pk, name="pay", actor="system:drill").pk)
    barrier = threading.Barrier(orders)
    results: list[str] = []

    def allocate(order_id: int) -> None:
        try:
            barrier.wait()
            result = order_allocate(order=order_id, warehouse=warehouse, actor="system:drill")
            results.append("ok" if result.ok else "short")
        except InsufficientStock:
            results.append("short")
        except Exception as exc:  # noqa: BLE001 - a deadlock or any error is a finding
            results.append(f"error: {exc!r}"[:200])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=allocate, args=(pk,)) for pk in ids]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"results": results, "ids": ids, "seconds": time.perf_counter() - started}


def main() -> None:
    p = _kit.parser(__doc__.splitlines()[0], orders=50)
    p.add_argument("--units", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    pg = _kit.DrillPostgres()
    pg.start()
    hub = _kit.Hub("reservations", pg=pg, keep=args.keep)
    figures = _kit.Figures(f"reservations: {args.orders} concurrent orders for the last "
                           f"{args.units} units, {args.runs} runs")
    try:
        hub.setup_django()
        from django.db.models import Sum

        from channels.models import Channel
        from orderhub.models import Order, OrderStatus
        from warehouse.models import SKU, Reservation, StockLevel, Warehouse
        from warehouse.services.stock import stock_adjust, stock_drift

        channel = Channel.objects.create(code="drill", name="drill", platform="manual")
        warehouse = Warehouse.objects.create(code="drill", name="Drill DC")
        totals = {"allocated": 0, "oversold": 0, "errors": 0, "drift": 0, "wrong_state": 0}
        for run in range(1, args.runs + 1):
            sku = SKU.objects.create(code=f"LAST-{run}", name="last units")
            stock_adjust(warehouse=warehouse, sku=sku, delta=args.units, actor="system:drill",
                         reason="drill receipt", kind="receipt")
            out = race(channel=channel, warehouse=warehouse, sku=sku, orders=args.orders,
                       run=run)
            level = StockLevel.objects.get(warehouse=warehouse, sku=sku)
            active = Reservation.objects.filter(sku=sku, status=Reservation.Status.ACTIVE)
            reserved_units = active.aggregate(n=Sum("quantity"))["n"] or 0
            orders = Order.objects.filter(pk__in=out["ids"])
            ready = orders.filter(status=OrderStatus.READY_TO_PICK).count()
            short = orders.filter(status=OrderStatus.OUT_OF_STOCK).count()
            errors = [r for r in out["results"] if r.startswith("error")]
            allocated = out["results"].count("ok")
            oversold = max(0, level.reserved - level.on_hand, reserved_units - args.units)
            drift = len(stock_drift(warehouse))
            _kit.log(f"run {run}: {allocated} allocated, {out['results'].count('short')} short, "
                     f"{len(errors)} errors in {out['seconds']:.2f}s; level on_hand "
                     f"{level.on_hand} reserved {level.reserved}; ready {ready}, "
                     f"out_of_stock {short}; drift rows {drift}")
            for e in errors[:3]:
                _kit.log(f"  {e}")
            totals["allocated"] += allocated
            totals["oversold"] += oversold
            totals["errors"] += len(errors)
            totals["drift"] += drift
            if ready != args.units or short != args.orders - args.units \
                    or reserved_units != args.units or level.reserved != args.units:
                totals["wrong_state"] += 1
        figures.add("runs", args.runs)
        figures.add("units allocated (all runs)", totals["allocated"], args.units * args.runs)
        figures.add("units oversold", totals["oversold"], 0)
        figures.add("runs with wrong order states / levels", totals["wrong_state"], 0)
        figures.add("ledger drift rows", totals["drift"], 0)
        figures.add("allocations failed with an error (not 'short')", totals["errors"], 0)
    finally:
        hub.close()
        pg.stop()
    figures.print_and_exit()


if __name__ == "__main__":
    main()
