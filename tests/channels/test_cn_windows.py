"""Time windows of the CN connectors: no gaps, bounded catch-up, pacing, the 3-month limit."""

import datetime as dt
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from channels.connectors.cn import Window, plan_windows
from channels.services import channel_poll
from tests.channels.cn_support import NOW, PDD_GW, TOP_GW, connector_for, make_channel

START = dt.datetime(2026, 11, 20, 0, 0, 7, tzinfo=dt.UTC)


@pytest.mark.parametrize("since, until, minutes, limit", [
    (START, START + dt.timedelta(hours=5, minutes=7), 30, 100),
    (START, START + dt.timedelta(minutes=10), 30, 100),
    (START, START + dt.timedelta(days=3), 30, 48),
    (START, START + dt.timedelta(days=2), 24 * 60, 10),
])
def test_windows_are_consecutive_bounded_and_never_overlap(since, until, minutes, limit):
    windows = plan_windows(since=since, until=until, size=dt.timedelta(minutes=minutes),
                           max_windows=limit)
    assert windows[0].start == since.replace(microsecond=0)
    assert all(w.span <= dt.timedelta(minutes=minutes) for w in windows)
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert len(windows) <= limit
    assert windows[-1].end == until or len(windows) == limit


def test_nothing_to_read_when_the_cursor_is_at_now():
    assert plan_windows(since=NOW, until=NOW, size=dt.timedelta(minutes=30), max_windows=5) == []


def test_halves_cover_the_window():
    window = Window(START, START + dt.timedelta(minutes=31))
    first, second = window.halves()
    assert (first.start, first.end, second.end) == (window.start, second.start, window.end)


def empty_top(calls):
    def answer(request):
        calls.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, json={"trades_sold_increment_get_response": {
            "total_results": 0, "trades": {"trade": []}}})
    return answer


def test_catch_up_after_downtime_goes_in_bounded_polls_without_gaps(db):
    # given a Taobao channel that was down for three days
    channel = make_channel("taobao", config={"max_windows": 48, "window_lag_seconds": 0})
    channel.overlap_seconds = 600
    channel.cursor_at = NOW - dt.timedelta(days=3)
    channel.save()
    calls = []
    with respx.mock() as router:
        router.post(TOP_GW).mock(side_effect=empty_top(calls))
        # when it polls twice
        first = channel_poll(channel=channel, connector=connector_for(channel))
        channel.refresh_from_db()
        after_first = channel.cursor_at
        second = channel_poll(channel=channel, connector=connector_for(channel))
        channel.refresh_from_db()

    # then each poll read at most 48 windows (one day) and the second went on from the first
    assert first.status == second.status == "ok"
    windows = [(c["start_modified"], c["end_modified"]) for c in calls]
    assert len(windows) == 96
    assert after_first == NOW - dt.timedelta(days=3, minutes=10) + dt.timedelta(days=1)
    assert channel.cursor_at == after_first - dt.timedelta(minutes=10) + dt.timedelta(days=1)
    # the only re-read is the configured overlap, never a gap
    first_run, second_run = windows[:48], windows[48:]
    assert second_run[0][0] < first_run[-1][1]
    overlap = (dt.datetime.fromisoformat(first_run[-1][1])
               - dt.datetime.fromisoformat(second_run[0][0]))
    assert overlap == dt.timedelta(seconds=600)


def test_calls_are_paced_under_the_rate_limit(db):
    channel = make_channel("taobao", config={"calls_per_second": 2, "max_windows": 10,
                                             "window_lag_seconds": 0})
    channel.cursor_at = NOW - dt.timedelta(hours=5)
    channel.overlap_seconds = 0
    channel.save()
    calls = []
    connector = connector_for(channel)
    with respx.mock() as router:
        router.post(TOP_GW).mock(side_effect=empty_top(calls))
        channel_poll(channel=channel, connector=connector)
    # ten calls at two per second: nine waits of half a second on the (fake) clock
    assert len(calls) == 10
    assert sum(connector.sleep) == pytest.approx(4.5)


def test_first_sync_starts_no_earlier_than_the_platform_keeps_orders(db):
    channel = make_channel("pinduoduo", config={"max_windows": 1})
    channel.backfill_days = 365
    channel.save()
    calls = []

    def answer(request):
        calls.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, json={"order_sn_increment_get_response": {
            "total_count": 0, "has_next": False, "order_sn_list": []}})

    with respx.mock() as router:
        router.post(PDD_GW).mock(side_effect=answer)
        channel_poll(channel=channel, connector=connector_for(channel))
    oldest = dt.datetime.fromtimestamp(int(calls[0]["start_updated_at"]), dt.UTC)
    assert NOW - dt.timedelta(days=90) < oldest < NOW - dt.timedelta(days=89)


def test_a_failed_window_keeps_the_cursor_before_it(db):
    channel = make_channel("taobao", config={"window_lag_seconds": 0})
    channel.cursor_at = NOW - dt.timedelta(hours=2)
    channel.save()
    answers = iter([
        httpx.Response(200, json={"trades_sold_increment_get_response": {
            "total_results": 0, "trades": {"trade": []}}}),
        httpx.Response(200, json={"error_response": {"code": 41, "msg": "Invalid arguments",
                                                     "sub_code": "isv.invalid-parameter"}}),
    ])
    with respx.mock() as router:
        router.post(TOP_GW).mock(side_effect=lambda request: next(answers))
        outcome = channel_poll(channel=channel, connector=connector_for(channel))
    channel.refresh_from_db()
    assert outcome.status == "failed" and "isv.invalid-parameter" in channel.last_error
    # The first window (read whole, committed) moves the cursor to its end; the failed
    # second window is read again by the next poll.
    since = NOW - dt.timedelta(hours=2) - dt.timedelta(seconds=channel.overlap_seconds)
    assert channel.cursor_at == since + dt.timedelta(minutes=30)
    assert not channel.paused  # a caller-side error is reported, not paused at once
