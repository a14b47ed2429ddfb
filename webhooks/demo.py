"""Demo outbound webhook: a subscription to the hub's own /sandbox/webhooks/receiver/.

Active only while private addresses are allowed (``WEBHOOK_BLOCK_PRIVATE_ADDRESSES``
off, the DEBUG default): the sandbox is on the hub's own address. Idempotent: an
existing subscription of that name is left as it is.
"""

from __future__ import annotations

import os

from webhooks import services
from webhooks.models import EventType, Subscription
from webhooks.sandbox import DEMO_SECRET

NAME = "Demo receiver (sandbox)"


def _base() -> str:
    return os.environ.get(
        "ORDERHUB_SANDBOX_URL", f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
    ).rstrip("/")


def seed(stdout) -> None:
    if Subscription.objects.filter(name=NAME).exists():
        return
    subscription = Subscription(
        name=NAME, url=f"{_base()}/sandbox/webhooks/receiver/",
        events=[e for e in EventType.values if e != EventType.ORDER_STATUS_CHANGED],
        active=not services.blocks_private_addresses())
    subscription.secret = DEMO_SECRET
    subscription.save()
    state = "active" if subscription.active else "inactive (private addresses are blocked)"
    stdout.write(f"Webhook subscription {NAME!r} → {subscription.url}: {state}")
