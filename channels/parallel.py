"""Re-export shim: the parallel ingest now lives in ``channels.ingest.parallel``.

Kept so older imports (``from channels import parallel``) keep working; new code
imports ``channels.ingest.parallel``.
"""

from channels.ingest.parallel import (  # noqa: F401 - re-exported
    _FORKED,
    PARTITIONS_PER_WORKER,
    _partition_key,
    _run_batch,
    can_fork,
    ingest_parallel,
)
