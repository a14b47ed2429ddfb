import datetime as dt
from unittest import mock

import httpx
import pytest
import respx
from django.core import mail
from django.core.cache import cache

from channels.connectors.shopify import ShopifyConnector
from channels.models import Channel, RawPayload
from channels.services import _lock_key, channel_poll, channel_resume, channels_due
from channels.tasks import poll_due_channels
from orderhub.models import Order
from tests.channels.conftest import SHOP_API, shopify_cn_order

T0 = "2026-11-20T10:00:05+00:00"


@pytest.fixture
def connector(mapped, sleeps):
    return ShopifyConnector(mapped, sleep=sleeps)


def orders_page(*orders, status=200):
    return httpx.Response(status, json={"orders": list(orders)})


@respx.mock
def test_poll_ingests_and_advances_cursor_to_newest_update(mapped, connector):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=orders_page(
        shopify_cn_order(1, updated_at="2026-11-20T10:00:01+00:00"),
        shopify_cn_order(2, updated_at=T0)))
    outcome = channel_poll(channel=mapped, connector=connector)
    assert outcome.status == "ok" and outcome.result.created == 2
    mapped.refresh_from_db()
    assert mapped.cursor_at == dt.datetime(2026, 11, 20, 10, 0, 5, tzinfo=dt.UTC)
    assert mapped.last_success_at is not None and mapped.consecutive_failures == 0


@respx.mock
def test_order_updated_during_a_poll_is_picked_up_next_time(mapped, connector):
    # given a first poll that saw order 1 (updated at T0)
    route = respx.get(f"{SHOP_API}/orders.json").mock(side_effect=[
        orders_page(shopify_cn_order(1, updated_at=T0)),
        # order 2 was updated while poll 1 ran; the platform only lists it now,
        # with an updated_at a little *before* the cursor.
        orders_page(shopify_cn_order(1, updated_at=T0),
                    shopify_cn_order(2, updated_at="2026-11-20T10:00:03+00:00")),
    ])
    channel_poll(channel=mapped, connector=connector)

    # when the next poll runs
    outcome = channel_poll(channel=mapped, connector=connector)

    # then it re-read the overlap window and found order 2; order 1 is not duplicated
    since = route.calls[1].request.url.params["updated_at_min"]
    assert since == "2026-11-20T09:50:05+00:00"  # cursor minus the 600 s overlap
    assert (outcome.result.created, outcome.result.unchanged) == (1, 1)
    assert Order.objects.filter(channel=mapped).count() == 2


@respx.mock
def test_cursor_does_not_move_when_a_page_fails(mapped, connector):
    respx.get(f"{SHOP_API}/orders.json").mock(side_effect=[
        httpx.Response(200, json={"orders": [shopify_cn_order(1, updated_at=T0)]},
                       headers={"Link": f'<{SHOP_API}/orders.json?page_info=p2>; rel="next"'}),
        httpx.Response(422, json={"errors": "broken"}),
    ])
    outcome = channel_poll(channel=mapped, connector=connector)
    assert outcome.status == "failed"
    mapped.refresh_from_db()
    assert mapped.cursor_at is None
    assert mapped.consecutive_failures == 1 and "broken" in mapped.last_error
    assert mapped.next_poll_at > mapped.last_poll_at
    # The first page's order is kept; the next poll re-reads it harmlessly.
    assert Order.objects.count() == 1


def test_two_polls_of_one_channel_never_run_at_once(mapped):
    cache.add(_lock_key(mapped.pk), "someone-else", 60)
    connector = mock.Mock()
    assert channel_poll(channel=mapped, connector=connector).status == "busy"
    connector.fetch_orders.assert_not_called()


@respx.mock
def test_pause_after_n_failures_then_resume_without_gaps(mapped, connector, settings):
    settings.CHANNEL_MAX_FAILURES = 3
    route = respx.get(f"{SHOP_API}/orders.json")
    route.mock(return_value=orders_page(shopify_cn_order(1, updated_at=T0)))
    channel_poll(channel=mapped, connector=connector)

    route.mock(return_value=httpx.Response(503, text="down"))
    for _ in range(3):
        channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    assert mapped.paused and "3 polls in a row failed" in mapped.paused_reason
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["shop-owner@example.com"]
    assert "shpat" not in mail.outbox[0].body
    # A paused channel is not polled by the sweep.
    assert mapped not in channels_due()
    assert channel_poll(channel=mapped, connector=connector).status == "skipped"

    # Orders placed while paused are all fetched after resuming, from the old cursor.
    route.mock(return_value=orders_page(
        shopify_cn_order(2, updated_at="2026-11-20T11:00:00+00:00"),
        shopify_cn_order(3, updated_at="2026-11-20T12:00:00+00:00")))
    channel_resume(channel=mapped)
    outcome = channel_poll(channel=mapped, connector=connector)
    assert outcome.status == "ok"
    assert route.calls.last.request.url.params["updated_at_min"] == "2026-11-20T09:50:05+00:00"
    assert Order.objects.filter(channel=mapped).count() == 3
    mapped.refresh_from_db()
    assert not mapped.paused and mapped.consecutive_failures == 0


@respx.mock
def test_auth_failure_pauses_at_once(mapped, connector):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=httpx.Response(
        401, json={"errors": "[API] Invalid API key or access token"}))
    channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    assert mapped.paused
    assert mapped.paused_reason.startswith("Authentication failed")
    assert "shpat_test_token" not in mapped.paused_reason + mapped.last_error


@respx.mock
def test_quarantined_payloads_do_not_stop_the_poll(mapped, connector):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=orders_page(
        {"id": 77, "updated_at": T0, "line_items": []}, shopify_cn_order(1, updated_at=T0)))
    outcome = channel_poll(channel=mapped, connector=connector)
    assert (outcome.result.created, outcome.result.rejected) == (1, 1)
    assert RawPayload.objects.get(status="quarantined").external_id == "77"


def test_sweep_enqueues_only_due_unpaused_api_channels(mapped, channel):
    Channel.objects.filter(pk=mapped.pk).update(next_poll_at=None)
    paused = Channel.objects.create(code="p", name="p", platform="woocommerce", paused=True)
    with mock.patch("channels.tasks.poll_channel.apply_async") as apply_async:
        assert poll_due_channels() == 1
    apply_async.assert_called_once()
    assert apply_async.call_args.args[0] == (mapped.pk,)
    assert paused.pk != mapped.pk
