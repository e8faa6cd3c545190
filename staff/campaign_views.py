"""Staff pages for campaigns: the workspace's campaigns with live progress bars, a campaign's
per-recipient results, pause / resume / cancel with confirmation, the CSV export.

Thin views over `campaigns.selectors` and `campaigns.services`. A campaign is looked up in
the current workspace only: any other workspace's campaign is a 404. Viewers read (and
export); the operating views refuse them with 403 (`staff_view(act=True)`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from campaigns.models import Campaign, CampaignStatus, RecipientState
from campaigns.selectors import (
    Progress,
    campaign_progress,
    campaigns_for_workspaces,
    campaigns_progress,
    format_eta,
    recipients_matching,
)
from campaigns.services import campaign_cancel, campaign_pause, campaign_results_write, campaign_resume
from staff.access import object_or_404, staff_view

LIST_PAGE_SIZE = 25
RECIPIENT_PAGE_SIZE = 50
LIVE_STATUSES = frozenset({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED})
POLL_SECONDS = 5


@dataclass(frozen=True)
class Operation:
    verb: str  # the button
    service: Callable[..., bool]
    allowed: frozenset[str]  # the statuses it applies to
    consequence: str  # what the confirmation page says
    done: str
    danger: bool = False


OPERATIONS = {
    "pause": Operation(
        "Pause",
        campaign_pause,
        frozenset({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED}),
        "No new recipient is sent while it is paused; a message already on its way finishes. "
        "Resume carries on where it stopped, at the same pace.",
        "paused",
    ),
    "resume": Operation(
        "Resume",
        campaign_resume,
        frozenset({CampaignStatus.PAUSED}),
        "Sending starts again with the recipients not yet sent, at the sender's pace, through "
        "the send gate (opt-outs and quiet hours are checked again).",
        "resumed",
    ),
    "cancel": Operation(
        "Cancel campaign",
        campaign_cancel,
        frozenset(
            {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED}
        ),
        "Nothing more is sent, ever: every recipient not yet sent is marked skipped "
        "(CANCELLED). A message already on its way finishes and is recorded. This cannot be undone.",
        "cancelled",
        danger=True,
    ),
}


def _workspace_id(request: HttpRequest) -> int:
    return request.seat.workspace.pk  # type: ignore[attr-defined]


def _campaign_or_404(request: HttpRequest, campaign_id: int) -> Campaign:
    return object_or_404(
        campaigns_for_workspaces([_workspace_id(request)]).select_related("connection", "workflow"),
        pk=campaign_id,
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page") or 1), 100_000))
    except ValueError:
        return 1


def _page(rows: Any, number: int, size: int) -> tuple[list[Any], bool]:
    """One page without COUNT(*), and whether there is a next one."""
    start = (number - 1) * size
    found = list(rows[start : start + size + 1])
    return found[:size], len(found) > size


def progress_bar(progress: Progress) -> dict[str, Any]:
    """What the progress bar draws: a segment per done state (and in flight), widths in %,
    the legend's counts in words, and the ETA."""
    total = progress.total or 1
    labels = dict(RecipientState.choices)
    parts = [*progress.parts(), ("pending", progress.pending)]
    return {
        "progress": progress,
        "percent": int(progress.percent),
        "segments": [
            {"state": state, "label": labels[state], "count": count, "width": f"{100 * count / total:.2f}"}
            for state, count in parts
            if count and state != "pending"
        ],
        "legend": [{"state": state, "label": labels[state], "count": count} for state, count in parts],
        "eta": format_eta(progress.eta_seconds) if progress.eta_seconds else "",
    }


def _operations_for(campaign: Campaign) -> list[tuple[str, Operation]]:
    return [(name, op) for name, op in OPERATIONS.items() if campaign.status in op.allowed]


@staff_view()
def campaign_list(request: HttpRequest) -> HttpResponse:
    number = _page_number(request)
    rows, has_next = _page(campaigns_for_workspaces([_workspace_id(request)]), number, LIST_PAGE_SIZE)
    progress = campaigns_progress(rows)
    entries = [{"campaign": c, "bar": progress_bar(progress[c.pk])} for c in rows]
    context = {
        "entries": entries,
        "page": number,
        "has_next": has_next,
        "live": any(c.status in LIVE_STATUSES for c in rows),
        "poll_seconds": POLL_SECONDS,
    }
    return render(request, "staff/campaigns.html", context)


@staff_view()
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    progress = campaign_progress(campaign)
    state = request.GET.get("state") or ""
    state = state if state in RecipientState.values else ""
    search = (request.GET.get("q") or "")[:100]
    number = _page_number(request)
    recipients, has_next = _page(
        recipients_matching(campaign, state=state, search=search), number, RECIPIENT_PAGE_SIZE
    )
    counts = {"pending": progress.pending, "sending": progress.sending, **dict(progress.parts())}
    context = {
        "campaign": campaign,
        "bar": progress_bar(progress),
        "recipients": recipients,
        "states": [(value, label, counts.get(value, 0)) for value, label in RecipientState.choices],
        "filters": {"state": state, "q": search},
        "filtered": bool(state or search),
        "query": urlencode({k: v for k, v in (("state", state), ("q", search)) if v}),
        "page": number,
        "has_next": has_next,
        "operations": _operations_for(campaign),
        "live": campaign.status in LIVE_STATUSES,
        "poll_seconds": POLL_SECONDS,
    }
    return render(request, "staff/campaign.html", context)


@staff_view(act=True)
def campaign_operate(request: HttpRequest, campaign_id: int, operation: str) -> HttpResponse:
    """GET: what the operation does, and a Confirm button. POST with confirm: do it."""
    op = OPERATIONS.get(operation)
    if op is None:
        raise Http404("No such operation.")
    campaign = _campaign_or_404(request, campaign_id)
    if campaign.status not in op.allowed:
        messages.info(
            request, f"{campaign.name} is {campaign.get_status_display().lower()}: nothing to {operation}."
        )
        return redirect("staff:campaign", campaign_id=campaign.pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        user = request.user.get_username()
        if operation == "resume":
            changed = op.service(campaign=campaign)
        else:
            note = f"{op.done.capitalize()} by {user} on the staff pages."
            changed = op.service(campaign=campaign, note=note)
        if changed:
            messages.success(request, f"{campaign.name}: {op.done}.")
        else:
            messages.info(request, f"{campaign.name} changed meanwhile: nothing was {op.done}.")
        return redirect("staff:campaign", campaign_id=campaign.pk)
    progress = campaign_progress(campaign)
    context = {"campaign": campaign, "operation": operation, "op": op, "progress": progress}
    return render(request, "staff/confirm_campaign.html", context)


@staff_view()
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Every recipient's result and every row the import did not take (the admin's export)."""
    campaign = _campaign_or_404(request, campaign_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-results.csv"'
    campaign_results_write(campaign, cast(IO[str], response))  # csv only calls .write()
    return response
