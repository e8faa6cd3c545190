"""Single-row writes on the hot path, without the ORM's query building.

Issue 10's profile: building an UPDATE or INSERT through the queryset API (filter, Q, the
compiler) costs ~1 ms of CPU per statement here, the database itself a tenth of that. The
engine writes a handful of rows per step, always the same shapes, so these helpers cache
the SQL text per (table, columns, conditions) and prepare each value through its model
field (`get_db_prep_save` / `get_db_prep_value`), exactly as the ORM would: JSON, datetimes
(naive UTC text on SQLite), decimals and booleans come out the same.

No signals are sent and no `save()` runs: a model whose `save()` does work (StepRun's
redaction safety net) offers its own entry point that does that work first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model

_SQL: dict[tuple[Any, ...], Any] = {}
# Quoted identifiers are formatted in; every value is a parameter.
_INSERT = "INSERT INTO {table} ({columns}) VALUES ({marks}){conflict} RETURNING {pk}"


def _size(value: Any) -> int:
    """How many values an IN condition has; -1 for a single value (strings are one)."""
    return len(value) if isinstance(value, Collection) and not isinstance(value, str | bytes) else -1


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _condition(column: str, value: Any, quote: Callable[[str], str]) -> tuple[str, bool]:
    """`col = %s` or `col IN (%s, …)` for a collection (strings are one value)."""
    if _size(value) >= 0:
        return f"{quote(column)} IN ({', '.join(['%s'] * len(value))})", True
    return f"{quote(column)} = %s", False


def row_update(model: type[Model], where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
    """UPDATE `values` (field name → Python value) on the rows matching `where` (field name →
    value, or a collection for IN). How many rows changed."""
    alias = router.db_for_write(model)
    db = connections[alias]
    meta = model._meta
    shape = tuple(_size(v) for v in where.values())
    key = ("update", alias, meta.db_table, tuple(values), tuple(where), shape)
    cached = _SQL.get(key)
    if cached is None:
        quote = db.ops.quote_name
        set_fields = [_field(model, name) for name in values]
        where_fields = [_field(model, name) for name in where]
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in set_fields)
        conditions = " AND ".join(
            _condition(f.column, v, quote)[0] for f, v in zip(where_fields, where.values(), strict=True)
        )
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608 (quoted identifiers; values are parameters)
        cached = _SQL[key] = (sql, set_fields, where_fields)
    sql, set_fields, where_fields = cached
    params: list[Any] = [f.get_db_prep_save(v, db) for f, v in zip(set_fields, values.values(), strict=True)]
    for f, v in zip(where_fields, where.values(), strict=True):
        items = v if _size(v) >= 0 else [v]
        params.extend(f.get_db_prep_value(item, db, prepared=False) for item in items)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def row_insert(instance: Model, *, ignore_conflicts: bool = False) -> Model:
    """INSERT an unsaved instance (every concrete field, defaults applied by the instance's
    constructor and `pre_save`, as `save()` would) and set its primary key. With
    `ignore_conflicts`, a row that breaks a unique constraint is skipped (`ON CONFLICT DO
    NOTHING`, SQLite and PostgreSQL alike) and the instance keeps no primary key."""
    model = type(instance)
    alias = router.db_for_write(model)
    db = connections[alias]
    meta = model._meta
    with_pk = getattr(instance, meta.pk.attname) is not None
    key = ("insert", alias, meta.db_table, with_pk, ignore_conflicts)
    cached = _SQL.get(key)
    if cached is None:
        quote = db.ops.quote_name
        fields = [f for f in meta.concrete_fields if with_pk or not f.primary_key]
        columns = ", ".join(quote(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        sql = _INSERT.format(
            table=quote(meta.db_table),
            columns=columns,
            marks=marks,
            conflict=conflict,
            pk=quote(meta.pk.column),
        )
        cached = _SQL[key] = (sql, fields)
    sql, fields = cached
    params = [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:  # skipped (ignore_conflicts)
        return instance
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = alias
    return instance
