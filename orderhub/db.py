"""Generic PostgreSQL bulk writers and query helpers, for every app's batch code.

The one home of hand-written bulk SQL (COPY inserts, array updates, long
``__in`` lists); apps import these names from here, never from
``orderhub.services``.
"""

from orderhub.querying import in_values
from orderhub.services.bulk import insert_rows, lazy_commit_atomic, update_rows

__all__ = ["in_values", "insert_rows", "lazy_commit_atomic", "update_rows"]
