"""The dashboard's selectors: exact counts per day from a seeded database, the same whether
hours come from rollups (settled) or are counted live, and the page itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from compliance.models import ConsentEvent, SendLedger
from staff.models import StatCoverage, StatHour
from staff.selectors.buckets import first_pk_at
from staff.selectors.dashboard import dashboard_get
from tests.staff.conftest import BOB, inbound, outbound
from triggers.models import MatchStatus, TriggerEvent
from workflows.models import Run, RunStatus, StepRun, StepStatus

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")
NOW = dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC)


def day(n: int, hour: int = 10) -> dt.datetime:
    """`n` days before NOW's day, at `hour` UTC."""
    return dt.datetime(2026, 3, 10, hour, tzinfo=dt.UTC) - dt.timedelta(days=n)


def call_status(connection, when, status, seconds):
    event = TriggerEvent.objects.create(
        connection=connection,
        purpose="status",
        kind="twilio/call-status",
        dedupe_key=f"key:CA{when.timestamp()}{status}",
        payload={"CallStatus": status, "CallDuration": seconds},
        match_status=MatchStatus.TRACKED,
    )
    TriggerEvent.objects.filter(pk=event.pk).update(received_at=when)


@pytest.fixture
def seeded(connection, other_workspace):
    """Five days of activity (days 4, 3 and 1 end up in rollups, day 0 is counted live)."""
    ws = connection.workspace
    for n in (4, 4, 3, 1, 0):
        inbound(connection, when=day(n))
    inbound(connection, when=day(1), whatsapp=True)
    inbound(connection, when=day(2)).__class__.objects.filter(pk__gt=0).filter(received_at=day(2)).update(
        match_status=MatchStatus.INVALID
    )  # an invalid request is not a message
    outbound(connection, when=day(4), delivery="delivered")
    outbound(
        connection, when=day(4, 11), delivery="undelivered", delivery_error=30003, run_status=RunStatus.FAILED
    )
    outbound(connection, when=day(3), delivery="sent")
    outbound(connection, when=day(1), delivery="delivered", action="twilio/send-whatsapp")
    outbound(connection, when=day(0, 9), delivery="")  # no callback yet
    outbound(
        connection,
        when=day(0, 9),
        status=StepStatus.FAILED,
        error_code="OPTED_OUT",
        run_status=RunStatus.FAILED,
    )
    call_status(connection, day(3), "completed", 61)  # 2 billed minutes
    call_status(connection, day(3), "busy", 0)
    call_status(connection, day(0), "completed", 30)  # 1
    call_status(connection, day(0), "ringing", 0)  # not an outcome
    for when in (day(4), day(0)):
        ConsentEvent.objects.create(workspace=ws, contact=BOB, kind="opt_out", source="keyword", at=when)
    ConsentEvent.objects.create(workspace=ws, contact=BOB, kind="opt_in", source="keyword", at=day(0))
    SendLedger.objects.create(
        workspace=ws, channel="sms", contact=BOB, estimated_cost=Decimal("0.0079"), at=day(4)
    )
    SendLedger.objects.create(
        workspace=ws, channel="sms", contact=BOB, estimated_cost=Decimal("0.0158"), at=day(0)
    )
    SendLedger.objects.create(
        workspace=ws, channel="sms", contact=BOB, estimated_cost=Decimal("5"), sandbox=True, at=day(0)
    )
    # Another workspace's activity never counts.
    from connections.services import connection_create
    from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

    foreign = connection_create(
        workspace=other_workspace, name="x", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    inbound(foreign, when=day(0))
    outbound(foreign, when=day(0), delivery="failed", delivery_error=30007)
    return ws


def board_for(ws, days=5):
    start = dt.datetime(2026, 3, 10, tzinfo=dt.UTC) - dt.timedelta(days=days - 1)
    return dashboard_get(
        workspace_id=ws.pk, start=start, end=start + dt.timedelta(days=days), zone=UTC, now=NOW
    )


def per_day(board, metric):
    return [int(row["total"]) for row in board.per_day(metric)]


def test_every_chart_counts_exactly(seeded):
    board = board_for(seeded)
    assert board.days == [dt.date(2026, 3, d) for d in range(6, 11)]
    assert per_day(board, "msg_in") == [2, 1, 0, 2, 1]
    assert per_day(board, "msg_out") == [2, 1, 0, 1, 1]
    assert board.total("msg_in", "whatsapp") == 1 and board.total("msg_out", "whatsapp") == 1
    runs = board.per_day("runs", ("succeeded", "failed"))
    assert [(int(r["values"]["succeeded"]), int(r["values"]["failed"])) for r in runs] == [
        (1, 1),
        (1, 0),
        (0, 0),
        (1, 0),
        (1, 1),
    ]
    funnel = {stage["stage"]: (stage["count"], stage["rate"]) for stage in board.funnel()}
    assert funnel["accepted"] == (5, Decimal(100))
    assert funnel["sent"][0] == 4 and funnel["delivered"] == (2, Decimal(40))
    assert funnel["undelivered"][0] == 1 and funnel["failed"][0] == 0 and funnel["waiting"][0] == 1
    assert [(e["code"], e["count"]) for e in board.top_errors()] == [("30003", 1), ("OPTED_OUT", 1)]
    assert "Unreachable" in board.top_errors()[0]["meaning"]
    assert board.total("calls", "completed") == 2 and board.total("calls", "busy") == 1
    assert board.total("calls") == 3 and board.total("call_minutes") == 3
    assert per_day(board, "opt_out") == [1, 0, 0, 0, 1]
    assert [row["total"] for row in board.per_day("spend")] == [Decimal("0.0079"), 0, 0, 0, Decimal("0.0158")]


def test_settled_hours_are_rolled_up_once_and_read_back_the_same(seeded):
    first = board_for(seeded)
    coverage = StatCoverage.objects.get(workspace=seeded)
    # Hours older than a day are rollups; the last day is counted live.
    assert coverage.rolled_until == dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)
    rolled = StatHour.objects.filter(workspace=seeded).count()
    assert rolled > 0
    # The audit rows of the settled days could even be pruned: the rollups keep the figures.
    StepRun.objects.filter(started_at__lt=day(2)).delete()
    second = board_for(seeded)
    assert StatHour.objects.filter(workspace=seeded).count() == rolled
    assert per_day(second, "msg_out") == per_day(first, "msg_out")
    assert second.funnel() == first.funnel()


