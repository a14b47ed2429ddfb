"""The message outbox: dedupe, retries with backoff, one attempt row per try, resend."""

import datetime as dt

import httpx
import pytest
import respx
from django.utils import timezone
from freezegun import freeze_time

from fulfillment.notifications import services, tasks
from fulfillment.notifications.models import Message

from .conftest import fixture_json

pytestmark = pytest.mark.django_db

ALIYUN = "https://dysmsapi.aliyuncs.com/"


def _sms(gateway, key="evt-1", **extra):
    message, created = services.message_enqueue(
        kind=Message.Kind.SMS, event="shipped", gateway=gateway, recipient="+8613800138000",
        body="您的订单已发货", template_code="SMS_1", dedupe_key=key, actor="system:test", **extra)
    return message, created


def test_enqueue_writes_row_and_enqueues_on_commit(aliyun, enqueued,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message, created = _sms(aliyun)
    assert created and message.status == Message.Status.QUEUED
    assert enqueued == [message.pk]


def test_enqueue_rolled_back_with_the_caller(aliyun, enqueued,
                                             django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                _sms(aliyun)
                raise RuntimeError("the cause rolled back")
    assert not Message.objects.exists()
    assert enqueued == []


def test_same_event_twice_makes_one_message(aliyun, enqueued,
                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, created1 = _sms(aliyun)
        second, created2 = _sms(aliyun)
    assert (created1, created2) == (True, False)
    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert enqueued == [first.pk]


@respx.mock
def test_failing_gateway_then_success_sends_exactly_one_sms(aliyun, enqueued):
    route = respx.post(ALIYUN)
    route.side_effect = [
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(200, json=fixture_json("aliyun_sendsms_errors.json")["limit"]),
        httpx.Response(200, json=fixture_json("aliyun_sendsms_ok.json")),
        httpx.Response(200, json=fixture_json("aliyun_sendsms_ok.json")),
    ]
    message, _ = _sms(aliyun)
    start = timezone.now()
    with freeze_time(start) as clock:
        assert services.message_deliver(message_id=message.pk) == "retry"
        message.refresh_from_db()
        assert message.status == Message.Status.RETRYING
        assert message.next_attempt_at == start + dt.timedelta(seconds=30)
        # Not due yet: a duplicate task or the sweeper does not send early.
        assert services.message_deliver(message_id=message.pk) == "skipped"
        assert tasks.deliver_due_messages() == 0
        clock.tick(31)
        assert services.message_deliver(message_id=message.pk) == "retry"
        message.refresh_from_db()
        assert message.next_attempt_at == timezone.now() + dt.timedelta(seconds=60)
        clock.tick(61)
        assert tasks.deliver_due_messages() == 1  # the sweeper finds it due
        assert services.message_deliver(message_id=message.pk) == "sent"
        # Everything after success is a no-op: no second SMS.
        clock.tick(3600)
        assert services.message_deliver(message_id=message.pk) == "skipped"
        assert tasks.deliver_due_messages() == 0

    assert route.call_count == 3
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 3
    assert message.provider_id == "900619746936498440^0"
    attempts = list(message.attempt_rows.values_list("ok", "status_code"))
    assert attempts == [(False, 503), (False, 200), (True, 200)]
    assert "isv.BUSINESS_LIMIT_CONTROL" in message.attempt_rows.all()[1].error


@respx.mock
def test_permanent_error_fails_at_once(aliyun):
    respx.post(ALIYUN).mock(return_value=httpx.Response(
        200, json=fixture_json("aliyun_sendsms_errors.json")["bad_number"]))
    message, _ = _sms(aliyun)
    assert services.message_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "isv.MOBILE_NUMBER_ILLEGAL" in message.last_error
    assert message.attempt_rows.count() == 1


@respx.mock
def test_retries_are_bounded(aliyun):
    route = respx.post(ALIYUN).mock(return_value=httpx.Response(500))
    message, _ = _sms(aliyun)
    with freeze_time(timezone.now()) as clock:
        outcomes = []
        for _ in range(services.MAX_ATTEMPTS + 2):
            outcomes.append(services.message_deliver(message_id=message.pk))
            clock.tick(services.MAX_BACKOFF_SECONDS + 1)
    assert outcomes[:services.MAX_ATTEMPTS] == ["retry"] * (services.MAX_ATTEMPTS - 1) + [
        "failed"]
    assert outcomes[services.MAX_ATTEMPTS:] == ["skipped", "skipped"]
    assert route.call_count == services.MAX_ATTEMPTS
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempt_rows.count() == services.MAX_ATTEMPTS


def test_backoff_grows_and_is_capped():
    assert [services.backoff_seconds(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert services.backoff_seconds(30) == services.MAX_BACKOFF_SECONDS


def test_sweeper_frees_messages_a_dead_worker_left_sending(aliyun):
    message, _ = _sms(aliyun)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, claimed_at=timezone.now() - dt.timedelta(minutes=11))
    fresh, _ = _sms(aliyun, key="evt-2")
    Message.objects.filter(pk=fresh.pk).update(status=Message.Status.SENDING,
                                               claimed_at=timezone.now())
    assert services.messages_due() == [message.pk]
    message.refresh_from_db()
    assert message.status == Message.Status.RETRYING


def test_disabled_gateway_fails_the_message(aliyun):
    message, _ = _sms(aliyun)
    aliyun.enabled = False
    aliyun.save()
    assert services.message_deliver(message_id=message.pk) == "failed"


@respx.mock
def test_deliver_task_schedules_a_retry(aliyun, monkeypatch):
    respx.post(ALIYUN).mock(return_value=httpx.Response(503))
    message, _ = _sms(aliyun)
    retried = {}

    def fake_retry(countdown=None, **kwargs):
        retried["countdown"] = countdown
        return RuntimeError("retry")

    monkeypatch.setattr(tasks.deliver_message, "retry", fake_retry)
    with pytest.raises(RuntimeError):
        tasks.deliver_message.run(message.pk)
    assert 25 <= retried["countdown"] <= 40


@respx.mock
def test_resend_failed_message_reuses_row(aliyun, make_user, enqueued,
                                          django_capture_on_commit_callbacks):
    route = respx.post(ALIYUN)
    route.side_effect = [
        httpx.Response(200, json=fixture_json("aliyun_sendsms_errors.json")["bad_signature"]),
        httpx.Response(200, json=fixture_json("aliyun_sendsms_ok.json")),
    ]
    message, _ = _sms(aliyun)
    assert services.message_deliver(message_id=message.pk) == "failed"
    manager = make_user("manager")
    with django_capture_on_commit_callbacks(execute=True):
        again = services.message_resend(message=message, actor=manager)
    assert again.pk == message.pk and again.status == Message.Status.QUEUED
    assert enqueued[-1] == message.pk
    assert services.message_deliver(message_id=message.pk) == "sent"
    assert message.attempt_rows.count() == 2


def test_resend_needs_permission(aliyun, make_user):
    message, _ = _sms(aliyun)
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED)
    with pytest.raises(services.NotPermitted):
        services.message_resend(message=message, actor=make_user("finance"))


def test_resend_sent_message_makes_a_copy(aliyun, make_user, enqueued):
    message, _ = _sms(aliyun)
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT)
    copy = services.message_resend(message=message, actor=make_user("ops"))
    assert copy.pk != message.pk and copy.dedupe_key == f"{message.dedupe_key}:resend:1"
    assert copy.status == Message.Status.QUEUED


def test_resend_of_queued_message_is_refused(aliyun, make_user):
    message, _ = _sms(aliyun)
    with pytest.raises(services.NotificationError):
        services.message_resend(message=message, actor=make_user("ops"))


def test_an_email_waits_out_a_mail_server_outage_then_goes_out(email_gateway, enqueued,
                                                               monkeypatch):
    from django.core import mail
    from django.core.mail.backends.locmem import EmailBackend

    # given a queued team e-mail and a mail server that is down for the first try
    message, _created = services.message_enqueue(
        kind=Message.Kind.TEAM, event="channel_paused", gateway=email_gateway,
        recipient="owner@example.com", subject="Sync paused: Shop", body="Reason: 401",
        dedupe_key="mail-1", actor="system:test")
    real_send = EmailBackend.send_messages
    calls = []

    def flaky(self, messages):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefusedError("smtp down")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)

    # when the outbox delivers it, then again once it is due
    assert services.message_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == "retrying" and "smtp down" in message.last_error
    assert not mail.outbox
    with freeze_time(message.next_attempt_at + dt.timedelta(seconds=1)):
        assert services.message_deliver(message_id=message.pk) == "sent"

    # then it went out once, through Django's mail backend, with both tries on record
    assert [m.to for m in mail.outbox] == [["owner@example.com"]]
    assert mail.outbox[0].subject == "Sync paused: Shop"
    assert [a.ok for a in message.attempt_rows.all()] == [False, True]
