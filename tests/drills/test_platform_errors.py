"""CI version of ``bench/drills/platform_errors.py``: a platform answering 429, 5xx,
HTML error pages, timeouts and truncated JSON, for a poll and for the write-back.

Single failure classes are pinned elsewhere (``tests/channels/test_shopify.py``:
429 + Retry-After, persistent 5xx; ``test_polling.py``: backoff, pause after N
failures, cursor kept mid-scan; ``test_outbox_and_gaps.py``: ambiguous replies read
back); here they come mixed, as an outage does, and the figures are the drill's:
orders lost 0, duplicated 0, each shipment fulfilled once.
"""

from __future__ import annotations

from django.utils import timezone

from channels.models import ShipmentPush
from channels.services import channel_poll, shipment_push_deliver
from orderhub.models import Order
from tests.drills.conftest import order


def held(channel) -> list[str]:
    return sorted(Order.objects.filter(channel=channel).values_list("external_id", flat=True))


def test_a_poll_rides_out_429_5xx_html_and_timeouts(shop_channel, fake_shop, connector,
                                                    sleeps):
    # given six orders on three pages, and one fault before each page and between
    fake_shop.orders = {o["id"]: o for o in (order(n) for n in range(1, 7))}
    get = "orders.json"
    fake_shop.faults = [("GET", get, "429"), ("GET", get, "pass"), ("GET", get, "500"),
                        ("GET", get, "pass"), ("GET", get, "html502"), ("GET", get, "timeout")]

    # when the channel is polled
    outcome = channel_poll(channel=shop_channel, connector=connector())

    # then each request was retried after backing off (Retry-After honoured) and the
    # poll got everything once
    assert outcome.status == "ok", outcome.error
    assert sleeps[0] == 3.0 and len(sleeps) == 4
    assert held(shop_channel) == [str(9000 + n) for n in range(1, 7)]
    shop_channel.refresh_from_db()
    assert shop_channel.consecutive_failures == 0 and not shop_channel.paused


def test_an_outage_and_truncated_json_are_recorded_then_a_poll_recovers_all(
        shop_channel, fake_shop, connector):
    # given a synced channel
    fake_shop.orders = {o["id"]: o for o in (order(n) for n in range(1, 5))}
    assert channel_poll(channel=shop_channel, connector=connector()).status == "ok"
    shop_channel.refresh_from_db()
    cursor = shop_channel.cursor_at

    # when the platform refuses every try of a poll (5 x 503 is its retry budget)...
    fake_shop.orders.update({o["id"]: o for o in (order(n) for n in range(5, 8))})
    fake_shop.faults = [("GET", "orders.json", "500")] * 5
    failed = channel_poll(channel=shop_channel, connector=connector())
    shop_channel.refresh_from_db()

    # then the poll fails with the reason on the channel, backs off, keeps the cursor
    assert failed.status == "failed"
    assert "HTTP 500" in shop_channel.last_error and "5 tries" in shop_channel.last_error
    assert shop_channel.consecutive_failures == 1 and not shop_channel.paused
    assert shop_channel.next_poll_at > timezone.now()
    assert shop_channel.cursor_at == cursor

    # when the next poll gets a 200 with half a JSON body
    edited = order(2, minute=50)
    edited["shipping_address"]["address1"] = "新地址200号"
    fake_shop.orders[edited["id"]] = edited
    fake_shop.faults = [("GET", "orders.json", "truncated")]
    truncated = channel_poll(channel=shop_channel, connector=connector())
    shop_channel.refresh_from_db()
    assert truncated.status == "failed" and "not JSON" in shop_channel.last_error
    assert shop_channel.consecutive_failures == 2

    # then a clean poll brings what came and changed meanwhile, once each
    assert channel_poll(channel=shop_channel, connector=connector()).status == "ok"
    shop_channel.refresh_from_db()
    assert held(shop_channel) == [str(9000 + n) for n in range(1, 8)]
    assert Order.objects.get(external_id="9002").ship_street == "新地址200号"
    assert shop_channel.consecutive_failures == 0


def test_write_back_through_errors_fulfils_each_order_once(shop_channel, fake_shop,
                                                           connector):
    # given five shipped orders whose tracking numbers wait in the outbox
    fake_shop.orders = {o["id"]: o for o in (order(n) for n in range(1, 6))}
    channel_poll(channel=shop_channel, connector=connector())
    pushes = [ShipmentPush.objects.create(order=o, channel=shop_channel, carrier="SF",
                                          carrier_company="SF", tracking_number=f"SF{o.pk}")
              for o in Order.objects.filter(channel=shop_channel).order_by("pk")]
    # and a platform that refuses (429, 500, HTML 502) or takes the fulfilment but
    # loses the reply (timeout, cut-off body)
    post = ("POST", "fulfillments.json")
    fake_shop.faults = [(*post, "429"), (*post, "500"), (*post, "html502"), (*post, "late"),
                        (*post, "truncated")]

    # when the outbox task runs each push until it is no longer pending
    outcomes = []
    for push in pushes:
        for _ in range(8):
            outcomes.append(shipment_push_deliver(push_id=push.pk, connector=connector()))
            if outcomes[-1] != "retry":
                break

    # then every push is sent, each order fulfilled on the platform exactly once
    assert set(ShipmentPush.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(len(v) for v in fake_shop.fulfilled.values()) == [1] * 5
    assert outcomes.count("retry") >= 3
    # and the pushes whose reply was lost were confirmed by reading the order back
    confirmed = ShipmentPush.objects.filter(attempt_rows__ok=True,
                                            attempt_rows__status_code__isnull=True)
    assert confirmed.count() == 2
