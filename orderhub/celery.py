"""The Celery app: queues, routing, limits and the beat schedule, all in one place.

Queues:
- ``ingest``: pulling orders from sales platforms (slow, outside calls).
- ``fulfillment``: allocation, waybills, carrier calls.
- ``notify``: SMS, team robots, e-mail (outbox deliveries).
- ``default``: everything else.
"""

import os

from celery import Celery, signals
from kombu import Queue

from orderhub.middleware import current_request_id, request_id_var, task_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")

app = Celery("orderhub")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("ingest", "fulfillment", "notify", "default")

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_routes={
        "channels.tasks.*": {"queue": "ingest"},
        "warehouse.tasks.*": {"queue": "fulfillment"},
        "fulfillment.notifications.tasks.*": {"queue": "notify"},
        # Outbound webhooks are outbox deliveries too: slow outside calls, off "default".
        "webhooks.tasks.*": {"queue": "notify"},
        "fulfillment.*": {"queue": "fulfillment"},
    },
    # Our tasks are idempotent, so a task whose worker died mid-way is safely redelivered.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=240,
    task_time_limit=300,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    timezone=os.environ.get("TIME_ZONE", "Asia/Shanghai"),
    enable_utc=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

# The one beat schedule. Later apps add their periodic tasks here, not elsewhere.
app.conf.beat_schedule = {
    "heartbeat": {
        "task": "orderhub.tasks.heartbeat",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Folds the order status counters' pending changes (orderhub.counters.COMPACT_EVERY).
    "orderhub-compact-order-counters": {
        "task": "orderhub.tasks.compact_order_counters",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "channels-poll-due": {
        "task": "channels.tasks.poll_due_channels",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Safety net: stored payloads (webhooks) whose processing task was lost (dead broker).
    "channels-pending-payloads-sweep": {
        "task": "channels.tasks.process_pending_payloads",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "channels-shipment-push-sweep": {
        "task": "channels.tasks.deliver_due_shipment_pushes",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "channels-gap-check": {
        "task": "channels.tasks.check_gaps",
        # Daily; compares yesterday's per-channel counts, so the hour does not matter.
        "schedule": 24 * 3600.0,
    },
    # Each source has its own interval; this only enqueues the ones that are due.
    "warehouse-import-external-stock": {
        "task": "warehouse.tasks.import_all_external_stock",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "warehouse-retry-out-of-stock": {
        "task": "warehouse.tasks.retry_out_of_stock",
        "schedule": 600.0,
        "options": {"expires": 590},
    },
    # Presale orders whose release time has come leave the deferred queue for picking.
    "warehouse-release-presale-orders": {
        "task": "warehouse.tasks.release_presale_orders",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Safety net for cancel/ship stock updates whose receiver failed.
    "warehouse-sweep-reservations": {
        "task": "warehouse.tasks.sweep_reservations",
        "schedule": 900.0,
        "options": {"expires": 890},
    },
    "reporting-refresh-rollup": {
        "task": "reporting.tasks.refresh_rollup",
        "schedule": 600.0,
        "options": {"expires": 590},
    },
    # The dashboard's live rows: today and changed days (reporting/rollup.py).
    "reporting-refresh-rollup-live": {
        "task": "reporting.tasks.refresh_rollup_live",
        # The same environment variable as settings.DASHBOARD_LIVE_REFRESH_SECONDS.
        "schedule": float(os.environ.get("DASHBOARD_LIVE_REFRESH_SECONDS") or 20),
        "options": {"expires": max(1.0, float(
            os.environ.get("DASHBOARD_LIVE_REFRESH_SECONDS") or 20) - 1)},
    },
    "reporting-rebuild-rollup": {
        "task": "reporting.tasks.refresh_rollup",
        "schedule": 24 * 3600.0,
        "kwargs": {"rebuild_all": True},
    },
    # Safety net: export jobs whose task was lost are queued again; ones whose builder died fail.
    "reporting-sweep-exports": {
        "task": "reporting.tasks.sweep_exports",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "reporting-check-spikes": {
        "task": "reporting.tasks.check_spikes",
        # Daily; judges yesterday (local) and raises each alert once, so the hour does not matter.
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "fulfillment-cancel-unpaid": {
        "task": "fulfillment.tasks.cancel_unpaid_orders",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Safety net: paid orders whose automation task was lost (dead broker) are picked up.
    # Every minute, so orders paid during an outage move on soon after it: one indexed query.
    "fulfillment-automate-stragglers": {
        "task": "fulfillment.tasks.automate_stragglers",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Safety net: cancelled B2B orders whose credit release after the cancel failed.
    "fulfillment-release-cancelled-credit": {
        "task": "fulfillment.tasks.release_cancelled_credit",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "shipping-deliver-due-waybills": {
        "task": "fulfillment.shipping.tasks.deliver_due_waybills",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "shipping-poll-tracking": {
        "task": "fulfillment.shipping.tasks.poll_tracking",
        "schedule": 1800.0,
        "options": {"expires": 1790},
    },
    "shipping-flag-stalled": {
        "task": "fulfillment.shipping.tasks.flag_stalled_parcels",
        "schedule": 3600.0,
        "options": {"expires": 3590},
    },
    "shipping-complete-delivered": {
        "task": "fulfillment.shipping.tasks.complete_delivered_orders",
        "schedule": 3600.0,
        "options": {"expires": 3590},
    },
    "notifications-deliver-due": {
        "task": "fulfillment.notifications.tasks.deliver_due_messages",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Outbound webhooks: retries that are due, and deliveries whose task was lost.
    "webhooks-send-due": {
        "task": "webhooks.tasks.send_due_deliveries",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Outbound webhooks: order events the live receivers missed (from the transition log).
    "webhooks-missed-events": {
        "task": "webhooks.tasks.record_missed_events",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}

app.autodiscover_tasks()


# --- Log context: a task's log lines carry its task id and the id of the request that
# queued it (README "Production", logs). The request id travels as a message header.
REQUEST_ID_HEADER = "orderhub_request_id"


@signals.before_task_publish.connect(dispatch_uid="orderhub.log_context.publish")
def _send_request_id(headers=None, **kwargs):
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect(dispatch_uid="orderhub.log_context.prerun")
def _enter_task_log_context(task_id=None, task=None, **kwargs):
    request = task.request
    # Custom headers are copied onto the task's request; eager tasks run inside the
    # request that queued them and keep its id.
    request_id = (getattr(request, REQUEST_ID_HEADER, None)
                  or (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER)
                  or current_request_id())
    request._orderhub_log_tokens = (task_id_var.set(task_id), request_id_var.set(request_id))


@signals.task_postrun.connect(dispatch_uid="orderhub.log_context.postrun")
def _leave_task_log_context(task=None, **kwargs):
    tokens = getattr(task.request, "_orderhub_log_tokens", None)
    if tokens:
        task_token, request_token = tokens
        request_id_var.reset(request_token)
        task_id_var.reset(task_token)
        task.request._orderhub_log_tokens = None
