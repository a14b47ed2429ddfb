"""Channel services: polling, health (pause/resume), webhooks, file imports, write-back, gaps.

Views, tasks, admin actions and commands call these; they hold the rules. One
module per responsibility: ``health`` (pause/resume, failures, telling the
owner), ``polling``, ``webhooks`` (and stored payloads: process, replay,
dismiss), ``files`` (imports), ``writeback`` (the shipment outbox), ``gaps``.
Every public name is re-exported here, as before the split; patch a name in
the module that owns it (``channels.services.gaps.gap_check``), not here.
"""

from channels.connectors import normalizer_for
from channels.ingest.raw import store_raw
from channels.services.files import (
    STREAM_CHUNK_CHARS,
    StreamFailure,
    import_file,
    json_list_items,
)
from channels.services.gaps import gap_check, gap_check_days, gap_check_window
from channels.services.health import (
    MAX_BACKOFF_SECONDS,
    channel_pause,
    channel_resume,
    max_failures,
    notify_owner,
)
from channels.services.polling import (
    POLL_LOCK_SECONDS,
    PollOutcome,
    _lock_key,
    channel_poll,
    channels_due,
)
from channels.services.webhooks import (
    REPLAY_ALL_BATCH,
    WEBHOOK_BODY_LIMIT,
    ReplayAllOutcome,
    WebhookOutcome,
    channel_replay_quarantined,
    raw_payload_dismiss,
    raw_payload_process,
    raw_payload_replay,
    webhook_receive,
    webhook_too_large,
)
from channels.services.writeback import (
    SHIPMENT_PUSH_MAX_ATTEMPTS,
    shipment_push_create,
    shipment_push_deliver,
)

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "POLL_LOCK_SECONDS",
    "REPLAY_ALL_BATCH",
    "SHIPMENT_PUSH_MAX_ATTEMPTS",
    "STREAM_CHUNK_CHARS",
    "WEBHOOK_BODY_LIMIT",
    "PollOutcome",
    "ReplayAllOutcome",
    "StreamFailure",
    "WebhookOutcome",
    "_lock_key",
    "channel_pause",
    "channel_poll",
    "channel_replay_quarantined",
    "channel_resume",
    "channels_due",
    "gap_check",
    "gap_check_days",
    "gap_check_window",
    "import_file",
    "json_list_items",
    "max_failures",
    "normalizer_for",
    "notify_owner",
    "raw_payload_dismiss",
    "raw_payload_process",
    "raw_payload_replay",
    "shipment_push_create",
    "shipment_push_deliver",
    "store_raw",
    "webhook_receive",
    "webhook_too_large",
]
