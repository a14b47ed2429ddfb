"""Sending: one attempt row per try, bounded exponential retries, pausing after N failures."""

import datetime as dt
import random

import httpx
import pytest
import respx
from django.core import mail
from django.utils import timezone
from freezegun import freeze_time
from httpx import Response

from tests.webhooks.conftest import URL
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.services import MAX_ATTEMPTS, NewDelivery, deliveries_record

pytestmark = pytest.mark.django_db


def record(subscription, event="stock.low"):
    [delivery] = deliveries_record([NewDelivery(
        subscription=subscription, event=event, occurred_at=timezone.now(),
        data={"stock": {"sku": "SKU-1", "available": 0}})])
    return delivery


def send_when_due(delivery) -> str:
    """Run the next try at its due time (the sweep would queue it then)."""
    delivery.refresh_from_db()
    with freeze_time(max(delivery.next_attempt_at, timezone.now())):
        return services.delivery_send(delivery_id=delivery.pk)


# --- backoff -------------------------------------------------------------------------------

def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(7)
    waits = [[services.backoff_seconds(n, rng=rng) for n in range(1, MAX_ATTEMPTS + 1)]
             for _ in range(50)]
    for series in waits:
        for n, wait in enumerate(series, start=1):
            base = min(6 * 3600, 60 * 4 ** (n - 1))
            assert 0.8 * base - 1 <= wait <= min(6 * 3600, 1.2 * base)
    # jitter: the same attempt does not always wait the same
    assert len({series[2] for series in waits}) > 1
    assert max(max(series) for series in waits) <= 6 * 3600


# --- retries -------------------------------------------------------------------------------

