"""Benchmark: render a 100-order wave pick list PDF (goal: < 5 s).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderhub_bench_warehouse \\
        .venv/bin/python bench/picklist.py [--orders 100] [--format a4|label]

Creates the orders (ready to pick, 1-3 lines each, Chinese names) in a new
warehouse, makes one wave and times building + rendering its PDF. Not part of
the test run.
"""

from __future__ import annotations

import argparse
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--format", default="a4", choices=["a4", "label"])
    parser.add_argument("--out", default="", help="write the PDF here")
    args = parser.parse_args()

    from bench.allocate import ensure_database

    ensure_database()
    from django.utils import timezone

    from channels.models import Channel
    from orderhub.models import Order, OrderLine
    from warehouse.models import SKU, Bin, SkuLocation, Warehouse
    from warehouse.services.picklists import picklist_create, picklist_pdf

    stamp = str(int(time.time()))
    wh = Warehouse.objects.create(code=f"pl-{stamp}", name=f"上海仓 {stamp}")
    channel, _ = Channel.objects.get_or_create(code="bench-wh", defaults={
        "name": "bench", "platform": "manual"})
    skus = SKU.objects.bulk_create(
        SKU(code=f"P{stamp}-{i:03d}", name=f"保温杯 型号{i} Thermos {i}", is_gift=i % 10 == 0)
        for i in range(60)
    )
    for i, sku in enumerate(skus):
        b = Bin.objects.create(warehouse=wh, code=f"{'ABCDEF'[i % 6]}-{i:02d}-01",
                               pick_order=(i * 7) % 60)
        SkuLocation.objects.create(warehouse=wh, sku=sku, bin=b)
    rng = random.Random(7)
    orders = Order.objects.bulk_create(
        Order(number=f"PW{stamp}{i:05d}", channel=channel, status="ready_to_pick",
              paid_at=timezone.now(), warehouse=wh, ship_name="王小明",
              ship_province="江苏省", ship_city="南京市")
        for i in range(args.orders)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=o, sku_code=s.code, name=s.name, quantity=rng.randint(1, 3),
                  is_gift=s.is_gift)
        for o in orders for s in rng.sample(skus, rng.randint(1, 3))
    )
    pick_list = picklist_create(orders=orders, actor="system:bench")
    picklist_pdf(pick_list, page=args.format)  # warm up fonts and imports
    started = time.monotonic()
    pdf = picklist_pdf(pick_list, page=args.format)
    elapsed = time.monotonic() - started
    if args.out:
        Path(args.out).write_bytes(pdf)
    print(f"{args.orders}-order wave ({args.format}): {len(pdf) / 1024:.0f} KiB PDF in "
          f"{elapsed:.2f} s — goal < 5 s: {'OK' if elapsed < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
