"""Generic PostgreSQL bulk writers and query helpers, for every app's batch code.

The one home of hand-written bulk SQL (COPY inserts, array updates, long
``__in`` lists, counter increments); apps import these names from here, never
from ``orderhub.services``. Each writer falls back to the ORM's bulk methods on
other databases (the SQLite test run), with the same result.
"""

from __future__ import annotations

import datetime as dt
import enum
import operator
from collections.abc import Mapping
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache

from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import Case, F, IntegerField, Value, When

from orderhub.querying import in_values

__all__ = ["add_to_rows", "in_values", "insert_rows", "lazy_commit_atomic", "update_rows"]


@contextmanager
def lazy_commit_atomic(model):
    """``transaction.atomic()`` whose commit does not wait for the WAL flush.

    For a short transaction of its own whose rows only matter together with a
    later transaction of the same process that commits as usual (order numbers
    reserved before the orders; a batch's raw payloads before its orders).
    ``SET LOCAL synchronous_commit = off`` keeps the data consistent; a crash
    within ~0.6 s of the commit may undo this one transaction, never a part of
    it. WAL is flushed in order, so the later ordinary commit makes this one
    durable too: what a crash can undo is only what nothing durable refers to
    yet (numbers no order holds; payloads whose orders were not written, which
    their source sends again: the poll cursor has not moved, the file is
    there). Inside a caller's transaction this is a plain savepoint: the
    caller's commit decides.
    """
    connection = connections[router.db_for_write(model)]
    lazy = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(using=connection.alias):
        if lazy:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield


# Field types whose Python value PostgreSQL's COPY takes as it is; the others
# go through the field's own conversion (Decimal rounding, JSON, aware times).
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField,
                 models.AutoField, models.BigAutoField, models.ForeignKey)


_PLAIN_TYPES = frozenset({str, int, bool})


@lru_cache(maxsize=32)
def _copy_plan(model, returning_pk: bool) -> tuple[list, list[int], list]:
    """The fields COPY writes for ``model``, how each value is converted, how it is read.

    Kinds: 0: taken as it is when str/int/bool/None; 1: an aware datetime is
    taken as it is (a naive one gets Django's conversion and warning); 3: a
    Decimal is taken as it is (the column's scale rounds it as an INSERT
    would); 2: always converted by the field. Readers: None when the instance's
    attribute is the value, else the field (its ``pre_save`` fills
    ``auto_now(_add)``, as an INSERT would).
    """
    fields = [f for f in model._meta.concrete_fields if returning_pk or not f.primary_key]
    kinds = [0 if isinstance(f, _PLAIN_FIELDS) else 1 if isinstance(f, models.DateTimeField)
             else 3 if isinstance(f, models.DecimalField) else 2 for f in fields]
    readers = [None if type(f).pre_save is models.Field.pre_save
               or (isinstance(f, models.DateField) and not (f.auto_now or f.auto_now_add))
               else f for f in fields]
    return fields, kinds, readers


