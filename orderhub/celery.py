"""The Celery app: queues, routing, limits and the beat schedule, all in one place.

Queues:
- ``ingest``: pulling orders from sales platforms (slow, outside calls).
- ``fulfillment``: allocation, waybills, carrier calls.
- ``notify``: SMS, team robots, e-mail (outbox deliveries).
- ``default``: everything else.
"""

import os

from celery import Celery
from kombu import Queue

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
        "fulfillment.tasks.notify_*": {"queue": "notify"},
        "fulfillment.tasks.*": {"queue": "fulfillment"},
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
}

app.autodiscover_tasks()
