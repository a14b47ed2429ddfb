"""Benchmark: reserve stock for N paid orders (goal: >= 1,000 orders/s).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderhub_bench_warehouse \\
        .venv/bin/python bench/allocate.py --orders 10000 [--workers 2] [--allocate]
    ... bench/allocate.py --single --orders 10000 --workers 2

``--single`` is the single-order (webhook) path of issue 17: one
``order_allocate`` per order by a system actor, in --workers processes; goals
>= 500 orders/s with 2 workers and <= 10 statements per order (counted on a
sample of orders first, after-commit receivers included). Prints VERDICT lines.

Creates (bulk) a warehouse with --skus SKUs of ample stock and N paid orders
of 1-3 lines, then calls ``stock_reserve`` for every order (``--allocate``:
the full ``order_allocate``, which also moves each order to ready_to_pick;
``--batch N``: ``stock_reserve_batch`` N orders per transaction, the bulk path)
in --workers processes, and prints orders/s. Finishes with the ledger check.
Not part of the test run. The database is created and migrated if missing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/orderhub_bench_warehouse")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def setup_django():
    import django

    django.setup()


def ensure_database():
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_data(n_orders: int, n_skus: int) -> tuple[int, list[int]]:
    from django.db import transaction
    from django.utils import timezone

    from channels.models import Channel
    from orderhub.models import Order, OrderLine
    from warehouse.models import SKU, Warehouse
    from warehouse.services.stock import stock_adjust

    stamp = f"{int(time.time())}"
    channel, _ = Channel.objects.get_or_create(code="bench-wh", defaults={
        "name": "bench", "platform": "manual"})
    wh = Warehouse.objects.create(code=f"bench-{stamp}", name=f"Bench {stamp}")
    skus = SKU.objects.bulk_create(
        SKU(code=f"B{stamp}-{i:04d}", name=f"商品 {i}") for i in range(n_skus)
    )
    for sku in skus:
        stock_adjust(warehouse=wh, sku=sku, delta=n_orders * 5, actor="system:bench",
                     reason="bench", kind="receipt")
    rng = random.Random(42)
    now = timezone.now()
    ids = []
    with transaction.atomic():
        for start in range(0, n_orders, 2000):
            batch = [
                Order(number=f"BW{stamp}{i:07d}", channel=channel, status="paid", paid_at=now,
                      warehouse=wh)
                for i in range(start, min(start + 2000, n_orders))
            ]
            Order.objects.bulk_create(batch)
            lines = []
            for order in batch:
                for sku in rng.sample(skus, rng.randint(1, 3)):
                    lines.append(OrderLine(order=order, sku_code=sku.code, name=sku.name,
                                           quantity=rng.randint(1, 3)))
            OrderLine.objects.bulk_create(lines)
            ids += [o.pk for o in batch]
    return wh.pk, ids


SAMPLE = 50


def statements_per_order(wh_id: int, ids: list[int]) -> float:
    """Statements ``order_allocate`` sends per order (its after-commit receivers included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from warehouse.models import Warehouse
    from warehouse.services.stock import order_allocate

    wh = Warehouse.objects.get(pk=wh_id)
    order_allocate(order=ids[0], warehouse=wh, actor="system:bench")  # warm caches
    control = ("BEGIN", "COMMIT")
    with CaptureQueriesContext(connection) as ctx:
        for order_id in ids[1:]:
            order_allocate(order=order_id, warehouse=wh, actor="system:bench")
    return sum(q["sql"] not in control for q in ctx.captured_queries) / (len(ids) - 1)


def work(args):
    wh_id, ids, full, batch = args
    setup_django()
    from warehouse.models import Warehouse
    from warehouse.services.stock import (
        InsufficientStock,
        order_allocate,
        stock_reserve,
        stock_reserve_batch,
    )

    wh = Warehouse.objects.get(pk=wh_id)
    ok = 0
    if batch:
        for start in range(0, len(ids), batch):
            results = stock_reserve_batch(orders=ids[start:start + batch], warehouse=wh,
                                          actor="system:bench")
            ok += sum(isinstance(r, list) for r in results.values())
        return ok
    for order_id in ids:
        try:
            if full:
                ok += order_allocate(order=order_id, warehouse=wh, actor="system:bench").ok
            else:
                stock_reserve(order=order_id, warehouse=wh, actor="system:bench")
                ok += 1
        except InsufficientStock:
            pass
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--allocate", action="store_true",
                        help="one order_allocate (reserve + transition) per order")
    parser.add_argument("--single", action="store_true",
                        help="the webhook path: --allocate by a system actor, with the "
                             "statement count per order and VERDICT lines")
    parser.add_argument("--batch", type=int, default=500,
                        help="orders per stock_reserve_batch call; 0 = one stock_reserve each")
    args = parser.parse_args()
    args.allocate = args.allocate or args.single
    ensure_database()
    sys.path.insert(0, str(ROOT / "bench"))
    from _common import analyse, machine_line, verdict

    print(machine_line())
    started = time.monotonic()
    wh_id, ids = make_data(args.orders + (SAMPLE if args.single else 0), args.skus)
    from django.db import connection, connections

    analyse(connection)
    print(f"data: {len(ids)} orders in {time.monotonic() - started:.1f} s")
    if args.single:
        per_order = statements_per_order(wh_id, ids[:SAMPLE])
        ids = ids[SAMPLE:]
        verdict("single-order allocation: statements per order", f"{per_order:.1f}",
                "<= 10", per_order <= 10)

    connections.close_all()
    batch = 0 if args.allocate else args.batch
    chunks = [(wh_id, ids[i::args.workers], args.allocate, batch) for i in range(args.workers)]
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        ok = sum(pool.map(work, chunks))
    elapsed = time.monotonic() - started
    rate = len(ids) / elapsed
    what = "allocated" if args.allocate else (
        f"reserved in batches of {batch}" if batch else "reserved one by one")
    print(f"{what}: {ok}/{len(ids)} orders in {elapsed:.2f} s = {rate:.0f} orders/s "
          f"({args.workers} workers)")
    if args.single:
        verdict(f"single-order allocation ({args.workers} workers)", f"{rate:,.0f} orders/s",
                ">= 500 orders/s", rate >= 500)
    else:
        verdict(f"{what} ({args.workers} workers)", f"{rate:,.0f} orders/s",
                ">= 1,000 orders/s", rate >= 1000)
    from warehouse.models import Warehouse
    from warehouse.services.stock import stock_drift

    drift = stock_drift(Warehouse.objects.get(pk=wh_id))
    print(f"ledger check: {'OK' if not drift else f'{len(drift)} drifted'}")


if __name__ == "__main__":
    main()
