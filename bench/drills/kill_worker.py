"""Drill: ``kill -9`` of a worker mid-ingest and mid-outbox-delivery, and of a file import.

    python bench/drills/kill_worker.py [--orders 3000] [--pushes 60]

Own Redis (port 6391: broker, results and the cache, so also the poll lock) and
own PostgreSQL (port 5440, a fresh database). A fake Shopify on a local port
serves ``--orders`` orders in pages of 250, a little slowly.

1. Poll: a real Celery worker (``-Q ingest``, one process) runs
   ``channels.tasks.poll_channel``; once a third of the orders are in, the worker
   and its child get SIGKILL together. The worker is started again and the poll is
   enqueued again, as beat's minute sweep does. Found and reported: whether the dead
   poll's lock still blocks polls (it is only a cache key with a 15-minute TTL), and
   whether the killed task comes back by itself (Redis gives an unacknowledged task
   back only after the broker's visibility timeout, 1 h). The drill then lets the
   lock go (what its expiry does) and polls to the end.
2. Outbox: ``--pushes`` shipment write-backs (``ShipmentPush`` rows, as the ship
   transition writes them) enqueued to the worker; SIGKILL when a third are sent;
   restart; what is still pending after the queue drained is enqueued again (what
   the 5-minute sweeper ``deliver_due_shipment_pushes`` does).
3. File import: ``manage.py import_orders`` of the same orders as a JSON file
   (another channel), SIGKILL mid-way, then the same command again.

Verified from the database: every platform order exactly once; every push sent,
none lost, each order fulfilled on the platform once; re-sent calls counted (the
outbox is at-least-once towards the platform call, exactly-once towards the
platform's state for Shopify, whose fulfilment orders close once fulfilled).
"""

from __future__ import annotations

import json
import time

import _kit


def wait_until(check, seconds: float, what: str) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    _kit.log(f"gave up waiting for {what} after {seconds:.0f}s")
    return False


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url)


def unacked(redis_url: str) -> int:
    return _redis(redis_url).hlen("unacked")


