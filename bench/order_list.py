"""Benchmark: the order list (/orders/) on a million orders in PostgreSQL.

Fills the database with ``--orders`` orders through COPY (once; later runs reuse
them), then measures the server time of /orders/ for the first page, a filtered
page, a search by buyer phone and page 500, and prints p50/p95 per case.
Goal: p95 < 100 ms for each.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderhub_bench \\
        .venv/bin/python bench/order_list.py --orders 1000000

Not part of the test run. The database named in DATABASE_URL is created if missing.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orderhub_bench")

STATUS_WEIGHTS = {
    "completed": 55, "delivered": 12, "shipped": 12, "cancelled": 6, "picked": 2,
    "picking": 2, "ready_to_pick": 4, "paid": 1, "review": 1, "out_of_stock": 1,
    "pending_payment": 3, "on_hold": 1,
}
COLUMNS = [
    "number", "channel_id", "external_id", "legacy_id", "kind", "priority", "status",
    "held_from", "hold_reason", "cancel_reason", "buyer_name", "buyer_phone", "buyer_email",
    "buyer_message", "ship_name", "ship_phone", "ship_country", "ship_province", "ship_city",
    "ship_district", "ship_street", "ship_postcode", "currency", "subtotal", "shipping_fee",
    "discount", "total", "placed_at", "paid_at", "shipped_at", "delivered_at", "completed_at",
    "cancelled_at", "warehouse_id", "carrier", "tracking_number", "created_at", "updated_at",
    "presale", "buyer_ip",
]
PLACES = [
    ("上海市", "上海市", "浦东新区"), ("北京市", "北京市", "朝阳区"),
    ("广东省", "深圳市", "南山区"), ("浙江省", "杭州市", "西湖区"),
    ("江苏省", "南京市", "鼓楼区"), ("四川省", "成都市", "武侯区"),
]
NAMES = ["王芳", "李伟", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强", "Emma Smith", "Liam Brown"]


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def generate_rows(count, channel_ids, warehouse_ids, rng):
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    now = dt.datetime.now(dt.UTC)
    for i in range(count):
        status = rng.choices(statuses, weights)[0]
        placed = now - dt.timedelta(seconds=rng.randrange(0, 365 * 86400))
        paid = placed + dt.timedelta(minutes=2) if status != "pending_payment" else None
        shipped = placed + dt.timedelta(hours=20) if status in (
            "shipped", "delivered", "completed") else None
        delivered = placed + dt.timedelta(days=3) if status in ("delivered", "completed") else None
        completed = placed + dt.timedelta(days=10) if status == "completed" else None
        cancelled = placed + dt.timedelta(hours=1) if status == "cancelled" else None
        province, city, district = rng.choice(PLACES)
        phone = f"+861{rng.choice('3589')}{rng.randrange(10**9):09d}"
        total = f"{rng.randrange(1000, 200000) / 100:.2f}"
        warehouse = rng.choice(warehouse_ids) if status not in (
            "pending_payment", "paid", "review") else None
        yield (
            f"OH{placed:%Y%m%d}{i:07d}", rng.choice(channel_ids), f"P{i:010d}", "",
            "b2c" if rng.random() < 0.9 else "b2b", rng.choices([0, 1, 2, 3], [85, 10, 4, 1])[0],
            status, "paid" if status == "on_hold" else "", "", "",
            rng.choice(NAMES), phone, "", "", rng.choice(NAMES), phone, "CN", province, city,
            district, f"幸福路{rng.randrange(1, 999)}号", "200000", "CNY", total, "0.00", "0.00",
            total, placed, paid, shipped, delivered, completed, cancelled, warehouse,
            "sf" if shipped else "", f"SF{rng.randrange(10**12):012d}" if shipped else "",
            placed, placed, False, None,
        )


def fill(count: int) -> None:
    from django.db import connection

    from channels.models import Channel
    from orderhub.models import Order
    from warehouse.models import Warehouse

    have = Order.objects.count()
    if have >= count:
        print(f"reusing {have:,} orders")
        return
    channels = [
        Channel.objects.get_or_create(code=f"bench-{p}", defaults={"name": f"Bench {p}",
                                                                     "platform": p})[0].pk
        for p in ("shopify", "woocommerce", "amazon", "taobao", "pinduoduo")
    ]
    warehouses = [
        Warehouse.objects.get_or_create(code=f"bench-{c}", defaults={"name": f"Bench {c}"})[0].pk
        for c in ("sh", "gz", "cd")
    ]
    print(f"filling {count - have:,} orders with COPY ...", flush=True)
    started = time.perf_counter()
    rng = random.Random(42)
    rows = generate_rows(count, channels, warehouses, rng)
    for _ in range(have):  # keep numbers unique when topping up
        next(rows)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY orderhub_order ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # VACUUM sets the visibility map, so id-only page scans never touch the table.
        cursor.execute("VACUUM ANALYZE orderhub_order")
    print(f"filled in {time.perf_counter() - started:.1f} s", flush=True)


def measure(cases, repeat: int) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection, reset_queries
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get(name="manager"))
    client = Client()
    client.force_login(user)
    print(f"{'case':<28}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'queries':>9}")
    from django.core.cache import cache

    for label, params, *cold in cases:
        response = client.get("/orders/", params)  # warm-up
        if response.status_code != 200:
            raise SystemExit(f"{label}: HTTP {response.status_code}")
        reset_queries()
        client.get("/orders/", params)
        queries = list(connection.queries)  # DEBUG is on, so Django records them
        timings = []
        for _ in range(repeat):
            if cold:
                # Tab counts are cached; this shows what a request pays when they are not.
                cache.clear()
            reset_queries()
            started = time.perf_counter()
            client.get("/orders/", params)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        print(f"{label:<28}{statistics.median(timings):>10.1f}{p95:>10.1f}"
              f"{timings[-1]:>10.1f}{len(queries):>9}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        raise SystemExit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    ensure_database(url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    fill(args.orders)

    from orderhub.models import Order

    sample = Order.objects.filter(status="shipped").only("buyer_phone").first()
    channel_code = Order.objects.values_list("channel__code", flat=True).first()
    measure(
        [
            ("first page", {}),
            ("filtered (status+channel)", {"status": "ready_to_pick", "channel": channel_code}),
            ("filtered (date range)", {"from": (dt.date.today() - dt.timedelta(days=7)).isoformat(),
                                       "to": dt.date.today().isoformat()}),
            ("search by phone", {"q": sample.buyer_phone}),
            ("page 500", {"page": 500}),
            ("first page, counts uncached", {}, True),
        ],
        args.repeat,
    )


if __name__ == "__main__":
    main()
