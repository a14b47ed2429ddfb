"""Drill: duplicate and out-of-order webhooks (Shopify, WooCommerce), processed concurrently.

    python bench/drills/webhooks.py [--orders 100] [--threads 8]

On the drill's own PostgreSQL (a fresh database), per platform: each order has
three or four versions one after another on the platform (created unpaid, paid,
address changed, and for every third order cancelled). Every version is
delivered one to three times (platforms retry), all deliveries shuffled, so an
older update often arrives after a newer one. Each is signed and posted to
``/hooks/<channel>/`` (the real view and signature check), then the stored
payloads are processed by ``--threads`` threads at once, each payload twice (a
redelivered task), as the ``process_raw_payload`` tasks would.

Verified from the database: exactly one order per platform order, each in the
state and with the address of its latest version, nothing pending or
quarantined, and how many processing calls failed (these would be retried).

No Chinese platform connector takes push (all poll), so there is no CN webhook.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import queue
import random
import threading
import time
import traceback
from pathlib import Path

import _kit

SECRET = "drill-secret"
WOO_FIXTURE = _kit.ROOT / "tests" / "fixtures" / "channels" / "woocommerce_order_example.json"


def _stamp(base: int, step: int, *, woo: bool) -> str:
    t = time.gmtime(base + step)
    return time.strftime("%Y-%m-%dT%H:%M:%S" + ("" if woo else "Z"), t)


def shopify_versions(n: int) -> list[dict]:
    base = 1_763_600_000 + n * 100
    v = [_kit.shopify_order(n, updated=_stamp(base, 0, woo=False), financial_status="pending")]
    v.append(_kit.shopify_order(n, updated=_stamp(base, 10, woo=False)))
    moved = _kit.shopify_order(n, updated=_stamp(base, 20, woo=False))
    moved["shipping_address"]["address1"] = f"新地址{n}号"
    v.append(moved)
    if n % 3 == 0:
        gone = copy.deepcopy(moved)
        gone.update(updated_at=_stamp(base, 30, woo=False),
                    cancelled_at=_stamp(base, 30, woo=False), cancel_reason="customer")
        v.append(gone)
    return v


def woo_versions(n: int, fixture: dict) -> list[dict]:
    base = 1_763_600_000 + n * 100

    def version(step: int, status: str, street: str) -> dict:
        o = copy.deepcopy(fixture)
        o.update(id=80_000 + n, number=str(80_000 + n), status=status,
                 date_modified_gmt=_stamp(base, step, woo=True),
                 date_modified=_stamp(base, step, woo=True))
        o["shipping"]["address_1"] = street
        if status == "pending":
            o.update(date_paid=None, date_paid_gmt=None, transaction_id="")
        for i, line in enumerate(o["line_items"]):
            line["sku"] = _kit.SKUS[(n + i) % len(_kit.SKUS)]
        return o

    v = [version(0, "pending", f"{n} Market St"), version(10, "processing", f"{n} Market St"),
         version(20, "processing", f"{n} Mission St")]
    if n % 3 == 0:
        v.append(version(30, "cancelled", f"{n} Mission St"))
    return v


# A paid platform order is "paid" in the hub or wherever automation took it since (an
# address edit re-runs automation at once); a cancelled one is cancelled.
HUB_STATES = {"paid": {"paid", "review", "out_of_stock", "ready_to_pick"},
              "cancelled": {"cancelled"}}


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def expected_state(latest: dict, platform: str) -> tuple[str, str]:
    if platform == "shopify":
        cancelled = bool(latest.get("cancelled_at"))
        street = latest["shipping_address"]["address1"]
    else:
        cancelled = latest["status"] == "cancelled"
        street = latest["shipping"]["address_1"]
    return ("cancelled" if cancelled else "paid"), street


def run_platform(platform: str, channel, orders: int, threads: int, rnd: random.Random,
                 figures: _kit.Figures) -> None:
    from django.test import Client

    from channels.models import RawPayload
    from channels.services import raw_payload_process
    from orderhub.models import Order

    fixture = json.loads(Path(WOO_FIXTURE).read_text())
    versions = {n: (shopify_versions(n) if platform == "shopify" else woo_versions(n, fixture))
                for n in range(orders)}
    deliveries = [body for vs in versions.values() for body in vs
                  for _ in range(rnd.randint(1, 3))]
    rnd.shuffle(deliveries)
    late = sum(1 for i, d in enumerate(deliveries) for later in deliveries[i + 1:i + 40]
               if _key(later, platform) == _key(d, platform)
               and _updated(later, platform) < _updated(d, platform))
    client = Client(SERVER_NAME="127.0.0.1")
    refused = 0
    for data in deliveries:
        body = json.dumps(data, ensure_ascii=False).encode()
        if platform == "shopify":
            headers = {"X-Shopify-Hmac-Sha256": sign(body), "X-Shopify-Topic": "orders/updated"}
        else:
            headers = {"X-WC-Webhook-Signature": sign(body),
                       "X-WC-Webhook-Topic": "order.updated"}
        response = client.post(f"/hooks/{channel.code}/", data=body,
                               content_type="application/json", headers=headers)
        refused += response.status_code != 200
    raw_ids = list(RawPayload.objects.filter(channel=channel).values_list("pk", flat=True))
    work: queue.Queue = queue.Queue()
    for pk in rnd.sample(raw_ids * 2, len(raw_ids) * 2):
        work.put(pk)
    failures: list[str] = []
    first_trace: list[str] = []

    def process() -> None:
        from django.db import connections

        try:
            while True:
                try:
                    pk = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    raw_payload_process(raw_id=pk)
                except Exception as exc:  # noqa: BLE001 - counted: the task would retry
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    if len(failures) == 1:
                        first_trace.append(traceback.format_exc())
        finally:
            connections.close_all()

    started = time.perf_counter()
    pool = [threading.Thread(target=process) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - started
    # What the task's retry (or a replay) does for a call that failed: process it again.
    left = list(RawPayload.objects.filter(channel=channel, status="pending")
                .values_list("pk", flat=True))
    for pk in left:
        raw_payload_process(raw_id=pk)

    counts = _kit.order_counts(channel)
    wrong = []
    held = {o.external_id: o for o in Order.objects.filter(channel=channel)}
    for vs in versions.values():
        key = _key(vs[-1], platform)
        status, street = expected_state(vs[-1], platform)
        order = held.get(key)
        if order is None or order.status not in HUB_STATES[status] \
                or street not in order.ship_street:
            wrong.append((key, order and order.status, order and order.ship_street, status,
                          street))
    for w in wrong[:5]:
        _kit.log(f"  {platform} wrong: {w}")
    for f in failures[:5]:
        _kit.log(f"  {platform} processing failure: {f}")
    if first_trace:
        _kit.log(f"  first failure:\n{first_trace[0][-3000:]}")
    statuses = RawPayload.objects.filter(channel=channel)
    _kit.log(f"{platform}: {len(deliveries)} deliveries of {sum(map(len, versions.values()))} "
             f"versions, {late} older-after-newer within 40 deliveries; {len(raw_ids)} stored; "
             f"processed twice each by {threads} threads in {seconds:.1f}s")
    figures.add(f"{platform}: webhook deliveries (duplicates included)", len(deliveries))
    figures.add(f"{platform}: deliveries refused", refused, 0)
    figures.add(f"{platform}: orders lost", orders - counts["distinct"], 0)
    figures.add(f"{platform}: orders duplicated", counts["orders"] - counts["distinct"], 0)
    figures.add(f"{platform}: orders not in their latest state", len(wrong), 0)
    figures.add(f"{platform}: payloads left pending or quarantined",
                statuses.exclude(status="processed").count(), 0)
    figures.add(f"{platform}: processing calls failed (retried)", len(failures))


def _key(data: dict, platform: str) -> str:
    return str(data["id"])


def _updated(data: dict, platform: str) -> str:
    return data["updated_at"] if platform == "shopify" else data["date_modified_gmt"]


def main() -> None:
    p = _kit.parser(__doc__.splitlines()[0], orders=100)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    pg = _kit.DrillPostgres()
    pg.start()
    hub = _kit.Hub("webhooks", pg=pg, keep=args.keep)
    figures = _kit.Figures(f"webhooks: {args.orders} orders per platform, duplicated and out "
                           f"of order, {args.threads} threads")
    try:
        hub.setup_django()
        from channels.models import Channel, SkuMapping

        rnd = random.Random(args.seed)  # noqa: S311 - drill data
        shop = _kit.make_shopify_channel("drill-shopify", "https://drill.myshopify.com",
                                         skus=_kit.SKUS)
        woo = Channel(code="drill-woo", name="drill-woo", platform="woocommerce",
                      config={"site_url": "https://woo.drill.example"})
        woo.credentials = {"consumer_key": "ck", "consumer_secret": "cs",
                           "webhook_secret": SECRET}
        woo.save()
        shop.credentials = {"access_token": "shpat_drill", "webhook_secret": SECRET}
        shop.save()
        SkuMapping.objects.bulk_create(
            [SkuMapping(channel=woo, platform_sku=s, hub_sku=s) for s in _kit.SKUS])
        run_platform("shopify", shop, args.orders, args.threads, rnd, figures)
        run_platform("woocommerce", woo, args.orders, args.threads, rnd, figures)
    finally:
        hub.close()
        pg.stop()
    figures.print_and_exit()


if __name__ == "__main__":
    main()
