import datetime as dt
from unittest import mock

import httpx
import pytest
import respx
from django.core.cache import cache
from django.utils import timezone

from channels.connectors.base import AuthError, ConnectorError
from channels.connectors.shopify import ShopifyConnector
from channels.models import Channel, RawPayload
from channels.services import _lock_key, channel_poll, channel_resume, channels_due
from channels.tasks import poll_due_channels
from fulfillment.notifications.models import Message
from orderhub.models import Order
from tests.channels.conftest import SHOP_API, shopify_cn_order
from tests.channels.fakes import FakeConnector, FakeStore

T0 = "2026-11-20T10:00:05+00:00"


@pytest.fixture
def connector(mapped, sleeps):
    return ShopifyConnector(mapped, sleep=sleeps)


def orders_page(*orders, status=200):
    return httpx.Response(status, json={"orders": list(orders)})


def test_two_polls_of_one_channel_never_run_at_once(mapped):
    cache.add(_lock_key(mapped.pk), "someone-else", 60)
    connector = mock.Mock()
    assert channel_poll(channel=mapped, connector=connector).status == "busy"
    connector.fetch_orders.assert_not_called()


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


# --- the cursor contract (FetchedPage.watermark), with a fake platform -----------------

def _store(hours_ago: int = 2, orders: int = 0) -> FakeStore:
    store = FakeStore(timezone.now() - dt.timedelta(hours=hours_ago))
    for order_id in range(1, orders + 1):
        store.put(order_id)
    return store


def _streets(channel) -> dict[str, str]:
    return dict(Order.objects.filter(channel=channel).values_list("external_id", "ship_street"))


def test_orders_edited_and_created_mid_scan_are_neither_lost_nor_duplicated(mapped):
    # given a platform with five orders, read two per page sorted by id, that changes
    # while the first poll pages through it; no overlap window, so only the cursor
    # rule stands between an edit and its loss
    Channel.objects.filter(pk=mapped.pk).update(overlap_seconds=0)
    store = _store(orders=5)

    def platform_changes(page):
        if page == 1:
            store.put(1, street="改：一号楼")  # already read: the edit comes after the read
            store.put(6)  # created mid-scan
        if page == 2:
            store.put(4, street="改：四号楼")  # read on page 2 just now
            store.put(5, street="改：五号楼")  # not read yet: page 3 brings it edited

    connector = FakeConnector(mapped, store, between_pages=platform_changes)
    began = store.now

    # when two polls run
    first = channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    # then the first moved the cursor only to when its scan began (the last page's
    # watermark), not to the newest updated_at it saw (order 5's edit, after order 1's)
    assert first.status == "ok" and mapped.cursor_at == began
    assert _streets(mapped)["1"] == "世纪大道100号"  # the edit was not seen yet
    connector.between_pages = lambda page: None
    second = channel_poll(channel=mapped, connector=connector)

    # and the second, starting at the cursor, read every change of the first one's scan
    assert connector.calls[1] == began
    assert second.status == "ok"
    streets = _streets(mapped)
    assert sorted(streets, key=int) == ["1", "2", "3", "4", "5", "6"]  # each once
    assert Order.objects.filter(channel=mapped).count() == 6
    assert (streets["1"], streets["4"], streets["5"]) == ("改：一号楼", "改：四号楼", "改：五号楼")


def test_windows_move_the_cursor_page_by_page_and_an_early_stop_keeps_the_last(mapped):
    # given a connector reading 10-minute windows that stops after two (rate budget spent)
    store = _store(hours_ago=1, orders=3)
    Channel.objects.filter(pk=mapped.pk).update(cursor_at=store.now - dt.timedelta(minutes=50),
                                                overlap_seconds=0)
    mapped.refresh_from_db()
    since = mapped.cursor_at
    connector = FakeConnector(mapped, store, mode="windows", window=600, stop_after=2)

    outcome = channel_poll(channel=mapped, connector=connector)

    mapped.refresh_from_db()
    assert outcome.status == "ok"
    assert mapped.cursor_at == since + dt.timedelta(minutes=20)
    # the next poll resumes from there
    channel_poll(channel=mapped, connector=connector)
    assert connector.calls[1] == since + dt.timedelta(minutes=20)


def test_pages_without_a_watermark_never_move_the_cursor(mapped):
    # given a channel synced up to a point, and a connector that stops before its
    # only watermark (the last page of its scan)
    store = _store(orders=5)
    cursor = store.now - dt.timedelta(minutes=30)
    Channel.objects.filter(pk=mapped.pk).update(cursor_at=cursor)
    connector = FakeConnector(mapped, store, stop_after=1)

    outcome = channel_poll(channel=mapped, connector=connector)

    mapped.refresh_from_db()
    assert outcome.status == "ok" and outcome.result.created == 2
    assert mapped.cursor_at == cursor


