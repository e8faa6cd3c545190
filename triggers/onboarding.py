"""What the admin index leads with (issue 11): the "Getting started" checklist and the
workspace's recent runs and failures. Reads only (selectors), scoped to the user's
workspaces; a handful of small queries per index page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.urls import reverse

from connections.models import Connection
from triggers.models import MatchStatus, PhoneNumber, Trigger, TriggerEvent
from twilioflow.core import clock
from workflows.models import Run, RunStatus, Workflow
from workspaces.models import Workspace
from workspaces.selectors import workspace_ids_for_user

RECENT = 8
FAILURE_DAYS = 7


@dataclass
class Milestone:
    title: str
    done: bool
    how: str
    url: str


def getting_started(user) -> list[Milestone]:
    """Workspace → connection → number → workflow → trigger → test webhook, each ticked once
    it exists in one of the user's workspaces."""
    ids = workspace_ids_for_user(user)
    if not ids and not user.is_superuser:
        return []  # nothing to set up here until someone adds them to a workspace
    events = TriggerEvent.objects.filter(connection__workspace_id__in=ids)
    numbers = PhoneNumber.objects.filter(connection__workspace_id__in=ids, routed_at__isnull=False)

    def url(name: str) -> str:
        return reverse(f"admin:{name}")

    return [
        Milestone(
            "Create a workspace (one per client)",
            bool(ids),
            "Workspaces → Add: its name, time zone and default country.",
            url("workspaces_workspace_add"),
        ),
        Milestone(
            "Connect its Twilio account",
            Connection.objects.filter(workspace_id__in=ids).exists(),
            "Connections → Add: Account SID and Auth Token (verified on save).",
            url("connections_connection_add"),
        ),
        Milestone(
            "Sync a phone number and route it to TwilioFlow",
            numbers.exists(),
            "Phone numbers → Sync numbers from Twilio, then the action “Route to TwilioFlow” "
            "(needs a public PUBLIC_BASE_URL).",
            url("triggers_phonenumber_changelist"),
        ),
        Milestone(
            "Build a workflow",
            Workflow.objects.filter(workspace_id__in=ids).exists(),
            "Workflows → Add: its steps (send an SMS, branch, wait for a reply…).",
            url("workflows_workflow_add"),
        ),
        Milestone(
            "Add a trigger that starts it",
            Trigger.objects.filter(workspace_id__in=ids).exists(),
            "Triggers → Add: the kind (incoming SMS, call…), the workflow and the connection.",
            url("triggers_trigger_add"),
        ),
        Milestone(
            "Send a test webhook",
            events.exists(),
            "manage.py send_test_webhook <connection> incoming-sms --param Body=hello "
            "(or text your number); the event and its run appear below.",
            url("triggers_triggerevent_changelist"),
        ),
    ]


def recent_activity(user) -> dict[str, Any]:
    """The latest top-level runs, and what went wrong lately (failed runs, instant replies
    that failed, events that started nothing), in the user's workspaces."""
    ids = workspace_ids_for_user(user)
    since = clock.now() - timedelta(days=FAILURE_DAYS)
    runs = Run.objects.filter(workspace_id__in=ids).select_related("workflow")
    events = TriggerEvent.objects.filter(connection__workspace_id__in=ids, received_at__gte=since)
    return {
        "runs": list(runs.filter(parent__isnull=True).order_by("-created_at", "-id")[:RECENT]),
        "failed_runs": list(
            runs.filter(status=RunStatus.FAILED, finished_at__gte=since).order_by("-finished_at", "-id")[
                :RECENT
            ]
        ),
        "failed_replies": list(events.filter(reply_status="failed").order_by("-received_at")[:RECENT]),
        "unmatched": events.filter(match_status__in=[MatchStatus.NO_MATCH, MatchStatus.DISABLED]).count(),
        "failure_days": FAILURE_DAYS,
        "several_workspaces": len(ids) > 1,
        "workspace_names": list(Workspace.objects.filter(id__in=ids).values_list("name", flat=True)[:3]),
    }
