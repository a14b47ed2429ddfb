"""Celery: the app's configuration, and real round trips through a broker.

The round trips start a real worker process, so they are marked ``slow``; the
worker is always killed, whatever the test's outcome.
"""

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError

from orderhub.celery import QUEUES
from orderhub.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def _start_worker(queues: str, env: dict, log_path: Path) -> subprocess.Popen:
    log = log_path.open("wb")
    return subprocess.Popen(
        [CELERY, "-A", "orderhub", "worker", "-Q", queues, "--pool", "solo",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def _worker_log(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


# --- configuration -----------------------------------------------------------------


def test_every_queue_is_declared():
    names = {queue.name for queue in celery_app.conf.task_queues}
    assert names == {"ingest", "fulfillment", "notify", "default"} == set(QUEUES)
    assert celery_app.conf.task_default_queue == "default"


def test_workers_take_one_task_at_a_time_and_ack_late():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("channels.tasks.poll_channel", "ingest"),
        ("warehouse.tasks.consume_order_stock", "fulfillment"),
        ("fulfillment.notifications.tasks.deliver_message", "notify"),
        ("fulfillment.shipping.tasks.book_waybill", "fulfillment"),
        ("fulfillment.tasks.automate_order", "fulfillment"),
        ("orderhub.tasks.echo", "default"),
    ],
)
def test_tasks_are_routed_to_their_queue(task, queue):
    route = celery_app.amqp.router.route({}, task)
    assert route["queue"].name == queue


def test_beat_schedule_names_only_registered_tasks():
    celery_app.loader.import_default_modules()
    registered = set(celery_app.tasks)
    schedule = celery_app.conf.beat_schedule
    assert schedule, "beat has nothing to do"
    unknown = {key: entry["task"] for key, entry in schedule.items()
               if entry["task"] not in registered}
    assert not unknown, f"beat schedules tasks nobody registered: {unknown}"


def test_broker_follows_redis_url():
    if os.environ.get("REDIS_URL"):
        assert celery_app.conf.broker_url.startswith("redis://")
    else:
        assert celery_app.conf.broker_url == "filesystem://"


# --- round trips --------------------------------------------------------------------


@pytest.mark.slow
def test_echo_round_trips_through_the_configured_broker(tmp_path):
    """Whatever broker the environment configures (Redis in CI) carries a task both ways."""
    # A queue of its own, so the worker never picks up other tests' leftover messages.
    queue = f"test-echo-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    worker = _start_worker(queue, dict(os.environ), log_path)
    try:
        from orderhub.tasks import echo

        payload = {"hello": "世界", "n": 42}
        result = echo.apply_async(args=[payload], queue=queue)
        try:
            answer = result.get(timeout=90)
        except CeleryTimeoutError:
            pytest.fail(f"no answer from the worker within 90 s\n{_worker_log(log_path)}")
        assert answer == payload
        result.forget()
    finally:
        _stop(worker)
        if os.environ.get("REDIS_URL"):
            # Leave no per-test queue bindings behind in the shared Redis.
            with celery_app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)
                client = conn.default_channel.client
                for key in client.scan_iter(match=f"*{queue}*"):
                    client.delete(key)


SENDER = textwrap.dedent(
    """
    import sys

    import django

    django.setup()
    from django.conf import settings

    from orderhub.tasks import echo

    assert settings.CELERY_BROKER_URL == "filesystem://", settings.CELERY_BROKER_URL
    print(echo.delay(sys.argv[1]).get(timeout=90))
    """
)


@pytest.mark.slow
def test_echo_round_trips_through_the_filesystem_broker(tmp_path):
    """Without REDIS_URL, a worker and a sender in separate processes meet under var/."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        ORDERHUB_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="orderhub.settings",
        DEBUG="1",
    )
    log_path = tmp_path / "worker.log"
    worker = _start_worker("default", env, log_path)
    try:
        sender = subprocess.run(
            [sys.executable, "-c", SENDER, "ping 你好"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert sender.returncode == 0, f"{sender.stderr}\n--- worker ---\n{_worker_log(log_path)}"
        assert sender.stdout.strip() == "ping 你好"
        # The message really went through the on-disk queue.
        assert (tmp_path / "var" / "celery" / "queue").is_dir()
    finally:
        _stop(worker)