def test_a_first_sync_without_any_watermark_pins_the_backfill_start(mapped):
    store = _store(orders=3)
    connector = FakeConnector(mapped, store, stop_after=1)
    channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    # The window's start stays put (it does not slide forward with the clock, which
    # would drop what falls out of it); the next poll reads from the same point.
    assert mapped.cursor_at == connector.calls[0]
    channel_poll(channel=mapped, connector=connector)
    assert connector.calls[1] == connector.calls[0] - dt.timedelta(
        seconds=mapped.overlap_seconds)


def test_the_cursor_never_passes_the_polls_start(mapped):
    # a platform whose clock runs a day ahead of ours
    store = _store(orders=1)
    connector = FakeConnector(mapped, store, watermark_shift=dt.timedelta(days=1))
    before = timezone.now()
    channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    assert before <= mapped.cursor_at <= timezone.now()


def test_a_failure_mid_scan_keeps_the_cursor_at_the_last_committed_watermark(mapped):
    store = _store(orders=4)
    since = store.now - dt.timedelta(minutes=10)
    Channel.objects.filter(pk=mapped.pk).update(cursor_at=since, overlap_seconds=0)
    connector = FakeConnector(mapped, store, mode="windows", window=120, fail_after=1)

    outcome = channel_poll(channel=mapped, connector=connector)

    mapped.refresh_from_db()
    assert outcome.status == "failed"
    assert mapped.cursor_at == since + dt.timedelta(minutes=2)
    assert mapped.consecutive_failures == 1


def test_a_first_sync_that_fails_keeps_what_it_read_and_pins_its_start(mapped):
    # given a first sync whose second page fails (a scan: no watermark before the end)
    store = _store(orders=4)
    connector = FakeConnector(mapped, store, fail_after=1)

    outcome = channel_poll(channel=mapped, connector=connector)

    # then the first page's orders are kept, the failure is counted, and the window's
    # start stays where this poll began reading
    mapped.refresh_from_db()
    assert outcome.status == "failed" and outcome.result.created == 2
    assert Order.objects.filter(channel=mapped).count() == 2
    assert mapped.consecutive_failures == 1 and "503" in mapped.last_error
    assert mapped.cursor_at == connector.calls[0]


# --- failure classes ------------------------------------------------------------------

def test_a_single_5xx_backs_off_and_never_pauses(mapped):
    store = _store(orders=1)
    connector = FakeConnector(mapped, store, fail_after=0,
                              fail_with=ConnectorError("token endpoint: HTTP 503",
                                                       status_code=503))
    outcome = channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    assert outcome.status == "failed"
    assert not mapped.paused and mapped.consecutive_failures == 1
    assert mapped.next_poll_at > mapped.last_poll_at  # backing off


def test_invalid_credentials_pause_at_once(mapped):
    store = _store(orders=1)
    connector = FakeConnector(mapped, store, fail_after=0, fail_with=AuthError(
        "invalid_grant: The refresh token is invalid", status_code=400))
    channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    assert mapped.paused and mapped.paused_reason.startswith("Authentication failed")


def test_pause_after_n_failures_then_resume_without_gaps(mapped, settings,
                                                         django_capture_on_commit_callbacks):
    # given a synced channel
    settings.CHANNEL_MAX_FAILURES = 3
    store = _store(orders=1)
    connector = FakeConnector(mapped, store)
    channel_poll(channel=mapped, connector=connector)
    mapped.refresh_from_db()
    cursor = mapped.cursor_at

    # when three polls in a row fail with 5xx
    connector.fail_after = 0
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            channel_poll(channel=mapped, connector=connector)
            mapped.refresh_from_db()
            assert mapped.paused == (n == 2)

    # then the channel is paused, the sweep leaves it alone, and the owner is told
    # through the notification outbox (the e-mail carries no secret)
    assert "3 polls in a row failed" in mapped.paused_reason
    assert mapped not in channels_due()
    assert channel_poll(channel=mapped, connector=connector).status == "skipped"
    owner_mail = Message.objects.get(recipient="shop-owner@example.com")
    assert "shpat" not in owner_mail.body and "3 polls in a row failed" in owner_mail.body

    # and orders placed while paused are all fetched after resuming, from the old cursor
    store.put(2)
    store.put(3)
    connector.fail_after = None
    channel_resume(channel=mapped)
    outcome = channel_poll(channel=mapped, connector=connector)
    assert outcome.status == "ok"
    assert connector.calls[-1] == cursor - dt.timedelta(seconds=mapped.overlap_seconds)
    assert Order.objects.filter(channel=mapped).count() == 3
    mapped.refresh_from_db()
    assert not mapped.paused and mapped.consecutive_failures == 0