@respx.mock
def test_a_5xx_is_retried_later_with_one_attempt_row_per_try(make_subscription, queued):
    # given: the receiver fails twice, then takes it
    delivery = record(make_subscription())
    route = respx.post(URL).mock(side_effect=[
        Response(503, text="maintenance"), httpx.ConnectTimeout("timed out"), Response(204)])

    # when / then: the first try fails and is scheduled about a minute later
    before = timezone.now()
    assert services.delivery_send(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.last_status_code == 503
    assert dt.timedelta(seconds=47) <= delivery.next_attempt_at - before <= dt.timedelta(
        seconds=73)
    # not before it is due
    assert services.delivery_send(delivery_id=delivery.pk) == "skipped"
    assert route.call_count == 1

    assert send_when_due(delivery) == "retry"  # a timeout
    assert send_when_due(delivery) == "succeeded"

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 3
    rows = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [(r.ok, r.status_code) for r in rows] == [(False, 503), (False, None), (True, 204)]
    assert rows[0].response_body == "maintenance"
    assert "ConnectTimeout" in rows[1].error
    assert route.call_count == 3
    # retries resend the same delivery id
    ids = {call.request.headers["X-OrderHub-Delivery"] for call in route.calls}
    assert ids == {str(delivery.uuid)}


@respx.mock
def test_connection_errors_retry_until_the_attempts_run_out(make_subscription, queued):
    subscription = make_subscription()
    delivery = record(subscription)
    respx.post(URL).mock(side_effect=httpx.ConnectError("connection refused"))

    outcomes = [send_when_due(delivery) for _ in range(MAX_ATTEMPTS)]

    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == MAX_ATTEMPTS
    assert DeliveryAttempt.objects.filter(delivery=delivery, ok=False).count() == MAX_ATTEMPTS
    assert send_when_due(delivery) == "skipped"  # bounded: no ninth try
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1
    assert not subscription.paused


@respx.mock
def test_a_redirect_is_not_followed_and_counts_as_a_failure(make_subscription, queued):
    delivery = record(make_subscription())
    respx.post(URL).mock(return_value=Response(302, headers={"Location": "http://10.0.0.1/"}))
    other = respx.post("http://10.0.0.1/").mock(return_value=Response(200))

    assert services.delivery_send(delivery_id=delivery.pk) == "retry"
    assert other.call_count == 0


# --- pausing -------------------------------------------------------------------------------

@respx.mock
def test_n_deliveries_failing_in_a_row_pause_the_subscription_and_tell_its_owner(
        make_subscription, make_user, queued, settings, django_capture_on_commit_callbacks):
    # given: a subscription allowed 3 failed deliveries in a row, its receiver down
    settings.WEBHOOK_MAX_FAILURES = 3
    owner = make_user("manager", email="lead@example.com")
    subscription = make_subscription(owner=owner)
    deliveries = [record(subscription) for _ in range(4)]
    respx.post(URL).mock(return_value=Response(500))

    # when: the first two fail for good
    with django_capture_on_commit_callbacks(execute=True):
        for delivery in deliveries[:2]:
            while send_when_due(delivery) == "retry":
                pass
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 2
    assert not subscription.paused
    assert mail.outbox == []

    # when: the third one does too
    with django_capture_on_commit_callbacks(execute=True):
        while send_when_due(deliveries[2]) == "retry":
            pass

    # then: paused, owner told once, the fourth delivery waits (nothing sent)
    subscription.refresh_from_db()
    assert subscription.paused
    assert "3" in subscription.paused_reason
    assert [m.to for m in mail.outbox] == [["lead@example.com"]]
    assert subscription.name in mail.outbox[0].subject
    calls = respx.calls.call_count
    assert send_when_due(deliveries[3]) == "skipped"
    assert respx.calls.call_count == calls
    assert Delivery.objects.get(pk=deliveries[3].pk).status == Delivery.Status.QUEUED
    assert services.deliveries_due() == []


@respx.mock
def test_a_success_resets_the_failure_count(make_subscription, queued, settings):
    settings.WEBHOOK_MAX_FAILURES = 2
    subscription = make_subscription()
    first, second, third = (record(subscription) for _ in range(3))
    respx.post(URL).mock(return_value=Response(500))
    while send_when_due(first) == "retry":
        pass
    respx.post(URL).mock(return_value=Response(200))
    assert send_when_due(second) == "succeeded"
    respx.post(URL).mock(return_value=Response(500))
    while send_when_due(third) == "retry":
        pass

    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1
    assert not subscription.paused


@respx.mock
def test_410_gone_fails_at_once_and_pauses(make_subscription, queued, make_user,
                                           django_capture_on_commit_callbacks):
    make_user("admin", email="root@example.com", is_superuser=True)
    subscription = make_subscription()
    delivery = record(subscription)
    respx.post(URL).mock(return_value=Response(410))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_send(delivery_id=delivery.pk) == "failed"

    subscription.refresh_from_db()
    assert subscription.paused
    assert "410" in subscription.paused_reason
    # no owner: the hub's admins
    assert [m.to for m in mail.outbox] == [["root@example.com"]]
    assert DeliveryAttempt.objects.get(delivery=delivery).status_code == 410


@respx.mock
def test_resuming_sends_what_waited(make_subscription, make_user, queued,
                                    django_capture_on_commit_callbacks):
    subscription = make_subscription()
    services.subscription_pause(subscription=subscription, reason="test")
    delivery = record(subscription)
    assert services.delivery_send(delivery_id=delivery.pk) == "skipped"
    assert services.deliveries_due() == []

    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_resume(subscription=subscription, actor=make_user("admin"))

    assert ("webhooks.tasks.send_due_deliveries",) in queued
    assert services.deliveries_due() == [delivery.pk]
    with pytest.raises(services.NotPermitted):
        services.subscription_resume(subscription=subscription, actor=make_user("ops"))
    respx.post(URL).mock(return_value=Response(200))
    assert services.delivery_send(delivery_id=delivery.pk) == "succeeded"


# --- re-sending and the sweep -------------------------------------------------------------

@respx.mock
def test_a_failed_delivery_can_be_resent_keeping_its_attempts(
        make_subscription, make_user, queued, django_capture_on_commit_callbacks):
    delivery = record(make_subscription())
    respx.post(URL).mock(return_value=Response(500))
    while send_when_due(delivery) == "retry":
        pass
    respx.post(URL).mock(return_value=Response(200))

    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_resend(delivery=delivery, actor=make_user("manager"))

    assert ("webhooks.tasks.send_delivery", delivery.pk) in queued
    assert services.delivery_send(delivery_id=delivery.pk) == "succeeded"
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == MAX_ATTEMPTS + 1
    with pytest.raises(services.NotPermitted):
        services.delivery_resend(delivery=delivery, actor=make_user("ops"))


def test_resending_a_waiting_delivery_is_refused(make_subscription, queued):
    delivery = record(make_subscription())
    with pytest.raises(services.WebhookError):
        services.delivery_resend(delivery=delivery, actor="system:test")


def test_recording_queues_after_commit_and_the_sweep_picks_up_what_the_broker_lost(
        make_subscription, monkeypatch, django_capture_on_commit_callbacks):
    # given: the broker is down when the event commits
    refused = []
    monkeypatch.setattr(services, "enqueue", lambda name, *args, **kw: refused.append(args)
                        and False)
    subscription = make_subscription()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = record(subscription)
    assert refused  # it was tried after commit

    # then: the row is there and the sweep queues it, once while it is in flight
    assert services.deliveries_due() == [delivery.pk]
    assert services.deliveries_due() == []
    with freeze_time(timezone.now() + services.QUEUED_FOR + dt.timedelta(seconds=1)):
        assert services.deliveries_due() == [delivery.pk]


def test_the_sweep_frees_a_delivery_a_dead_worker_left_sending(make_subscription, queued):
    delivery = record(make_subscription())
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING, claimed_at=timezone.now() - dt.timedelta(hours=1))
    assert services.deliveries_due() == [delivery.pk]
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.RETRYING


def test_the_sweep_task_queues_due_deliveries(make_subscription, queued, monkeypatch):
    from webhooks import tasks

    delivery = record(make_subscription())
    sent = []
    monkeypatch.setattr(tasks.send_delivery, "apply_async",
                        lambda args, **options: sent.append((args, options)))
    assert tasks.send_due_deliveries() == 1
    assert sent == [((delivery.pk,), {"expires": 600})]


def test_a_full_sweep_queues_itself_again_for_the_rest(make_subscription, queued, monkeypatch):
    from webhooks import tasks

    subscription = make_subscription()
    deliveries = [record(subscription) for _ in range(3)]
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2)
    sent, again = [], []
    monkeypatch.setattr(tasks.send_delivery, "apply_async",
                        lambda args, **options: sent.append(args[0]))
    monkeypatch.setattr(tasks.send_due_deliveries, "apply_async",
                        lambda *args, **options: again.append(options))
    assert tasks.send_due_deliveries() == 2
    assert len(again) == 1
    assert tasks.send_due_deliveries() == 1
    assert len(again) == 1
    assert sorted(sent) == sorted(d.pk for d in deliveries)


def test_an_inactive_subscription_sends_nothing(make_subscription, queued):
    subscription = make_subscription()
    delivery = record(subscription)
    Subscription.objects.filter(pk=subscription.pk).update(active=False)
    assert services.deliveries_due() == []
    assert services.delivery_send(delivery_id=delivery.pk) == "skipped"