def insert_rows(model, rows: list, *, returning_pk: bool = False) -> None:
    """Insert new rows like ``bulk_create`` (no ``save()``, no signals), as fast as possible.

    ``rows`` are model instances, or dicts of attname → value for rows nobody
    needs as objects (history versions, log rows, order lines): building
    thousands of model instances costs more than writing them. A missing key
    takes the field's default. On PostgreSQL the rows go in with one ``COPY``;
    with ``returning_pk`` their ids are drawn from the table's sequence first
    and set on the instances (or the dicts), as ``bulk_create`` does.
    Elsewhere this is ``bulk_create``.
    """
    if not rows:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        objs = [model(**row) if isinstance(row, dict) else row for row in rows]
        model._default_manager.using(using).bulk_create(objs)
        if returning_pk:
            for row, obj in zip(rows, objs, strict=True):
                if isinstance(row, dict):
                    row[model._meta.pk.attname] = obj.pk
        return
    meta = model._meta
    pk = meta.pk
    with connection.cursor() as cursor:
        if returning_pk:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(rows)])
            for row, (new_id,) in zip(rows, cursor.fetchall(), strict=True):
                if isinstance(row, dict):
                    row[pk.attname] = new_id
                else:
                    setattr(row, pk.attname, new_id)
        fields, kinds, readers = _copy_plan(model, returning_pk)
        attnames = [f.attname for f in fields]
        take_all = (operator.itemgetter(*attnames) if len(attnames) > 1
                    else lambda row: (row[attnames[0]],))
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        plan = list(zip(fields, kinds, strict=True))
        # COPY bypasses Django's cursor wrapper: map psycopg's errors to Django's
        # (IntegrityError...) as every other query does.
        with connection.wrap_database_errors, cursor.copy(
                f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
        ) as copy:
            defaults = None
            for row in rows:
                if isinstance(row, dict):
                    try:
                        # Versions and lines carry every column: one C call reads them.
                        values = take_all(row)
                    except KeyError:
                        if defaults is None:
                            defaults = [f.get_default() for f in fields]
                        get = row.get
                        values = [get(name, default)
                                  for name, default in zip(attnames, defaults, strict=True)]
                else:
                    values = [getattr(row, name) if reader is None else reader.pre_save(row, True)
                              for name, reader in zip(attnames, readers, strict=True)]
                copy.write_row([
                    value if value is None
                    or (kind == 0 and type(value) in _PLAIN_TYPES)
                    or (kind == 1 and type(value) is dt.datetime and value.tzinfo)
                    or (kind == 3 and type(value) is Decimal)
                    # A choices member (OrderStatus.PAID) stands for its value.
                    else value.value if kind == 0 and isinstance(value, enum.Enum)
                    and type(value.value) in _PLAIN_TYPES
                    else f.get_db_prep_save(value, connection)
                    for (f, kind), value in zip(plan, values, strict=True)])
    for row in rows:
        if not isinstance(row, dict):
            row._state.adding = False
            row._state.db = using


def update_rows(model, objs: list, fields: list[str]) -> None:
    """Write ``fields`` of existing rows, each with its own values: ``bulk_update``, faster.

    ``bulk_update`` builds one ``CASE WHEN pk=… THEN …`` per field and row: for
    500 orders that is seconds of query building and planning. On PostgreSQL
    this sends one ``UPDATE … FROM unnest(<one array per column>)`` instead.
    No ``save()``, no signals, no ``auto_now``: the caller sets what it needs.
    Raises when a row is gone (nothing of the batch is then written, inside the
    caller's transaction).
    """
    if not objs:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        # bulk_update answers the rows it matched: a gone row fails here as below.
        updated = model._default_manager.using(using).bulk_update(objs, fields)
        if updated != len(objs):
            raise DatabaseError(f"{model._meta.label}: updated {updated} of {len(objs)} rows")
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    qn = connection.ops.quote_name
    names = [qn(f.column) for f in columns]
    sets = ", ".join(f"{name} = v.{name}" for name in names[1:])
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    sql = (f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM unnest({arrays}) "
           f"AS v({', '.join(names)}) WHERE t.{names[0]} = v.{names[0]}")
    params = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs]
              for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != len(objs):
            raise DatabaseError(f"{meta.label}: updated {cursor.rowcount} of {len(objs)} rows")


def add_to_rows(model, field: str, deltas: Mapping[int, int], *,
                also: Mapping | None = None) -> None:
    """``field += delta`` per pk (``{pk: delta}``), plus the same ``also`` values on each row.

    One ``UPDATE … FROM unnest(pks, deltas)`` on PostgreSQL instead of a
    ``CASE WHEN`` per row. An increment, not a write of a value read earlier:
    safe on counters other transactions change (the caller locks the rows when
    it checks them first). No ``save()``, no signals.
    """
    if not deltas:
        return
    also = dict(also or {})
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).filter(pk__in=list(deltas)).update(
            **{field: F(field) + Case(*[When(pk=pk, then=Value(d)) for pk, d in deltas.items()],
                                      output_field=IntegerField())},
            **also,
        )
        return
    meta = model._meta
    qn = connection.ops.quote_name
    column = qn(meta.get_field(field).column)
    extra = [meta.get_field(name) for name in also]
    sets = "".join(f", {qn(f.column)} = %s" for f in extra)
    pk_type = meta.pk.rel_db_type(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(meta.db_table)} AS t SET {column} = t.{column} + d.delta{sets} "
            f"FROM unnest(%s::{pk_type}[], %s::integer[]) AS d(id, delta) "
            f"WHERE t.{qn(meta.pk.column)} = d.id",
            [*(f.get_db_prep_save(also[f.name], connection) for f in extra),
             list(deltas), list(deltas.values())],
        )
