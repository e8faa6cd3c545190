"""The operators' run list: the admin's reads (`workflows.selectors`) with the filters the
dashboard's charts link to."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet

from staff.selectors.inbox import MESSAGE_ACTIONS
from workflows.models import Run, RunStatus, StepRun, Workflow
from workflows.selectors import runs_with_recipient

PAGE_SIZE = 50
DELIVERY_GROUPS = {
    "sent": ("sent", "delivered", "undelivered", "read"),
    "delivered": ("delivered", "read"),
    "undelivered": ("undelivered",),
    "failed": ("failed",),
    "queued": ("", "queued", "accepted", "sending"),
}


def parse_day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone)


def run_list(*, workspace_id: int, filters: dict[str, Any], zone: ZoneInfo) -> QuerySet[Run]:
    """Runs of the workspace, newest first, narrowed by `filters` (all optional): status,
    source, workflow (id), q (a number or SID), error (our code or Twilio's), delivery (a
    group of `DELIVERY_GROUPS`), action (runs with a step of that action), day_from/day_to
    (dates in `zone`, inclusive), level ("top" default, "all")."""
    runs = Run.objects.filter(workspace_id=workspace_id).select_related("workflow")
    if filters.get("level") != "all":
        runs = runs.filter(parent__isnull=True)
    if filters.get("status") in RunStatus.values:
        runs = runs.filter(status=filters["status"])
    if filters.get("source"):
        runs = runs.filter(source=str(filters["source"])[:20])
    workflow = str(filters.get("workflow") or "")
    if workflow.isdigit():
        runs = runs.filter(workflow_id=int(workflow))
    q = str(filters.get("q") or "").strip()
    if q:
        runs = runs.filter(Q(search_text__icontains=q) | Q(error_message__icontains=q))
    steps = StepRun.objects.filter(run=OuterRef("pk"))
    error = str(filters.get("error") or "").strip()[:40]
    if error:
        step_error = Q(error_code=error)
        if error.isdigit():
            step_error |= Q(twilio_error_code=int(error)) | Q(delivery_error_code=int(error))
        runs = runs.filter(Q(error_code=error) | Exists(steps.filter(step_error)))
    delivery = DELIVERY_GROUPS.get(str(filters.get("delivery") or ""))
    if delivery is not None:
        runs = runs.filter(
            Exists(steps.filter(status="succeeded", delivery_status__in=delivery).exclude(twilio_sid=""))
        )
    action = str(filters.get("action") or "")
    if action == "messages":
        runs = runs.filter(Exists(steps.filter(action__in=MESSAGE_ACTIONS)))
    elif action:
        runs = runs.filter(Exists(steps.filter(action=action)))
    day_from, day_to = parse_day(filters.get("day_from")), parse_day(filters.get("day_to"))
    if day_from:
        runs = runs.filter(created_at__gte=day_start(day_from, zone))
    if day_to:
        runs = runs.filter(created_at__lt=day_start(day_to + dt.timedelta(days=1), zone))
    return runs_with_recipient(runs).order_by("-created_at", "-id")


def run_for_user(*, run_id: int, workspace_ids: set[int]) -> Run | None:
    return (
        Run.objects.select_related("workflow", "workspace", "parent", "replay_of")
        .filter(pk=run_id, workspace_id__in=list(workspace_ids))
        .first()
    )


def workflows_of(workspace_id: int) -> list[Workflow]:
    return list(Workflow.objects.filter(workspace_id=workspace_id).order_by("name"))


# Where runs come from (Run.source): a fixed list, so the filter never scans the table.
SOURCES = (
    "trigger",
    "manual",
    "api",
    "command",
    "admin",
    "inbox",
    "replay",
    "retry",
    "for_each",
    "run_workflow",
)
