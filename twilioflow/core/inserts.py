"""One model row's INSERT, compiled ahead and run later: the webhook path compiles its
INSERTs (field preparation, JSON encoding, SQL) before it opens its write transaction, so
that on SQLite the one write lock is held for executing them and nothing else (issue 10).

Only for plain rows: no `save()` override and no signals run (callers document that their
model has neither on this path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


@dataclass
class PreparedInsert:
    obj: models.Model
    sql: str
    params: list[Any]
    attnames: list[str]  # the column each parameter is for, in order

    def set(self, attname: str, value: Any) -> None:
        """Fill in a value known only later (a foreign key to a row inserted meanwhile)."""
        self.params[self.attnames.index(attname)] = value
        setattr(self.obj, attname, value)

    def execute(self) -> bool:
        """Run it: True when a row was inserted (its id set on the object), False when
        `ignore_conflicts` skipped it."""
        db = transaction.get_connection()
        with db.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            row = cursor.fetchone()
        if row is None:
            return False
        self.obj.pk = row[0]
        self.obj._state.adding, self.obj._state.db = False, db.alias
        return True


def insert_prepare(obj: models.Model, *, ignore_conflicts: bool = False) -> PreparedInsert:
    """`INSERT … [ON CONFLICT DO NOTHING] RETURNING id` for `obj` (every concrete field but
    the primary key; `auto_now_add` and defaults applied as `save()` would)."""
    opts = obj._meta
    fields = [f for f in opts.local_concrete_fields if not f.primary_key]
    query = InsertQuery(type(obj), on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(connection=transaction.get_connection())
    compiler.returning_fields = [opts.pk]
    [(sql, params)] = compiler.as_sql()
    if len(params) != len(fields):  # a value given as an SQL expression: not for this path
        raise ValueError(f"{opts.label}: one parameter per field expected")
    return PreparedInsert(obj, sql, list(params), [f.attname for f in fields])
