"""Redis down (cache and broker): pages serve from the database, committed work never
answers 5xx, and what needed the broker waits in the database for its sweep.

"Redis" here is a closed port: the production cache backend (django-redis with its
production options) and the Celery broker and result store both point at it, so no
second Redis is needed. Tests that need Redis back simply leave the fixture.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
from unittest import mock

import pytest
from django.conf import settings as settings_module
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from channels.models import RawPayload
from channels.services.webhooks import raw_payloads_sweep
from channels.tasks import process_pending_payloads, process_raw_payload
from fulfillment import tasks as fulfillment_tasks
from orderhub.celery import app as celery_app
from orderhub.models import Order, OrderStatus
from orderhub.queue import enqueue
from tests.channels.conftest import SHOP, shopify_cn_order
from tests.channels.test_web import post_hook, sign


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_celery_connections() -> None:
    # Celery keeps its connection pool, producer pool and result store per app;
    # a changed URL needs them dropped so the next publish builds them anew.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)


@pytest.fixture
def redis_down(settings, monkeypatch):
    """Cache, broker and result store all on a port where nothing listens."""
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "orderhub",
            "OPTIONS": dict(settings_module.CACHE_REDIS_OPTIONS),
        }
    }
    for key in ("broker_url", "result_backend"):
        monkeypatch.setitem(celery_app.conf, key, url)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options",
                        {"socket_connect_timeout": 1, "socket_timeout": 1})
    monkeypatch.setitem(celery_app.conf, "result_backend_transport_options",
                        {"retry_policy": {"max_retries": 1, "interval_start": 0,
                                          "interval_step": 0.1, "interval_max": 0.1}})
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    _reset_celery_connections()
    yield url
    _reset_celery_connections()


@pytest.fixture
def mapped(db):
    """A Shopify channel with a webhook secret and its SKUs mapped (as tests/channels has)."""
    from channels.models import Channel, SkuMapping

    channel = Channel(code="shopify-demo", name="Shopify demo", platform="shopify",
                      config={"shop_url": SHOP, "api_version": "2024-10"})
    channel.credentials = {"access_token": "shpat_test_token_123456", "webhook_secret": "hush"}
    channel.save()
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    SkuMapping.objects.create(channel=channel, platform_sku="SLEEVE-1", hub_sku="SKU-SLV")
    return channel


@pytest.fixture
def staff(client, make_user):
    def login(role: str) -> Client:
        user = make_user(role)
        # force_login: django-axes' backend needs a request, which client.login() has not.
        client.force_login(user)
        return client

    return login


# --- the cache ------------------------------------------------------------------------------


def test_the_cache_answers_a_miss_and_writes_nothing(redis_down):
    # given Redis is down, then every cache call the code uses answers without raising
    assert cache.get("k") is None
    assert cache.set("k", 1) is None
    assert cache.add("k", 1) is None
    assert cache.incr("k") is None
    assert cache.get_or_set("g", 7, None) == 7
    assert cache.delete("k") is None


@pytest.mark.django_db
def test_order_list_and_dashboard_serve_from_the_database(redis_down, staff, make_order):
    # given orders in the database
    paid = make_order(OrderStatus.PAID)
    make_order(OrderStatus.PENDING_PAYMENT)
    client = staff("manager")

    # when the list and the dashboard are opened with Redis down
    orders = client.get("/orders/")
    dashboard = client.get("/dashboard/")

    # then both are served, with the database's figures
    assert orders.status_code == 200
    assert paid.number in orders.content.decode()
    assert orders.context["tabs"][0][2] == 2  # the "All" tab, counted in the database
    assert dashboard.status_code == 200


@pytest.mark.django_db
def test_public_tracking_page_answers_and_fails_open(redis_down, make_order, settings):
    # given a rate limit of 2 look-ups a minute, counted in the (dead) cache
    settings.TRACK_RATE_LIMIT = "2/m"
    order = make_order(OrderStatus.PAID)
    client = Client()

    # when a buyer looks up more often than the limit
    responses = [client.post("/track/", {"number": order.number, "phone": "8000"})
                 for _ in range(4)]

    # then each look-up is answered from the database (fail open, see settings)
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert responses[-1].context["result"] is not None
    assert client.get("/track/").status_code == 200


@pytest.mark.django_db
def test_tracking_limit_still_holds_when_the_cache_is_up(make_order, settings):
    # the counterpart: with a working cache the same look-ups are limited
    settings.TRACK_RATE_LIMIT = "2/m"
    order = make_order(OrderStatus.PAID)
    client = Client()
    codes = [client.post("/track/", {"number": order.number, "phone": "8000"}).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]


# --- the broker -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_logs_and_returns_false_when_the_broker_is_down(redis_down, caplog):
    with caplog.at_level(logging.ERROR, logger="orderhub.queue"):
        queued = enqueue("orderhub.tasks.heartbeat")
    assert queued is False
    assert "could not queue orderhub.tasks.heartbeat" in caplog.text


def test_enqueue_in_eager_mode_runs_the_task_and_its_errors_propagate(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    with mock.patch("channels.services.raw_payload_process",
                    side_effect=LookupError("a bug, not an outage")), \
            pytest.raises(LookupError):
        enqueue("channels.tasks.process_raw_payload", 1)


@pytest.mark.django_db
def test_pay_answers_and_the_order_is_paid_then_automated_by_the_sweep(
        redis_down, staff, make_order, django_capture_on_commit_callbacks):
    # given an unpaid order and an ops user
    order = make_order(OrderStatus.PENDING_PAYMENT)
    client = staff("manager")

    # when the order is paid with Redis down (after-commit work runs: cache, signals, queue)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/orders/{order.pk}/transition/",
                               {"name": "pay", "expected_status": OrderStatus.PENDING_PAYMENT})

    # then the page answers (no 5xx) and the order is paid, its automation not queued
    assert response.status_code < 500
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    # and once the sweep runs (broker back, a few minutes later) automation is queued
    later = timezone.now() + dt.timedelta(minutes=fulfillment_tasks.STRAGGLER_MINUTES + 1)
    with mock.patch.object(fulfillment_tasks.automate_orders, "delay") as delay, \
            mock.patch("django.utils.timezone.now", return_value=later):
        assert fulfillment_tasks.automate_stragglers() == 1
    delay.assert_called_once_with([order.pk])


@pytest.mark.django_db
def test_signed_webhook_answers_200_and_its_payload_waits_for_the_sweep(
        redis_down, mapped, django_capture_on_commit_callbacks):
    # given a signed platform webhook
    body = json.dumps(shopify_cn_order(3)).encode()

    # when it arrives with Redis down
    with django_capture_on_commit_callbacks(execute=True):
        response = post_hook(Client(), "shopify-demo", body,
                             X_Shopify_Hmac_Sha256=sign(body), X_Shopify_Topic="orders/create")

    # then the platform gets its 200 and the payload is kept, pending
    assert response.status_code == 200
    raw = RawPayload.objects.get()
    assert raw.status == RawPayload.Status.PENDING
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_the_sweep_processes_payloads_left_pending_once_redis_is_back(mapped, monkeypatch):
    # given one payload left pending by an outage and one just arrived
    from channels.ingest.raw import canonical_json, store_raw

    old, _ = store_raw(channel=mapped, body=canonical_json(shopify_cn_order(4)),
                       source=RawPayload.Source.WEBHOOK, external_id="9004")
    RawPayload.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - dt.timedelta(minutes=10))
    fresh, _ = store_raw(channel=mapped, body=canonical_json(shopify_cn_order(5)),
                         source=RawPayload.Source.WEBHOOK, external_id="9005")
    # when the beat sweep runs with the broker back (tasks run here)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    assert process_pending_payloads() == 1

    # then the old payload became its order; the fresh one is left to its own task
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == RawPayload.Status.PROCESSED
    assert fresh.status == RawPayload.Status.PENDING
    assert list(Order.objects.values_list("external_id", flat=True)) == ["9004"]

    # and a second sweep, or the lost task arriving late, changes nothing
    assert process_pending_payloads() == 0
    assert process_raw_payload.run(old.pk) == "done"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_sweep_queues_nothing_more_while_the_broker_is_still_down(redis_down, mapped):
    from channels.ingest.raw import canonical_json, store_raw

    for n in (6, 7):
        raw, _ = store_raw(channel=mapped, body=canonical_json(shopify_cn_order(n)),
                           source=RawPayload.Source.WEBHOOK, external_id=str(9000 + n))
    RawPayload.objects.update(received_at=timezone.now() - dt.timedelta(minutes=10))
    with mock.patch("channels.services.webhooks.enqueue", wraps=enqueue) as queued:
        assert raw_payloads_sweep() == 2
    # One refused publish is enough to know: the rest wait for the next run.
    assert queued.call_count == 1
    assert RawPayload.objects.filter(status=RawPayload.Status.PENDING).count() == 2


def test_the_payload_sweep_is_on_the_beat_schedule():
    tasks = {entry["task"]: entry["schedule"] for entry in celery_app.conf.beat_schedule.values()}
    assert tasks["channels.tasks.process_pending_payloads"] <= 60
    assert tasks["fulfillment.tasks.automate_stragglers"] <= 60
    assert "fulfillment.notifications.tasks.deliver_due_messages" in tasks
    assert "channels.tasks.deliver_due_shipment_pushes" in tasks


# --- /healthz --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_is_503_with_the_reason(redis_down):
    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error")
    assert body["reason"] == "broker unreachable"
    assert body["last_beat"] is None


@pytest.mark.django_db
def test_healthz_does_not_raise_when_the_cache_backend_raises(monkeypatch):
    class RaisingCache:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

    monkeypatch.setattr("orderhub.views.health.cache", RaisingCache())
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["last_beat"] is None


# --- import_orders ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_orders_finishes_with_redis_down_and_automation_waits(
        redis_down, mapped, tmp_path, capsys, django_capture_on_commit_callbacks):
    # given a file of paid orders
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"orders": [shopify_cn_order(n) for n in range(1, 31)]}))

    # when it is imported with Redis down
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_orders", "shopify-demo", str(path), "--workers", "1")

    # then every order is in, paid, waiting for the automation sweep
    assert "created=30 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 30


# --- the production configuration ------------------------------------------------------------


def test_with_redis_the_cache_ignores_its_errors_and_publishing_gives_up_quickly():
    import importlib
    import os
    import sys

    with mock.patch.dict(os.environ, {"REDIS_URL": "redis://127.0.0.1:6379/0", "DEBUG": "1"}):
        saved = sys.modules.pop("orderhub.settings")
        try:
            fresh = importlib.import_module("orderhub.settings")
        finally:
            sys.modules["orderhub.settings"] = saved
    cache_conf = fresh.CACHES["default"]
    assert cache_conf["BACKEND"] == "django_redis.cache.RedisCache"
    assert cache_conf["OPTIONS"]["IGNORE_EXCEPTIONS"] is True
    assert fresh.RATELIMIT_FAIL_OPEN is True
    assert fresh.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["retry_policy"]["max_retries"] <= 2
    assert fresh.CELERY_TASK_PUBLISH_RETRY_POLICY["max_retries"] <= 3
