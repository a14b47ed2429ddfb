"""Drill: a platform answering 429, 5xx, timeouts, truncated JSON and HTML error pages.

    python bench/drills/platform_errors.py [--orders 300]

A fake Shopify on a local port (real HTTP, ``_kit.FakeShopify``) serves
``--orders`` orders in pages of 50; the hub's own Shopify connector talks to it
through a client with a 1 s timeout and a sleep that records the backoff instead of
waiting. On the drill's own PostgreSQL (a fresh database):

Polling (``channel_poll``, what the beat-driven task runs):
  1. a poll meeting 429 + Retry-After: 7, 500, 502 with an nginx HTML page, 503 and
     a timeout on its pages: each retried within the poll, the poll succeeds;
  2. an outage: one page refused 5 times in a row (503): the poll fails, the
     channel records a clear error and backs off, the cursor stays where the
     last committed page put it;
  3. a 200 whose JSON is cut in half: the poll fails with "not JSON" recorded;
  4. meanwhile the platform gets new and edited orders; a clean poll recovers.
Write-back (``shipment_push_deliver``, what the outbox task runs) for 20 orders:
  429, 500, 502 HTML, a timeout after the platform took the fulfilment, and a
  truncated reply after it took it; every push is delivered until it is no longer
  pending. Verified: all sent, each order fulfilled on the platform exactly once.
"""

from __future__ import annotations

import time

import _kit
import httpx

PAGE = 50


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 2))


def connector_for(channel, sleeps: Sleeps):
    from channels.connectors import get_connector

    connector = get_connector(channel, client=httpx.Client(timeout=httpx.Timeout(1.0)),
                              sleep=sleeps)
    connector.page_size = PAGE
    return connector


def poll(channel, sleeps: Sleeps):
    from channels.services import channel_poll

    return channel_poll(channel=channel.pk, connector=connector_for(channel, sleeps))


