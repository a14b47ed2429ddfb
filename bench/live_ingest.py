"""A live hub: keep ingesting and moving orders at --rate orders/s until terminated.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oh_bench_1m \\
        .venv/bin/python bench/live_ingest.py --rate 50 [--seconds 0]

Runs in its own process (``bench._common.live_hub()`` starts it around a
measurement), so the pages a benchmark reads are read while the database is
being written, as a seller's are during a sale. Every second it:

  * ingests ``rate`` new Shopify-shaped paid orders through the real ingest path
    (``channels.ingest.ingest_items``: raw payload, normalization, bulk create,
    events, transition logs, history);
  * re-sends about a fifth as many earlier orders with a later ``updated_at`` and a
    changed note (the per-order update path: versions, field diffs);
  * runs the real automation (``orders_automate``: routing, stock reservation,
    paid -> ready_to_pick) over the orders it ingested the second before;
  * holds and releases a few ready-to-pick orders (``order_transition``).

Stops cleanly on SIGTERM/SIGINT (or after --seconds) and prints what it did.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "0")  # DEBUG would keep every query in memory
os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")

CHANNEL = "bench-live"
WAREHOUSE = "bench-live"
SKUS = [f"LIVE-{n:03d}" for n in range(40)]

_stop = False


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    global _stop
    _stop = True


def payload(n: int, rnd: random.Random, *, updated: str, note: str = "") -> dict:
    lines = [{"id": n * 10 + i, "sku": rnd.choice(SKUS), "name": f"商品 {i}",
              "quantity": rnd.randint(1, 3), "price": f"{rnd.randint(5, 300)}.00",
              "variant_id": 7000 + i}
             for i in range(rnd.randint(1, 3))]
    total = sum(Decimal(ln["price"]) * ln["quantity"] for ln in lines)
    return {
        "id": n, "name": f"#L{n}",
        "created_at": "2026-12-01T10:00:00+08:00", "updated_at": updated,
        "processed_at": "2026-12-01T10:00:05+08:00", "financial_status": "paid",
        "currency": "CNY", "total_price": f"{total:.2f}", "total_discounts": "0.00",
        "email": f"live{n}@example.com", "note": note,
        "customer": {"first_name": "买家", "last_name": str(n)},
        "shipping_address": {"name": f"收件人{n}", "phone": f"139{n % 100_000_000:08d}",
                             "province": "上海市", "city": "上海市",
                             "address1": f"张江路{n}号", "address2": "", "zip": "201203",
                             "country_code": "CN"},
        "shipping_lines": [], "line_items": lines,
    }


def setup():
    """The live channel (Shopify, SKU mappings) and a warehouse with ample stock."""
    from channels.models import Channel, SkuMapping
    from warehouse.models import SKU, Warehouse
    from warehouse.services.stock import stock_adjust

    channel, _ = Channel.objects.update_or_create(
        code=CHANNEL, defaults={"name": "live bench", "platform": "shopify",
                                "config": {"shop_url": "https://live-bench.myshopify.com"}})
    SkuMapping.objects.bulk_create(
        [SkuMapping(channel=channel, platform_sku=s, hub_sku=s) for s in SKUS],
        ignore_conflicts=True)
    wh, created = Warehouse.objects.get_or_create(code=WAREHOUSE,
                                                  defaults={"name": "Live bench"})
    skus = {s.code: s for s in SKU.objects.filter(code__in=SKUS)}
    missing = [SKU(code=c, name=f"商品 {c}") for c in SKUS if c not in skus]
    if missing:
        SKU.objects.bulk_create(missing)
        skus = {s.code: s for s in SKU.objects.filter(code__in=SKUS)}
    if created or missing:
        for sku in skus.values():
            stock_adjust(warehouse=wh, sku=sku, delta=10_000_000, actor="system:bench",
                         reason="live bench stock", kind="receipt")
    return channel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50, help="new orders per second")
    parser.add_argument("--seconds", type=float, default=0, help="0: until terminated")
    parser.add_argument("--no-automate", action="store_true",
                        help="leave new orders paid (ingest only)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    import django

    django.setup()
    from django.db import close_old_connections

    from channels.connectors import normalizer_for
    from channels.ingest.batch import ingest_items
    from channels.models import RawPayload
    from fulfillment.services.automation import orders_automate
    from orderhub.models import Order
    from orderhub.services.orders import OrderServiceError, order_transition

    channel = setup()
    normalizer = normalizer_for(channel)
    rnd = random.Random(os.getpid())  # noqa: S311 - test data
    # External ids unique per run: a run never collides with an earlier one.
    base = int(time.time() * 1000) * 1000
    made = 0
    counts = {"created": 0, "updated": 0, "automated": 0, "held": 0, "released": 0,
              "errors": 0}
    previous_ids: list[int] = []
    started = time.monotonic()
    tick = started
    while not _stop and not (args.seconds and time.monotonic() - started >= args.seconds):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        try:
            close_old_connections()
            items = [payload(base + made + i, rnd, updated=stamp) for i in range(args.rate)]
            made += args.rate
            result = ingest_items(channel=channel, items=items,
                                  source=RawPayload.Source.WEBHOOK, normalizer=normalizer)
            counts["created"] += result.created
            # Updates: earlier orders sent again, changed.
            if made > args.rate:
                again = [payload(base + rnd.randrange(0, made - args.rate), rnd,
                                 updated=stamp, note=f"改 {time.time():.0f}")
                         for _ in range(max(1, args.rate // 5))]
                counts["updated"] += ingest_items(
                    channel=channel, items=again, source=RawPayload.Source.WEBHOOK,
                    normalizer=normalizer).updated
            if previous_ids and not args.no_automate:
                out = orders_automate(order_ids=previous_ids, actor="system:bench-live")
                counts["automated"] += sum(1 for o in out.values() if o.result != "skipped")
            previous_ids = list(Order.objects.filter(
                channel=channel, status="paid", external_id__in=[str(i["id"]) for i in items]
            ).values_list("pk", flat=True))
            ready = list(Order.objects.filter(channel=channel, status="ready_to_pick")
                         .order_by("-pk").values_list("pk", flat=True)[:2])
            for pk in ready:
                order_transition(order=pk, name="hold", actor="system:bench-live",
                                 reason="live bench")
                counts["held"] += 1
                order_transition(order=pk, name="release", actor="system:bench-live")
                counts["released"] += 1
        except (OrderServiceError, json.JSONDecodeError) as exc:
            counts["errors"] += 1
            print(f"live_ingest: {exc}", file=sys.stderr, flush=True)
        tick += 1
        pause = tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            tick = time.monotonic()  # behind: do not try to catch up in a burst
    elapsed = time.monotonic() - started
    print(f"live_ingest: {elapsed:.0f}s, " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f" ({counts['created'] / max(elapsed, 1e-9):.0f} new orders/s)", flush=True)


if __name__ == "__main__":
    main()
