"""Time helpers for the dashboard: an SQL expression for a row's UTC hour (no per-row Python
function on SQLite, where Django's Trunc* call one), and the first primary key of a table at
or after a moment, so range scans of tables without a time index stay range scans."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import CharField, Func, Model


class HourBucket(Func):
    """'YYYY-MM-DD HH' of a datetime column, in UTC."""

    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores aware datetimes on SQLite as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]".
        return self.as_sql(compiler, connection, template="substr(%(expressions)s, 1, 13)", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')",
            **extra,
        )


class LocalDate(Func):
    """'YYYY-MM-DD' of a UTC datetime column shifted by a fixed number of minutes (a time
    zone's offset over a stretch of time without a DST change)."""

    output_field = CharField()

    def __init__(self, expression: Any, minutes: int) -> None:
        self.minutes = int(minutes)  # an int we computed: safe to write into the SQL
        super().__init__(expression)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = f"date(%(expressions)s, '{self.minutes:+d} minutes')"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = (
            f"to_char((%(expressions)s AT TIME ZONE 'UTC') + interval '{self.minutes} minutes', 'YYYY-MM-DD')"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


def offset_spans(
    start: dt.datetime, end: dt.datetime, zone: dt.tzinfo
) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """[start, end) cut into hour-aligned spans of one UTC offset each: (from, to, minutes)."""
    spans: list[tuple[dt.datetime, dt.datetime, int]] = []
    hour = floor_hour(start)
    while hour < end:
        offset = hour.astimezone(zone).utcoffset() or dt.timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        if spans and spans[-1][2] == minutes:
            spans[-1] = (spans[-1][0], hour + dt.timedelta(hours=1), minutes)
        else:
            spans.append((hour, hour + dt.timedelta(hours=1), minutes))
        hour += dt.timedelta(hours=1)
    return spans


class NoIndex(Func):
    """The column's value, hidden from SQLite's planner (unary `+`), so it cannot choose that
    column's index to drive a query that a primary-key range should drive. Other databases
    see the column itself."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        extra.setdefault("template", "%(expressions)s")
        return super().as_sql(compiler, connection, **extra)


def hour_of(bucket: str | dt.datetime) -> dt.datetime:
    if isinstance(bucket, dt.datetime):
        return bucket.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return dt.datetime.strptime(bucket[:13], "%Y-%m-%d %H").replace(tzinfo=dt.UTC)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def first_pk_at(model: type[Model], field: str, moment: dt.datetime) -> int | None:
    """The smallest primary key whose `field` is at or after `moment`, found by bisecting the
    primary key (about 20 indexed lookups). Rows are written when their time is set (a step
    run's `started_at`), so `field` grows with the key; a row a few milliseconds out of order
    at the boundary is caught because callers filter on `field` as well. None: no such row."""
    manager = model._default_manager
    last = manager.order_by("-pk").values_list("pk", field).first()
    if last is None or last[1] < moment:
        return None
    first = manager.order_by("pk").values_list("pk", field).first()
    assert first is not None
    if first[1] >= moment:
        return int(first[0])
    low, high = int(first[0]), int(last[0])  # field(low) < moment <= field(high)
    while high - low > 1:
        middle = (low + high) // 2
        row = manager.filter(pk__gte=middle).order_by("pk").values_list("pk", field).first()
        if row is None or row[0] >= high:
            break
        if row[1] < moment:
            low = row[0]
        else:
            high = row[0]
    return high
