"""Reporting tasks: thin wrappers taking ids; each is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from reporting.exports import export_job_run, export_jobs_sweep
from reporting.rollup import rollup_refresh, rollup_refresh_live
from reporting.spikes import spike_rules_evaluate


@shared_task(name="reporting.tasks.build_export", ignore_result=True,
             autoretry_for=(OperationalError, OSError), max_retries=3, retry_backoff=True,
             retry_jitter=True, soft_time_limit=3000, time_limit=3300)
def build_export(job_id: int) -> str:
    """Write an export job's file. A million rows ≈ 1–2 min and < 200 MB RSS."""
    return export_job_run(job_id=job_id).status


@shared_task(name="reporting.tasks.sweep_exports", ignore_result=True,
             autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def sweep_exports() -> int:
    """Every 5 min: queue export jobs whose task was lost; fail ones whose builder died."""
    sweep = export_jobs_sweep()
    return len(sweep.requeued) + len(sweep.failed)


@shared_task(name="reporting.tasks.check_spikes", ignore_result=True,
             autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def check_spikes() -> int:
    """Daily: evaluate the spike rules for yesterday; an alert is written once per day."""
    return len(spike_rules_evaluate(actor="system:check_spikes"))


@shared_task(name="reporting.tasks.refresh_rollup", ignore_result=True,
             autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def refresh_rollup(rebuild_all: bool = False) -> int:
    """Every 10 min: build missing or changed closed days of the dashboard rollup;
    nightly with ``rebuild_all`` to pick up edits that were not transitions."""
    return len(rollup_refresh(rebuild_all=rebuild_all))


@shared_task(name="reporting.tasks.refresh_rollup_live", ignore_result=True)
def refresh_rollup_live() -> int:
    """Every ``DASHBOARD_LIVE_REFRESH_SECONDS``: rebuild today's and changed days' rollup
    rows (the dashboard's live rows). Not retried: the next run is seconds away."""
    return len(rollup_refresh_live())