def test_days_follow_the_viewers_time_zone(seeded):
    # 10:00 UTC is 05:00 in New York and 19:00 in Tokyo: same day either way, but a message
    # at 02:00 UTC belongs to the day before in New York.
    inbound(seeded.connections.get(name="main"), when=day(0, 2))
    start = dt.datetime(2026, 3, 9, tzinfo=ZoneInfo("America/New_York"))
    board = dashboard_get(
        workspace_id=seeded.pk,
        start=start,
        end=start + dt.timedelta(days=2),
        zone=ZoneInfo("America/New_York"),
        now=NOW,
    )
    assert per_day(board, "msg_in") == [2 + 1, 1]


def test_live_counters(connection):
    for status in (RunStatus.RUNNING, RunStatus.WAITING, RunStatus.WAITING, RunStatus.SUCCEEDED):
        Run.objects.create(workspace=connection.workspace, status=status, source="manual", adhoc_steps=[{}])
    board = board_for(connection.workspace)
    assert board.live == {"running": 1, "waiting": 2, "pending": 0}


def test_first_pk_at_bisects_the_primary_key(connection):
    steps = [outbound(connection, when=day(10 - n)) for n in range(10)]
    assert first_pk_at(StepRun, "started_at", day(5, 0)) == steps[5].pk
    assert first_pk_at(StepRun, "started_at", day(20)) == steps[0].pk
    assert first_pk_at(StepRun, "started_at", day(-1)) is None


def test_the_dashboard_page(seat_client, connection):
    client = seat_client("viewer")
    html = client.get(reverse("staff:dashboard")).content.decode()
    assert "Nothing happened in this period" in html  # the empty state says what to do
    inbound(connection)
    outbound(connection, delivery="undelivered", delivery_error=30003)
    for period in ("today", "7d", "30d", "custom"):
        response = client.get(
            reverse("staff:dashboard"), {"period": period, "from": "2020-01-01", "to": "2030-01-01"}
        )
        assert response.status_code == 200
    html = client.get(reverse("staff:dashboard"), {"period": "7d"}).content.decode()
    assert "<svg" in html and "Messages per day" in html
    assert "error=30003" in html  # the error links to the affected runs
    assert "Unreachable destination handset" in html
    bad = client.get(reverse("staff:dashboard"), {"period": "custom", "from": "2026-13-45", "to": "x"})
    assert bad.status_code == 200


def test_rolled_up_days_follow_a_dst_change(connection):
    """New York moved from UTC-5 to UTC-4 on 8 March 2026 at 02:00: rollups are summed per
    local day with the offset of each side."""
    for when in ("2026-03-08T04:30", "2026-03-08T05:30", "2026-03-09T03:30", "2026-03-09T04:30"):
        inbound(connection, when=dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC))
    zone = ZoneInfo("America/New_York")
    start = dt.datetime(2026, 3, 7, tzinfo=zone)
    later = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)  # everything is settled: read from rollups
    board = dashboard_get(
        workspace_id=connection.workspace_id,
        start=start,
        end=start + dt.timedelta(days=3),
        zone=zone,
        now=later,
    )
    assert StatHour.objects.filter(metric="msg_in").count() == 4  # four UTC hours, rolled up
    assert board.days == [dt.date(2026, 3, 7), dt.date(2026, 3, 8), dt.date(2026, 3, 9)]
    assert per_day(board, "msg_in") == [1, 2, 1]