def drill_poll(hub, redis, shop, figures, orders: int) -> object:
    from django.core.cache import cache

    from channels.models import Channel
    from channels.services import _lock_key
    from channels.tasks import poll_channel

    channel = _kit.make_shopify_channel("drill-kill", shop.url, skus=_kit.SKUS)
    Channel.objects.filter(pk=channel.pk).update(backfill_days=30000)
    worker = hub.start_worker("ingest", name="ingest")

    def count() -> int:
        return _kit.order_counts(channel)["orders"]

    poll_channel.delay(channel.pk)
    if not wait_until(lambda: count() >= orders // 3, 300, "a third of the orders"):
        _kit.log(hub.log_tail("ingest"))
        raise SystemExit("the worker did not ingest: see its log above")
    _kit.kill9(worker)
    at_kill = count()
    channel.refresh_from_db()
    cursor_at_kill = channel.cursor_at
    lock_ttl = _redis(redis.url).ttl(cache.make_key(_lock_key(channel.pk)))
    held = unacked(redis.url)
    _kit.log(f"poll: SIGKILL with {at_kill}/{orders} orders in, cursor {cursor_at_kill}, "
             f"lock left: {cache.get(_lock_key(channel.pk)) is not None} (ttl {lock_ttl}s), "
             f"unacknowledged tasks in Redis: {held}")
    time.sleep(1)
    hub.worker = hub.start_worker("ingest", name="ingest")
    restarted = time.time()
    poll_channel.delay(channel.pk)  # what beat's poll_due_channels does within a minute
    time.sleep(5)
    resumed_alone = count() > at_kill
    blocked = cache.get(_lock_key(channel.pk)) is not None and not resumed_alone
    _kit.log(f"poll after restart: {'blocked by the dead poll lock' if blocked else 'ran'}")
    # The lock's TTL running out, without waiting 15 minutes.
    cache.delete(_lock_key(channel.pk))
    poll_channel.delay(channel.pk)
    done = wait_until(lambda: count() >= orders and Channel.objects.get(
        pk=channel.pk).last_success_at is not None, 600, "the poll to finish")
    counts = _kit.order_counts(channel)
    _kit.log(f"poll finished {time.time() - restarted:.1f}s after the restart: {counts}")
    figures.add("poll: orders in when the worker was killed", f"{at_kill}/{orders}")
    figures.add("poll: a new poll blocked by the killed poll's lock (15 min TTL)", blocked)
    figures.add("poll: tasks the dead worker held unacknowledged (back after 1 h)", held)
    figures.add("poll: finished after restart", done, True)
    figures.add("poll: orders lost", orders - counts["distinct"], 0)
    figures.add("poll: orders duplicated", counts["orders"] - counts["distinct"], 0)
    return channel


def drill_outbox(hub, redis, shop, figures, channel, pushes: int) -> None:
    from channels.models import ShipmentPush
    from channels.tasks import deliver_shipment_push
    from orderhub.models import Order

    picked = list(Order.objects.filter(channel=channel).order_by("pk")[:pushes])
    rows = [ShipmentPush.objects.create(order=o, channel=channel, carrier="SF",
                                        carrier_company="SF", tracking_number=f"SF{o.pk:010d}")
            for o in picked]
    ids = [r.pk for r in rows]
    queryset = ShipmentPush.objects.filter(pk__in=ids)
    # slow enough that the kill lands while a fulfilment call is in flight
    shop.post_delay = 0.5
    gets_before = sum(1 for m, path, _ in shop.requests if path.endswith("fulfillment_orders.json"))
    worker = hub.worker  # the same worker, restarted after the first kill
    for pk in ids:
        deliver_shipment_push.delay(pk)
    # a third sent, and the next fulfilment call in flight (the platform has it)
    wait_until(lambda: queryset.filter(status="sent").count() >= len(ids) // 3
               and shop.posting > 0, 300, "a third of the pushes")
    _kit.kill9(worker)
    in_flight = shop.posting
    sent_at_kill = queryset.filter(status="sent").count()
    landed_at_kill = shop.posts()
    _kit.log(f"outbox: SIGKILL with {sent_at_kill} marked sent, {landed_at_kill} taken by the "
             f"platform, {in_flight} call in flight, unacknowledged tasks {unacked(redis.url)}")
    hub.worker = hub.start_worker("ingest", name="outbox")
    wait_until(lambda: queryset.filter(status="pending").count() <= 2, 300,
               "the queue to drain")
    time.sleep(3)
    stuck = list(queryset.filter(status="pending").values_list("pk", flat=True))
    _kit.log(f"outbox: left pending after the queue drained: {len(stuck)} (for the sweeper)")
    for pk in stuck:  # the sweeper's work, without its 5-minute grace
        deliver_shipment_push.delay(pk)
    wait_until(lambda: not queryset.filter(status="pending").exists(), 120, "the sweep")
    gets = sum(1 for m, path, _ in shop.requests
               if path.endswith("fulfillment_orders.json")) - gets_before
    double = sum(1 for numbers in shop.fulfillments.values() if len(numbers) > 1)
    sent = queryset.filter(status="sent").count()
    figures.add("outbox: pushes", len(ids))
    figures.add("outbox: sent when the worker was killed", sent_at_kill)
    figures.add("outbox: fulfilment calls in flight at the kill", in_flight)
    figures.add("outbox: left pending for the sweeper after restart", len(stuck))
    figures.add("outbox: pushes sent in the end", sent, len(ids))
    figures.add("outbox: pushes lost", len(ids) - sent - queryset.filter(
        status="pending").count(), 0)
    figures.add("outbox: platform calls re-sent after the kill", max(0, gets - len(ids)))
    figures.add("outbox: orders fulfilled twice on the platform", double, 0)


def drill_import(hub, figures, orders: list[dict]) -> None:
    from channels.models import Channel

    path = hub.var_dir / "orders.json"
    path.write_text(json.dumps(orders))
    channel = _kit.make_shopify_channel("drill-file", "https://file.myshopify.com",
                                        skus=_kit.SKUS)
    Channel.objects.filter(pk=channel.pk).update(enabled=False)  # file only, never polled
    cmd = [_kit.PYTHON, "manage.py", "import_orders", channel.code, str(path), "--workers", "1"]
    proc = hub.spawn(cmd, "import")
    wait_until(lambda: _kit.order_counts(channel)["orders"] >= len(orders) // 3
               or proc.poll() is not None, 300, "a third of the file")
    _kit.kill9(proc)
    at_kill = _kit.order_counts(channel)["orders"]
    _kit.log(f"import: SIGKILL with {at_kill}/{len(orders)} orders in; importing again")
    again = hub.spawn(cmd, "import")
    again.wait(600)
    counts = _kit.order_counts(channel)
    output = hub.log_tail("import", 3)
    _kit.log(f"import again: exit {again.returncode}; {counts}; {output!r}")
    figures.add("import: orders in when killed", f"{at_kill}/{len(orders)}")
    figures.add("import: second run exit code", again.returncode, 0)
    figures.add("import: orders lost", len(orders) - counts["distinct"], 0)
    figures.add("import: orders duplicated", counts["orders"] - counts["distinct"], 0)


def main() -> None:
    p = _kit.parser(__doc__.splitlines()[0], orders=3000)
    p.add_argument("--pushes", type=int, default=60)
    args = p.parse_args()
    pg, redis = _kit.DrillPostgres(), _kit.DrillRedis()
    pg.start()
    redis.start()
    hub = _kit.Hub("kill_worker", pg=pg, redis_url=redis.url, keep=args.keep)
    figures = _kit.Figures(f"kill -9: worker mid-poll ({args.orders} orders), mid-outbox "
                           f"({args.pushes} pushes), file import mid-way")
    orders = [_kit.shopify_order(n, updated=_kit.shopify_stamp(n)) for n in range(args.orders)]
    try:
        hub.setup_django()
        with _kit.FakeShopify(orders, page_delay=0.3) as shop:
            channel = drill_poll(hub, redis, shop, figures, args.orders)
            drill_outbox(hub, redis, shop, figures, channel, args.pushes)
        drill_import(hub, figures, orders)
    finally:
        hub.close()
        redis.stop()
        pg.stop()
    figures.print_and_exit()


if __name__ == "__main__":
    main()
