"""The orders cursor under concurrent updates: an incremental sync never skips an
order and never repeats one that did not change.

The scenario runs against the API and against two naive pagers (an offset, and an
``updated_at``-only cursor) to show it tells them apart: both of those lose orders.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from orderhub.models import Order
from orderhub.services.orders import order_add_note, order_update

PAGE = 3


@pytest.fixture
def orders(make_order, channel):
    made = [make_order("paid", channel=channel) for _ in range(10)]
    # Ties: several orders share one updated_at (a bulk change stamps them alike).
    same = timezone.now() - dt.timedelta(minutes=5)
    Order.objects.filter(pk__in=[o.pk for o in made[:6]]).update(updated_at=same)
    for i, order in enumerate(made[6:]):
        Order.objects.filter(pk=order.pk).update(
            updated_at=same + dt.timedelta(seconds=i + 1))
    return [o.pk for o in made]


def _touch(pk: int, n: int) -> None:
    """A real edit through the order service (bumps updated_at)."""
    order_update(order=pk, actor="system:test", changes={"ship_postcode": f"2000{n:02d}"})


def run_sync(fetch, orders_pks):
    """Page to the end, editing orders between page fetches.

    ``fetch(cursor) -> (list of (pk, updated_at), next_cursor, has_more)``.
    Returns every (order, updated_at) delivered, in order.
    """
    seen: list[tuple[int, dt.datetime]] = []
    cursor, pages = None, 0
    while True:
        items, cursor, more = fetch(cursor)
        seen += items
        pages += 1
        if pages == 1:
            # An order already delivered on page 1 and one not yet read are edited.
            _touch(items[0][0], 1)
            _touch(orders_pks[-1], 2)
        if pages == 2:
            _touch(items[-1][0], 3)
        if not more or pages > 20:
            break
    return seen


def _ms(stamp: dt.datetime) -> dt.datetime:
    # JSON carries milliseconds.
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def check(seen, orders_pks):
    """No skip: every order's newest version was delivered. No repeat: an order came
    again only with a newer updated_at."""
    problems = []
    seen = [(pk, _ms(stamp)) for pk, stamp in seen]
    latest = {pk: _ms(stamp) for pk, stamp in
              Order.objects.filter(pk__in=orders_pks).values_list("pk", "updated_at")}
    got = {}
    for pk, stamp in seen:
        if pk in got and stamp <= got[pk]:
            problems.append(f"order {pk} repeated unchanged")
        got[pk] = max(stamp, got.get(pk, stamp))
    for pk in orders_pks:
        if pk not in got:
            problems.append(f"order {pk} skipped")
        elif got[pk] != latest[pk]:
            problems.append(f"order {pk}: newest change never delivered")
    return problems


def api_fetch(api):
    def fetch(cursor):
        params = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/orders", params).json()
        items = [(Order.objects.get(number=o["number"]).pk,
                  dt.datetime.fromisoformat(o["updated_at"].replace("Z", "+00:00")))
                 for o in body["items"]]
        return items, body["next_cursor"], body["has_more"]
    return fetch


def offset_fetch(cursor):
    offset = cursor or 0
    rows = list(Order.objects.order_by("updated_at", "pk").values_list("pk", "updated_at")
                [offset:offset + PAGE + 1])
    return rows[:PAGE], offset + PAGE, len(rows) > PAGE


def updated_at_only_fetch(cursor):
    rows = Order.objects.order_by("updated_at", "pk")
    if cursor:
        rows = rows.filter(updated_at__gt=cursor)
    rows = list(rows.values_list("pk", "updated_at")[:PAGE + 1])
    page = rows[:PAGE]
    return page, page[-1][1] if page else cursor, len(rows) > PAGE


def test_api_cursor_never_skips_or_repeats_under_concurrent_updates(orders, make_token,
                                                                     api_as):
    _token, raw = make_token("ops", "read")
    seen = run_sync(api_fetch(api_as(raw)), orders)
    assert check(seen, orders) == []
    # Orders nobody touched came exactly once.
    counts = {pk: sum(1 for s, _ in seen if s == pk) for pk in orders}
    assert sorted(counts.values()).count(1) >= len(orders) - 3


@pytest.mark.parametrize("naive", [offset_fetch, updated_at_only_fetch])
def test_the_scenario_catches_naive_cursors(orders, naive):
    seen = run_sync(naive, orders)
    assert check(seen, orders) != []


def test_a_resumed_sync_gets_only_what_changed(orders, make_token, api_as, make_order):
    _token, raw = make_token("ops", "read")
    api = api_as(raw)
    cursor, more = None, True
    while more:
        body = api.get("/orders", {"limit": 50, **({"cursor": cursor} if cursor else {})}).json()
        cursor, more = body["next_cursor"], body["has_more"]
    # Nothing new: an empty page that keeps the cursor.
    body = api.get("/orders", {"cursor": cursor}).json()
    assert body["items"] == [] and body["next_cursor"] == cursor
    _touch(orders[2], 9)
    new = make_order("pending_payment")
    order_add_note(order=orders[3], actor="system:test", text="a note is not an order change")
    body = api.get("/orders", {"cursor": cursor}).json()
    numbers = [o["number"] for o in body["items"]]
    assert numbers == [Order.objects.get(pk=orders[2]).number, new.number]


def test_filters_and_a_bad_cursor(orders, make_token, api_as, make_order):
    _token, raw = make_token("ops", "read")
    api = api_as(raw)
    make_order("pending_payment")
    body = api.get("/orders", {"status": "pending_payment"}).json()
    assert [o["status"] for o in body["items"]] == ["pending_payment"]
    assert api.get("/orders", {"status": ["paid", "pending_payment"], "limit": 200}
                   ).json()["items"].__len__() == 11
    assert api.get("/orders", {"channel": "nope"}).json()["items"] == []
    assert api.get("/orders", {"status": "lost"}).status_code == 422
    assert api.get("/orders", {"cursor": "garbage"}).json()["code"] == "invalid_cursor"


def test_the_sync_lag_holds_back_changes_still_settling(orders, make_token, api_as):
    _token, raw = make_token("ops", "read")
    api = api_as(raw)
    Order.objects.filter(pk=orders[0]).update(updated_at=F("updated_at") + dt.timedelta(
        minutes=10))  # "now": younger than the lag
    with override_settings(API_SYNC_LAG_SECONDS=60):
        numbers = {o["number"] for o in api.get("/orders", {"limit": 200}).json()["items"]}
    assert Order.objects.get(pk=orders[0]).number not in numbers
    assert len(numbers) == len(orders) - 1
