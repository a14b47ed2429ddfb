"""Ingestion benchmark: the real pipeline vs a naive ORM loop vs PostgreSQL COPY.

    DATABASE_URL=postgres://... python bench/ingest.py --orders 100000

Generates Shopify-shaped orders (about 3 lines each) into a JSON-lines file,
then, each into a fresh channel:
  pipeline : ``import_file`` (raw payload stored + normalized + order services),
             streamed line by line;
  naive    : Order/OrderLine ``objects.create`` one by one (no raw, no log);
  copy     : ``COPY`` of the same order and line rows (the physical limit).
Prints orders/s and peak RSS after each phase. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from channels.models import Channel, SkuMapping  # noqa: E402
from channels.services import import_file  # noqa: E402
from orderhub.models import Order, OrderLine  # noqa: E402
from orderhub.services.orders import reserve_order_numbers  # noqa: E402

SKUS = [f"SKU-{n:03d}" for n in range(50)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, count: int, seed: int = 1) -> None:
    rnd = random.Random(seed)  # noqa: S311
    with path.open("w") as fh:
        for n in range(count):
            lines = [{"id": n * 10 + i, "sku": rnd.choice(SKUS), "name": "商品 " + str(i),
                      "quantity": rnd.randint(1, 3), "price": f"{rnd.randint(5, 300)}.00"}
                     for i in range(rnd.randint(2, 4))]
            total = sum(Decimal(ln["price"]) * ln["quantity"] for ln in lines)
            fh.write(json.dumps({
                "id": 10_000_000 + n, "created_at": "2026-11-20T10:00:00+08:00",
                "updated_at": "2026-11-20T10:00:00+08:00", "financial_status": "paid",
                "currency": "CNY", "total_price": f"{total:.2f}",
                "customer": {"first_name": "买家", "last_name": str(n)},
                "shipping_address": {"name": f"收件人{n}", "phone": "13800138000",
                                     "province": "上海市", "city": "上海市",
                                     "address1": f"世纪大道{n}号", "zip": "200120",
                                     "country_code": "CN"},
                "line_items": lines,
            }, ensure_ascii=False) + "\n")


def fresh_channel(code: str) -> Channel:
    channel, _ = Channel.objects.update_or_create(
        code=code, defaults={"name": code, "platform": "shopify",
                             "config": {"shop_url": "https://bench.myshopify.com"}})
    SkuMapping.objects.bulk_create(
        [SkuMapping(channel=channel, platform_sku=s, hub_sku=s) for s in SKUS],
        ignore_conflicts=True)
    return channel


def run_pipeline(path: Path, code: str) -> int:
    return import_file(channel=fresh_channel(code), path=path).created


def run_naive(path: Path, code: str) -> int:
    channel = fresh_channel(code)
    count = 0
    with path.open() as fh:
        for line in fh:
            data = json.loads(line)
            with transaction.atomic():
                number = reserve_order_numbers(1)[0]
                order = Order.objects.create(
                    number=number, channel=channel, external_id=str(data["id"]),
                    buyer_name="x", total=Decimal(data["total_price"]))
                for item in data["line_items"]:
                    OrderLine.objects.create(order=order, sku_code=item["sku"],
                                             name=item["name"], quantity=item["quantity"],
                                             unit_price=Decimal(item["price"]))
            count += 1
    return count


def run_copy(path: Path, code: str) -> int:
    if connection.vendor != "postgresql":
        return 0
    channel = fresh_channel(code)
    now = timezone.now()
    count = 0
    with path.open() as fh, connection.cursor() as cursor:
        rows = [json.loads(line) for line in fh]
        numbers = reserve_order_numbers(len(rows))
        with cursor.copy(
            "COPY orderhub_order (number, channel_id, external_id, legacy_id, kind, priority, "
            "status, held_from, hold_reason, cancel_reason, buyer_name, buyer_phone, "
            "buyer_email, buyer_message, ship_name, ship_phone, ship_country, ship_province, "
            "ship_city, ship_district, ship_street, ship_postcode, currency, subtotal, "
            "shipping_fee, discount, total, placed_at, created_at, updated_at) FROM STDIN"
        ) as copy:
            for number, data in zip(numbers, rows, strict=True):
                copy.write_row((number, channel.pk, str(data["id"]), "", "b2c", 0, "paid", "",
                                "", "", "x", "", "", "", "", "", "CN", "", "", "", "", "",
                                "CNY", data["total_price"], "0", "0", data["total_price"],
                                now, now, now))
                count += 1
        cursor.execute("SELECT id, external_id FROM orderhub_order WHERE channel_id = %s",
                       [channel.pk])
        ids = dict((ext, pk) for pk, ext in cursor.fetchall())
        with cursor.copy("COPY orderhub_orderline (order_id, sku_code, name, quantity, "
                         "unit_price, is_gift, external_line_id) FROM STDIN") as copy:
            for data in rows:
                for item in data["line_items"]:
                    copy.write_row((ids[str(data["id"])], item["sku"], item["name"],
                                    item["quantity"], item["price"], False, str(item["id"])))
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=None,
                        help="orders for the naive loop (default: same)")
    args = parser.parse_args()
    tag = str(int(time.time()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.jsonl"
        t = time.perf_counter()
        generate(path, args.orders)
        print(f"generated {args.orders} orders ({path.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t:.1f}s")
        naive_path = path
        if args.naive and args.naive != args.orders:
            naive_path = Path(tmp) / "naive.jsonl"
            generate(naive_path, args.naive)
        for name, func, source in (("pipeline", run_pipeline, path),
                                   ("naive", run_naive, naive_path),
                                   ("copy", run_copy, path)):
            t = time.perf_counter()
            count = func(source, f"bench-{name}-{tag}")
            elapsed = time.perf_counter() - t
            rate = count / elapsed if elapsed and count else 0
            print(f"{name:9s} {count:7d} orders  {elapsed:7.1f}s  {rate:8.0f} orders/s  "
                  f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
