"""Re-export shim: the ingestion pipeline now lives in the ``channels.ingest`` package.

Kept so older imports (``from channels.pipeline import ingest_items``) keep
working; new code imports the module that owns the name: ``channels.ingest.raw``,
``.mapping``, ``.upsert``, ``.batch`` or ``.results``. Patching a name here does
not reach the owning module: patch it there.
"""

from channels.ingest.batch import (  # noqa: F401 - re-exported
    BATCH_SIZE,
    _create_in_bulk,
    _known_external_ids,
    ingest_batch,
    ingest_items,
)
from channels.ingest.mapping import (  # noqa: F401 - re-exported
    ADDRESS_FIELDS,
    ADDRESS_MISSING,
    ADDRESS_RECEIVED,
    INTERCEPT_TAG,
    MAX_PAYLOAD_BYTES,
    PLATFORM_SHIPPED,
    QUEUED,
    SHIPPED_STATES,
    SHIPPED_WHILE_PICKING,
    clean_text,
    no_address_reason,
)
from channels.ingest.raw import (  # noqa: F401 - re-exported
    attach_raw,
    canonical_json,
    content_hash,
    mark_processed,
    quarantine,
    store_new_raw,
    store_raw,
    store_raw_batch,
)
from channels.ingest.results import (  # noqa: F401 - re-exported
    CREATED,
    REJECTED,
    STALE,
    UNCHANGED,
    UPDATED,
    IngestResult,
    actor_for,
)
from channels.ingest.upsert import process_raw, upsert_order  # noqa: F401 - re-exported
