"""The dashboard's figures for one workspace and period, per day in the viewer's zone.

Every figure is counted per UTC hour by a few grouped queries (`hour_counts`). Hours older
than `SETTLE` are written once to `StatHour` (`rollups_ensure`) and read from there; only the
last `SETTLE` hours are counted from the audit tables on each request. So a 30-day dashboard
over a million step runs reads 29 days of rollups (summed per day by the database) plus one
day of rows.

Settled means: a message's delivery status and a call's outcome do not change after a day in
practice (Twilio's longest message validity, `ValidityPeriod`, is 10 h). A run still
live after that is counted under the status it had when its hour was rolled up; the live
counters always show the runs live now."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from compliance.models import ConsentEvent, ConsentKind, SendLedger
from staff.error_meanings import error_meaning
from staff.models import StatCoverage, StatHour
from staff.selectors.buckets import (
    HourBucket,
    LocalDate,
    NoIndex,
    first_pk_at,
    floor_hour,
    hour_of,
    offset_spans,
)
from staff.selectors.inbox import INBOUND_KINDS, MESSAGE_ACTIONS
from triggers.models import MatchStatus, TriggerEvent
from workflows.models import LIVE_RUN_STATUSES, Run, RunStatus, StepKind, StepRun, StepStatus

SETTLE = dt.timedelta(hours=24)
CALL_OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled")
SENT_STATUSES = ("sent", "delivered", "undelivered", "read")
DELIVERED_STATUSES = ("delivered", "read")
Counts = dict[tuple[dt.datetime, str, str], Decimal]


# --- counting per hour ----------------------------------------------------------------------
def _add(counts: Counts, bucket: Any, metric: str, key: Any, value: Any) -> None:
    if value:
        slot = (hour_of(bucket), metric, str(key or "")[:40])
        counts[slot] = counts.get(slot, Decimal(0)) + Decimal(value)


def _step_runs_between(start: dt.datetime, end: dt.datetime):
    """Step runs started in [start, end): a primary-key range (StepRun has no time index)."""
    low = first_pk_at(StepRun, "started_at", start)
    if low is None:
        return StepRun.objects.none()
    rows = StepRun.objects.filter(pk__gte=low, started_at__gte=start, started_at__lt=end)
    high = first_pk_at(StepRun, "started_at", end)
    return rows.filter(pk__lt=high) if high is not None else rows


def hour_counts(*, workspace_id: int, start: dt.datetime, end: dt.datetime) -> Counts:
    """Every dashboard figure of [start, end), per UTC hour, metric and key."""
    counts: Counts = {}
    events = TriggerEvent.objects.filter(
        connection__workspace_id=workspace_id, received_at__gte=start, received_at__lt=end
    )
    inbound = events.filter(kind__in=INBOUND_KINDS).exclude(match_status=MatchStatus.INVALID)
    for row in inbound.order_by().values("kind", h=HourBucket("received_at")).annotate(n=Count("id")):
        _add(counts, row["h"], "msg_in", "whatsapp" if "whatsapp" in row["kind"] else "sms", row["n"])
    calls = events.filter(kind="twilio/call-status", payload__CallStatus__in=list(CALL_OUTCOMES)).annotate(
        outcome=KT("payload__CallStatus")
    )
    for row in (
        calls.order_by()
        .values("outcome", h=HourBucket("received_at"))
        .annotate(
            n=Count("id"),
            # Twilio bills a started minute: ceil(seconds / 60) per call.
            minutes=Sum((Cast(KT("payload__CallDuration"), IntegerField()) + 59) / 60),
        )
    ):
        _add(counts, row["h"], "calls", row["outcome"], row["n"])
        _add(counts, row["h"], "call_minutes", "", row["minutes"])

    # Driven by the step runs' key range: the workspace's index on runs would make SQLite walk
    # every run of the workspace (the whole history) instead.
    steps = (
        _step_runs_between(start, end)
        .alias(workspace=NoIndex(F("run__workspace_id"), output_field=IntegerField()))
        .filter(workspace=workspace_id, kind=StepKind.ACTION)
    )
    sends = steps.filter(action__in=MESSAGE_ACTIONS, status=StepStatus.SUCCEEDED)
    for row in (
        sends.order_by()
        .values("action", "delivery_status", h=HourBucket("started_at"))
        .annotate(n=Count("id"))
    ):
        channel = "whatsapp" if row["action"].endswith("whatsapp") else "sms"
        _add(counts, row["h"], "msg_out", channel, row["n"])
        _add(counts, row["h"], "delivery", row["delivery_status"] or "queued", row["n"])
    failing = steps.filter(
        Q(delivery_error_code__isnull=False) | Q(twilio_error_code__isnull=False) | ~Q(error_code="")
    )
    for row in (
        failing.order_by()
        .values("delivery_error_code", "twilio_error_code", "error_code", h=HourBucket("started_at"))
        .annotate(n=Count("id"))
    ):
        code = row["delivery_error_code"] or row["twilio_error_code"] or row["error_code"]
        _add(counts, row["h"], "error", code, row["n"])

    runs = Run.objects.filter(workspace_id=workspace_id, created_at__gte=start, created_at__lt=end)
    for row in runs.order_by().values("status", h=HourBucket("created_at")).annotate(n=Count("id")):
        _add(counts, row["h"], "runs", row["status"], row["n"])
    opt_outs = ConsentEvent.objects.filter(
        workspace_id=workspace_id, kind=ConsentKind.OPT_OUT, at__gte=start, at__lt=end
    )
    for row in opt_outs.order_by().values(h=HourBucket("at")).annotate(n=Count("id")):
        _add(counts, row["h"], "opt_out", "", row["n"])
    spend = SendLedger.objects.filter(workspace_id=workspace_id, sandbox=False, at__gte=start, at__lt=end)
    for row in spend.order_by().values("currency", h=HourBucket("at")).annotate(total=Sum("estimated_cost")):
        _add(counts, row["h"], "spend", row["currency"], row["total"])
    return counts


# --- rollups --------------------------------------------------------------------------------
def _roll(workspace_id: int, start: dt.datetime, end: dt.datetime) -> None:
    if start >= end:
        return
    rows = [
        StatHour(workspace_id=workspace_id, hour=hour, metric=metric, key=key, value=value)
        for (hour, metric, key), value in hour_counts(workspace_id=workspace_id, start=start, end=end).items()
    ]
    # Two requests rolling the same hours write the same values: the second's are ignored.
    StatHour.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)


def rollups_ensure(*, workspace_id: int, start: dt.datetime, end: dt.datetime) -> None:
    """Make sure every hour of [start, end) (whole, settled hours) is rolled up."""
    if start >= end:
        return
    coverage = StatCoverage.objects.filter(workspace_id=workspace_id).first()
    if coverage is None:
        _roll(workspace_id, start, end)
        try:
            with transaction.atomic():
                StatCoverage.objects.create(workspace_id=workspace_id, rolled_from=start, rolled_until=end)
        except IntegrityError:
            pass  # another request rolled concurrently; its coverage stands
        return
    rolled_from, rolled_until = coverage.rolled_from, coverage.rolled_until
    if start < rolled_from:
        _roll(workspace_id, start, rolled_from)
        rolled_from = start
    if end > rolled_until:
        _roll(workspace_id, rolled_until, end)
        rolled_until = end
    if (rolled_from, rolled_until) != (coverage.rolled_from, coverage.rolled_until):
        StatCoverage.objects.filter(pk=coverage.pk).update(rolled_from=rolled_from, rolled_until=rolled_until)


def day_sums(
    *, workspace_id: int, start: dt.datetime, end: dt.datetime, zone: ZoneInfo, now: dt.datetime
) -> dict[tuple[str, dt.date, str], Decimal]:
    """(metric, day in `zone`, key) → value over [start, end). Settled hours are summed per
    local day by the database from the rollups (one query per stretch of constant UTC
    offset, so a DST change splits a period in two); the last `SETTLE` hours are counted
    from the audit tables and placed on their day here."""
    start, settled = floor_hour(start), min(floor_hour(now - SETTLE), end)
    sums: dict[tuple[str, dt.date, str], Decimal] = defaultdict(Decimal)
    if start < settled:
        rollups_ensure(workspace_id=workspace_id, start=start, end=settled)
        for span_from, span_to, minutes in offset_spans(start, settled, zone):
            rows = (
                StatHour.objects.filter(workspace_id=workspace_id, hour__gte=span_from, hour__lt=span_to)
                .order_by()
                .values("metric", "key", day=LocalDate("hour", minutes))
                .annotate(total=Sum("value"))
            )
            for row in rows:
                sums[(row["metric"], dt.date.fromisoformat(row["day"]), row["key"])] += Decimal(row["total"])
    live_from = max(start, settled)
    if live_from < end:
        counts = hour_counts(workspace_id=workspace_id, start=live_from, end=end)
        for (hour, metric, key), value in counts.items():
            sums[(metric, hour.astimezone(zone).date(), key)] += value
    return sums


# --- the dashboard --------------------------------------------------------------------------
@dataclass
class Dashboard:
    days: list[dt.date]
    start: dt.datetime
    end: dt.datetime
    # metric → day → key → value
    series: dict[str, dict[dt.date, dict[str, Decimal]]]
    totals: dict[str, dict[str, Decimal]]
    live: dict[str, int] = field(default_factory=dict)

    def per_day(self, metric: str, keys: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """[{day, values: {key: n}, total}] for every day of the period (zeros included)."""
        rows = []
        for day in self.days:
            values = self.series.get(metric, {}).get(day, {})
            if keys is not None:
                values = {key: values.get(key, Decimal(0)) for key in keys}
            rows.append({"day": day, "values": values, "total": sum(values.values(), Decimal(0))})
        return rows

    def total(self, metric: str, key: str | None = None) -> Decimal:
        values = self.totals.get(metric, {})
        return values.get(key, Decimal(0)) if key is not None else sum(values.values(), Decimal(0))

    def funnel(self) -> list[dict[str, Any]]:
        """Accepted by Twilio → sent → delivered / undelivered / failed, with rates."""
        delivery = self.totals.get("delivery", {})
        accepted = sum(delivery.values(), Decimal(0))

        def of(statuses: tuple[str, ...]) -> Decimal:
            return sum((delivery.get(s, Decimal(0)) for s in statuses), Decimal(0))

        stages = [
            ("accepted", "Accepted by Twilio", accepted, ""),
            ("sent", "Sent to the carrier", of(SENT_STATUSES), "sent"),
            ("delivered", "Delivered", of(DELIVERED_STATUSES), "delivered"),
            ("undelivered", "Undelivered", of(("undelivered",)), "undelivered"),
            ("failed", "Failed", of(("failed",)), "failed"),
            ("waiting", "No report yet", of(("queued", "accepted", "sending")), "queued"),
        ]
        return [
            {
                "stage": stage,
                "label": label,
                "count": int(count),
                "rate": (count / accepted * 100) if accepted else None,
                "filter": status,
            }
            for stage, label, count, status in stages
        ]

    def top_errors(self, limit: int = 8) -> list[dict[str, Any]]:
        errors = sorted(self.totals.get("error", {}).items(), key=lambda item: (-item[1], item[0]))
        return [{"code": code, "count": int(n), "meaning": error_meaning(code)} for code, n in errors[:limit]]


def period_days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[dt.date]:
    first, last = start.astimezone(zone).date(), (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def live_counters(workspace_id: int) -> dict[str, int]:
    """Runs live right now, by status (the status index keeps this cheap)."""
    rows = (
        Run.objects.filter(workspace_id=workspace_id, status__in=list(LIVE_RUN_STATUSES))
        .values("status")
        .annotate(n=Count("id"))
    )
    found = {row["status"]: row["n"] for row in rows}
    return {
        status: found.get(status, 0) for status in (RunStatus.RUNNING, RunStatus.WAITING, RunStatus.PENDING)
    }


def dashboard_get(
    *, workspace_id: int, start: dt.datetime, end: dt.datetime, zone: ZoneInfo, now: dt.datetime
) -> Dashboard:
    """The figures of [start, end) (aware datetimes), per day in `zone`."""
    end = min(end, now)
    days = period_days(start, end, zone)
    wanted = set(days)
    sums = day_sums(workspace_id=workspace_id, start=start, end=end, zone=zone, now=now)
    series: dict[str, dict[dt.date, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    totals: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (metric, day, key), value in sums.items():
        if day not in wanted:
            continue
        series[metric][day][key] = value
        totals[metric][key] = totals[metric].get(key, Decimal(0)) + value
    return Dashboard(
        days=days,
        start=start,
        end=end,
        series={m: dict(d) for m, d in series.items()},
        totals=dict(totals),
        live=live_counters(workspace_id),
    )