def main() -> None:
    p = _kit.parser(__doc__.splitlines()[0], orders=300)
    args = p.parse_args()
    pg = _kit.DrillPostgres()
    pg.start()
    hub = _kit.Hub("platform_errors", pg=pg, keep=args.keep)
    figures = _kit.Figures(f"platform errors: {args.orders} orders over a failing fake Shopify")
    stamps = [_kit.shopify_stamp(n) for n in range(args.orders + 40)]
    orders = [_kit.shopify_order(n, updated=stamps[n]) for n in range(args.orders)]
    try:
        hub.setup_django()
        from django.core.cache import cache
        from django.utils import timezone

        from channels.models import Channel, ShipmentPush, ShipmentPushAttempt
        from channels.services import shipment_push_deliver
        from orderhub.models import Order

        cache.clear()
        with _kit.FakeShopify(orders) as shop:
            channel = _kit.make_shopify_channel("drill-errors", shop.url, skus=_kit.SKUS)
            Channel.objects.filter(pk=channel.pk).update(backfill_days=30000)
            # 1. transient errors inside one poll
            retry_after = ("GET", "orders.json", "status",
                           (429, {"Retry-After": "7"}, '{"errors": "Exceeded 2 calls/s"}'))
            ok = ("GET", "orders.json", "pass", None)
            # one fault per page: each retry gets through
            shop.faults = [retry_after, ok,
                           ("GET", "orders.json", "status", (500, {}, '{"errors": "oops"}')), ok,
                           ("GET", "orders.json", "html", 502), ok,
                           ("GET", "orders.json", "status", (503, {}, "Service Unavailable")), ok,
                           ("GET", "orders.json", "sleep", 1.5)]
            sleeps = Sleeps()
            first = poll(channel, sleeps)
            _kit.log(f"poll 1 (429/500/502/503/timeout): {first.status}, "
                     f"created {first.result.created}, backoff sleeps {sleeps}")
            figures.add("poll 1 with 429/500/502-HTML/503/timeout: outcome", first.status, "ok")
            figures.add("poll 1: Retry-After 7 honoured (slept 7 s)", 7.0 in sleeps, True)
            figures.add("poll 1: retries backed off", len(sleeps), _kit.at_least(5))

            # 2. an outage the retries do not outlast; the platform moves on meanwhile
            for n in range(args.orders, args.orders + 20):
                shop.orders[50_000_000 + n] = _kit.shopify_order(n, updated=stamps[n])
            cursor_before = Channel.objects.get(pk=channel.pk).cursor_at
            shop.faults = [("GET", "orders.json", "status", (503, {}, "Service Unavailable"))
                           ] * 5
            sleeps = Sleeps()
            second = poll(channel, sleeps)
            channel.refresh_from_db()
            _kit.log(f"poll 2 (5 x 503 on one page): {second.status}: {second.error!r}; "
                     f"failures {channel.consecutive_failures}, next poll in "
                     f"{(channel.next_poll_at - timezone.now()).total_seconds():.0f}s, "
                     f"cursor {cursor_before} -> {channel.cursor_at}")
            figures.add("poll 2, 5 x 503 in a row: outcome", second.status, "failed")
            figures.add("poll 2: error recorded on the channel", channel.last_error[:80],
                        lambda e: "503" in e)
            figures.add("poll 2: channel backs off (next poll in s)",
                        round((channel.next_poll_at - timezone.now()).total_seconds()),
                        _kit.at_least(30))
            figures.add("poll 2: channel paused after one failed poll", channel.paused, False)
            figures.add("poll 2: cursor kept", channel.cursor_at == cursor_before, True)

            # 3. truncated JSON with a 200
            edited = 50_000_000 + 3
            shop.orders[edited] = _kit.shopify_order(3, updated=stamps[args.orders + 30])
            shop.orders[edited]["shipping_address"]["address1"] = "改过的地址3号"
            shop.faults = [("GET", "orders.json", "truncated", None)]
            third = poll(channel, Sleeps())
            channel.refresh_from_db()
            _kit.log(f"poll 3 (truncated JSON): {third.status}: {third.error!r}")
            figures.add("poll 3, truncated JSON: outcome", third.status, "failed")
            figures.add("poll 3: error recorded on the channel", channel.last_error[:80],
                        lambda e: "JSON" in e)

            # 4. recovery
            for n in range(args.orders + 20, args.orders + 30):
                shop.orders[50_000_000 + n] = _kit.shopify_order(n, updated=stamps[n])
            shop.faults = []
            fourth = poll(channel, Sleeps())
            channel.refresh_from_db()
            counts = _kit.order_counts(channel)
            expected = args.orders + 30
            _kit.log(f"poll 4 (clean): {fourth.status}; {counts}; failures "
                     f"{channel.consecutive_failures}")
            figures.add("poll 4, platform healthy: outcome", fourth.status, "ok")
            figures.add("orders lost", expected - counts["distinct"], 0)
            figures.add("orders duplicated", counts["orders"] - counts["distinct"], 0)
            figures.add("edit made during the outage applied",
                        "改过的地址3号" in Order.objects.get(channel=channel,
                                                         external_id=str(edited)).ship_street,
                        True)
            figures.add("failure count reset after recovery", channel.consecutive_failures, 0)

            # write-back
            picked = list(Order.objects.filter(channel=channel).order_by("pk")[:20])
            pushes = [ShipmentPush.objects.create(order=o, channel=channel, carrier="SF",
                                                  carrier_company="SF",
                                                  tracking_number=f"SF{o.pk:010d}")
                      for o in picked]
            shop.faults = [
                ("POST", "fulfillments.json", "status",
                 (429, {"Retry-After": "2"}, '{"errors": "Exceeded 2 calls/s"}')),
                ("POST", "fulfillments.json", "status", (500, {}, '{"errors": "oops"}')),
                ("POST", "fulfillments.json", "html", 502),
                ("POST", "fulfillments.json", "sleep", 1.5),
                ("POST", "fulfillments.json", "truncated", None),
            ]
            attempts = 0
            connector = connector_for(channel, Sleeps())
            started = time.perf_counter()
            for push in pushes:
                for _ in range(10):
                    attempts += 1
                    outcome = shipment_push_deliver(push_id=push.pk, connector=connector)
                    if outcome != "retry":
                        break
            rows = ShipmentPush.objects.filter(pk__in=[p.pk for p in pushes])
            sent = rows.filter(status="sent").count()
            double = sum(1 for numbers in shop.fulfillments.values() if len(numbers) > 1)
            confirmed = ShipmentPushAttempt.objects.filter(push__in=rows, ok=True,
                                                           status_code__isnull=True).count()
            _kit.log(f"write-back: {sent}/{len(pushes)} sent in {attempts} attempts, "
                     f"{time.perf_counter() - started:.1f}s; platform fulfilments per order: "
                     f"{sorted({len(v) for v in shop.fulfillments.values()})}")
            figures.add("write-back: pushes sent", sent, len(pushes))
            figures.add("write-back: pushes lost (not sent, not pending)",
                        rows.exclude(status__in=["sent", "pending"]).count(), 0)
            figures.add("write-back: orders fulfilled twice on the platform", double, 0)
            figures.add("write-back: delivery attempts", attempts)
            figures.add("write-back: pushes confirmed by reading the order back", confirmed)
            figures.add("write-back: fulfilment POSTs the platform took",
                        shop.posts())
    finally:
        hub.close()
        pg.stop()
    figures.print_and_exit()


if __name__ == "__main__":
    main()
