"""Format drift: payloads that stop parsing pause the channel and tell its owner."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from channels.health import check_format_drift
from channels.models import Channel, RawPayload
from channels.pipeline import ingest_items
from channels.services import channel_resume, raw_payload_process, store_raw
from fulfillment.notifications.models import AlertRoute, Event, Gateway, Message
from fulfillment.notifications.services import message_deliver
from tests.channels.fakes import FakeConnector, FakeStore


@pytest.fixture
def store():
    return FakeStore(timezone.now() - dt.timedelta(hours=1))


@pytest.fixture
def connector(mapped, store):
    return FakeConnector(mapped, store)


@pytest.fixture
def robot(db):
    gateway = Gateway(name="ops-robot", kind=Gateway.Kind.WECOM)
    gateway.credentials = {"key": "robot-key"}
    gateway.save()
    AlertRoute.objects.create(event=Event.CHANNEL_PAUSED, gateway=gateway)
    return gateway


def broken(n: int) -> dict:
    # The platform renamed its fields: no "sku" any more.
    return {"id": 5000 + n, "updated_at": "2026-11-20T10:00:00+00:00",
            "skuInfo": {"code": "CUP-1"}, "street": "x", "qty": 1}


def feed(channel, connector, items, capture, source="poll"):
    with capture(execute=True):
        return ingest_items(channel=channel, items=items, source=source, normalizer=connector)


def test_five_unreadable_payloads_in_a_row_pause_and_alert_robot_and_owner_email(
        mapped, connector, store, robot, django_capture_on_commit_callbacks):
    # given a channel whose payloads parsed until the platform changed its format
    feed(mapped, connector, [store.put(n) for n in range(1, 4)],
         django_capture_on_commit_callbacks)
    feed(mapped, connector, [broken(n) for n in range(4)], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert not mapped.paused  # four in a row is not yet drift

    # when the fifth arrives (by webhook this time)
    feed(mapped, connector, [broken(4)], django_capture_on_commit_callbacks, source="webhook")

    # then the channel is paused with a reason a person understands
    mapped.refresh_from_db()
    assert mapped.paused
    assert "last 5 payloads" in mapped.paused_reason and "sku" in mapped.paused_reason
    # and the outbox holds a robot post and an e-mail to the owner, both linking to
    # the channel's sync problems
    messages = {m.gateway.kind: m for m in Message.objects.select_related("gateway")}
    assert set(messages) == {Gateway.Kind.WECOM, Gateway.Kind.EMAIL}
    assert messages[Gateway.Kind.EMAIL].recipient == "shop-owner@example.com"
    for message in messages.values():
        assert message.event == "channel_paused"
        assert "/channels/problems/?channel=shopify-demo" in message.body
    # and the e-mail really goes out through Django's mail backend when the outbox delivers
    assert message_deliver(message_id=messages[Gateway.Kind.EMAIL].pk) == "sent"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["shop-owner@example.com"] and "Shopify demo" in sent.subject
    assert "/channels/problems/?channel=shopify-demo" in sent.body


def test_a_readable_payload_breaks_the_streak(mapped, connector, store,
                                              django_capture_on_commit_callbacks):
    items = [broken(n) for n in range(4)] + [store.put(1)] + [broken(n) for n in range(4, 8)]
    for item in items:
        feed(mapped, connector, [item], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert not mapped.paused
    assert RawPayload.objects.filter(channel=mapped, status="quarantined").count() == 8


def test_twenty_percent_of_the_last_fifty_pauses(mapped, connector, store,
                                                 django_capture_on_commit_callbacks):
    # every fifth payload fails: never five in a row, but 10 of 50 is 20 %
    for n in range(50):
        item = broken(n) if n % 5 == 4 else store.put(n)
        feed(mapped, connector, [item], django_capture_on_commit_callbacks)
        mapped.refresh_from_db()
        assert mapped.paused == (n == 49), n
    assert "10 of the last 50 payloads" in mapped.paused_reason


def test_under_twenty_percent_does_not_pause(mapped, connector, store,
                                             django_capture_on_commit_callbacks):
    for n in range(50):
        item = broken(n) if n % 6 == 5 else store.put(n)  # 8 of 50
        feed(mapped, connector, [item], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert not mapped.paused


def test_the_same_broken_payload_read_again_counts_once(mapped, connector,
                                                        django_capture_on_commit_callbacks):
    # A poll's overlap window re-reads what it read last time: one payload, one count.
    for _ in range(6):
        feed(mapped, connector, [broken(1)], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert not mapped.paused


def test_webhook_payloads_processed_by_the_task_count_too(mapped, connector,
                                                          django_capture_on_commit_callbacks,
                                                          monkeypatch):
    monkeypatch.setattr("channels.services.webhooks.normalizer_for", lambda channel: connector)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            raw, _created = store_raw(channel=mapped, body=str(broken(n)).replace("'", '"'),
                                      source=RawPayload.Source.WEBHOOK)
            assert raw_payload_process(raw_id=raw.pk) == "rejected"
    mapped.refresh_from_db()
    assert mapped.paused


def test_after_resume_only_new_failures_count(mapped, connector,
                                              django_capture_on_commit_callbacks):
    feed(mapped, connector, [broken(n) for n in range(5)], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert mapped.paused
    channel_resume(channel=Channel.objects.get(pk=mapped.pk))
    # The five seen before the resume do not pause it again at the next problem...
    feed(mapped, connector, [broken(5)], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert not mapped.paused
    # ...five new ones do.
    feed(mapped, connector, [broken(n) for n in range(6, 10)], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert mapped.paused


def test_thresholds_come_from_settings(mapped, connector, settings,
                                       django_capture_on_commit_callbacks):
    settings.FORMAT_DRIFT_STREAK = 2
    feed(mapped, connector, [broken(1), broken(2)], django_capture_on_commit_callbacks)
    mapped.refresh_from_db()
    assert mapped.paused and "last 2 payloads" in mapped.paused_reason
    assert check_format_drift(channel=mapped) is None  # already paused: nothing more
