"""The per-channel poll lock is a short lease renewed per page: a poll killed outright
(SIGKILL) blocks its channel for at most one lease, a live poll keeps its lock."""

import datetime as dt
import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from channels.services import _lock_key, channel_poll, polling
from orderhub.models import Order
from tests.channels.fakes import FakeConnector, FakeStore

# Real seconds: the lock lives in the real cache (Redis or files), whose clock we do not fake.
LEASE = 1


@pytest.fixture
def short_lease(monkeypatch):
    monkeypatch.setattr(polling, "POLL_LOCK_SECONDS", LEASE)


@pytest.fixture
def store():
    store = FakeStore(timezone.now() - dt.timedelta(hours=1))
    for order_id in (1, 2, 3):
        store.put(order_id)
    return store


@pytest.fixture(autouse=True)
def _clean_lock(mapped):
    cache.delete(_lock_key(mapped.pk))
    yield
    cache.delete(_lock_key(mapped.pk))


def test_the_lease_is_short_by_default():
    # A killed poll used to block its channel for 15 minutes.
    assert polling.POLL_LOCK_SECONDS <= 120


def test_a_killed_polls_lock_expires_and_the_next_poll_takes_over(mapped, store, short_lease):
    # What a poll killed with SIGKILL leaves behind: its lock, never released.
    assert cache.add(_lock_key(mapped.pk), "killed-poll", polling.POLL_LOCK_SECONDS)
    assert channel_poll(channel=mapped, connector=FakeConnector(mapped, store)).status == "busy"

    time.sleep(LEASE + 0.5)
    outcome = channel_poll(channel=mapped, connector=FakeConnector(mapped, store))
    assert outcome.status == "ok"
    assert Order.objects.filter(channel=mapped).count() == 3
    assert cache.get(_lock_key(mapped.pk)) is None


def test_a_live_poll_renews_its_lock_page_by_page(mapped, store, short_lease):
    seen = {}

    def slow_platform(page: int):
        time.sleep(0.7)
        if page == 2:
            # Past the first lease (1 s): only a renewed lock still keeps others out.
            other = channel_poll(channel=mapped, connector=FakeConnector(mapped, store))
            seen["other"] = other.status

    connector = FakeConnector(mapped, store, page_size=1, between_pages=slow_platform)
    outcome = channel_poll(channel=mapped, connector=connector)
    assert seen["other"] == "busy"
    assert outcome.status == "ok"
    assert Order.objects.filter(channel=mapped).count() == 3
    assert cache.get(_lock_key(mapped.pk)) is None


def test_a_poll_whose_lock_was_taken_over_stops_and_leaves_the_new_lock(mapped, store):
    def taken_over(page: int):
        if page == 1:
            # Our lease ran out during a very slow page and another poll took the lock.
            cache.set(_lock_key(mapped.pk), "newer-poll", 60)

    connector = FakeConnector(mapped, store, page_size=1, between_pages=taken_over)
    outcome = channel_poll(channel=mapped, connector=connector)
    assert outcome.status == "busy"
    assert outcome.result.created == 2  # pages read before noticing stay stored
    assert Order.objects.filter(channel=mapped).count() == 2
    assert cache.get(_lock_key(mapped.pk)) == "newer-poll"
