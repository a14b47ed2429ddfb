"""Nothing waits forever after an outage: the export sweep queues jobs whose task was lost
and fails jobs whose builder died, with a reason the owner reads in their language."""

import datetime as dt

import pytest
from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils import timezone, translation

from orderhub.celery import app as celery_app
from orderhub.models import OrderStatus as S
from reporting import exports, tasks
from reporting.models import ExportJob


@pytest.fixture
def eager_celery(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield tmp_path
    celery_app.conf.task_always_eager = before


@pytest.fixture
def owner(make_user):
    return make_user("ops")


@pytest.fixture
def paid_orders(make_order):
    return [make_order(S.PAID), make_order(S.PAID)]


def _job(owner, status="pending", **fields):
    return ExportJob.objects.create(kind="orders", format="csv", params={"status": ["paid"]},
                                    created_by=owner, status=status, **fields)


def test_a_job_whose_task_was_lost_is_queued_again_and_built(
    paid_orders, owner, eager_celery, django_capture_on_commit_callbacks
):
    # The task queued after commit never arrives (broker down at enqueue, worker killed).
    with django_capture_on_commit_callbacks(execute=False):
        job = exports.export_job_start(kind="orders", fmt="csv",
                                       params=QueryDict("status=paid"), actor=owner)
    assert ExportJob.objects.get(pk=job.pk).status == "pending"

    # Freshly waiting: its own task may still be on the way.
    assert exports.export_jobs_sweep().requeued == []

    later = timezone.now() + exports.REQUEUE_AFTER + dt.timedelta(seconds=1)
    sweep = exports.export_jobs_sweep(now=later)
    assert (sweep.requeued, sweep.failed) == ([job.pk], [])
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("done", 2)
    assert (eager_celery / job.file.name).exists()

    # Idempotent: a finished job is neither queued nor failed again.
    again = exports.export_jobs_sweep(now=later)
    assert (again.requeued, again.failed) == ([], [])


def test_only_one_builder_claims_a_job(paid_orders, owner, eager_celery):
    job = _job(owner)
    assert exports.export_job_claim(job.pk) is True
    assert exports.export_job_claim(job.pk) is False
    # A second copy of the task finds it running and leaves it to the first.
    second = exports.export_job_run(job_id=job.pk)
    assert (second.status, second.file.name) == ("running", "")
    assert not (eager_celery / "exports").exists()


def test_an_unexpected_error_puts_the_job_back_for_a_retry(
    paid_orders, owner, eager_celery, monkeypatch
):
    job = _job(owner)
    real_write = exports.write_csv

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports, "write_csv", disk_full)
    with pytest.raises(OSError):
        exports.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.started_at) == ("pending", None)

    monkeypatch.setattr(exports, "write_csv", real_write)
    assert exports.export_job_run(job_id=job.pk).status == "done"


def test_stuck_and_never_started_jobs_fail_with_a_reason(owner, paid_orders):
    now = timezone.now()
    stuck = _job(owner, "running", started_at=now - exports.STUCK_AFTER - dt.timedelta(minutes=1))
    busy = _job(owner, "running", started_at=now - dt.timedelta(minutes=10))
    ancient = _job(owner, created_at=now - exports.GIVE_UP_AFTER - dt.timedelta(minutes=1))
    done = _job(owner, "done", started_at=now - dt.timedelta(hours=5), rows_done=2)

    sweep = exports.export_jobs_sweep(now=now)
    assert sorted(sweep.failed) == sorted([stuck.pk, ancient.pk])
    assert sweep.requeued == []  # the one waiting too long failed instead
    statuses = dict(ExportJob.objects.values_list("pk", "status"))
    assert statuses == {stuck.pk: "failed", busy.pk: "running", ancient.pk: "failed",
                        done.pk: "done"}
    stuck.refresh_from_db()
    assert stuck.error == exports.STUCK_REASON and stuck.finished_at == now

    assert exports.export_jobs_sweep(now=now).failed == []


def test_the_failure_reason_is_shown_in_the_readers_language(owner, client):
    job = _job(owner, "running", started_at=timezone.now() - exports.STUCK_AFTER * 2)
    tasks.sweep_exports()
    job.refresh_from_db()
    with translation.override("zh-hans"):
        html = render_to_string("reporting/_export_job.html", {"job": job})
    assert "导出失败：" in html
    assert "导出在完成前中断" in html
    assert "worker" not in html

    client.force_login(owner)
    page = client.get(f"/reports/exports/{job.pk}/").content.decode()
    assert "Please start the export again." in page
    assert 'hx-trigger="every 2s"' not in page  # no more polling of a failed job


def test_the_sweep_runs_from_beat():
    entry = celery_app.conf.beat_schedule["reporting-sweep-exports"]
    assert entry["task"] == tasks.sweep_exports.name
