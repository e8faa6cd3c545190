"""Staff pages: thin views over `staff.selectors` and `staff.services` (and the admin's run
services). Every view is wrapped by `access.staff_view`: login, the user's workspace and
role, times in the viewer's zone; acting views refuse viewers."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from actions.segments import segment_info
from compliance.gate import REFUSE, send_gate
from connections.models import Connection
from staff import charts
from staff.access import seat_switch, staff_view
from staff.charts import PALETTE, Series
from staff.error_meanings import error_meaning
from staff.selectors import dashboard as dash
from staff.selectors import inbox
from staff.selectors import runs as run_selectors
from staff.services import conversation_mark_read, inbox_reply, reply_action_and_inputs
from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text
from workflows.models import LIVE_RUN_STATUSES, RunStatus
from workflows.selectors import run_timeline, runs_sends, sends_sentence
from workflows.services import run_cancel, run_replay
from workspaces.selectors import workspace_ids_for_user

PERIODS = (("today", "Today"), ("7d", "7 days"), ("30d", "30 days"), ("custom", "Custom"))
MAX_CUSTOM_DAYS = 92
THREAD_POLL_SECONDS = 5


class LoginView(auth_views.LoginView):
    template_name = "staff/login.html"
    redirect_authenticated_user = True
    next_page = "staff:dashboard"


def _seat(request: HttpRequest):
    return request.seat  # type: ignore[attr-defined]


def _zone(request: HttpRequest) -> ZoneInfo:
    return ZoneInfo(_seat(request).zone)


# --- workspace switcher ----------------------------------------------------------------------
@require_POST
@staff_view()
def switch_workspace(request: HttpRequest) -> HttpResponse:
    if not seat_switch(request, request.POST.get("workspace")):
        raise Http404("No such workspace.")
    target = request.POST.get("next") or "/"
    # Object pages belong to the previous workspace: go to their list instead.
    for prefix in ("/inbox/", "/runs/", "/campaigns/"):
        if target.startswith(prefix):
            target = prefix
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    return HttpResponseRedirect(target)


# --- dashboard --------------------------------------------------------------------------------
def _period(request: HttpRequest, zone: ZoneInfo, now: dt.datetime) -> dict[str, Any]:
    period = request.GET.get("period") or "7d"
    today = now.astimezone(zone).date()
    first = last = today
    error = ""
    if period == "today":
        pass
    elif period == "30d":
        first = today - dt.timedelta(days=29)
    elif period == "custom":
        first = run_selectors.parse_day(request.GET.get("from")) or today - dt.timedelta(days=6)
        last = run_selectors.parse_day(request.GET.get("to")) or today
        if last > today:
            last = today
        if first > last:
            first, last, error = last, last, "The period's start was after its end: showing one day."
        if (last - first).days >= MAX_CUSTOM_DAYS:
            first = last - dt.timedelta(days=MAX_CUSTOM_DAYS - 1)
            error = f"A custom period is at most {MAX_CUSTOM_DAYS} days: showing the last {MAX_CUSTOM_DAYS}."
    else:
        period, first = "7d", today - dt.timedelta(days=6)
    return {"period": period, "first": first, "last": last, "error": error}


def _days_link(base: str, day_from: dt.date, day_to: dt.date, **extra: Any) -> str:
    query = {
        "day_from": day_from.isoformat(),
        "day_to": day_to.isoformat(),
        **{k: v for k, v in extra.items() if v},
    }
    return f"{base}?{urlencode(query)}"


def _chart(
    title: str, rows: list[dict[str, Any]], series: list[Series], *, legend: bool = True, money: bool = False
) -> dict[str, Any]:
    return {
        "svg": charts.bar_chart(title=title, rows=rows, series=series, money=money),
        "legend": charts.legend(series) if legend else "",
        "table": charts.data_table(rows, series, money=money),
    }


@staff_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    seat, zone, now = _seat(request), _zone(request), clock.now()
    period = _period(request, zone, now)
    start = run_selectors.day_start(period["first"], zone)
    end = run_selectors.day_start(period["last"] + dt.timedelta(days=1), zone)
    board = dash.dashboard_get(workspace_id=seat.workspace.pk, start=start, end=end, zone=zone, now=now)
    runs_url = reverse("staff:runs")
    first, last = period["first"], period["last"]

    def rows(metric: str, keys: tuple[str, ...], **link: Any) -> list[dict[str, Any]]:
        out = []
        for row in board.per_day(metric, keys):
            day = row["day"]
            href = _days_link(runs_url, day, day, **link) if link is not None else ""
            out.append({**row, "label": f"{day:%a %d %b}", "short": f"{day:%d}", "href": href})
        return out

    message_series = [Series("in", "Received", PALETTE["in"]), Series("out", "Sent", PALETTE["out"])]
    message_rows = []
    for row_in, row_out in zip(board.per_day("msg_in"), board.per_day("msg_out"), strict=True):
        day = row_in["day"]
        message_rows.append(
            {
                "day": day,
                "label": f"{day:%a %d %b}",
                "short": f"{day:%d}",
                "values": {"in": row_in["total"], "out": row_out["total"]},
                "total": row_in["total"] + row_out["total"],
                "href": _days_link(runs_url, day, day, action="messages", level="all"),
            }
        )
    run_statuses = ("succeeded", "failed", "canceled", "running", "waiting", "pending")
    run_series = [Series(s, s.capitalize(), PALETTE[s]) for s in run_statuses]
    run_rows = rows("runs", run_statuses)
    opt_rows = rows("opt_out", ("",))
    for row in opt_rows:
        row["href"] = ""  # consent events live in the admin (Compliance → Consent events)
    currencies = tuple(sorted(board.totals.get("spend", {}))) or ("USD",)
    spend_rows = rows("spend", currencies)
    opt_series = [Series("", "Opt-outs", PALETTE["opt_out"])]
    spend_series = [Series(c, c, PALETTE["spend"]) for c in currencies]
    charts_ = {
        "messages": _chart("Messages received and sent per day", message_rows, message_series),
        "runs": _chart("Runs per day by status", run_rows, run_series),
        "opt_outs": _chart("Opt-outs per day", opt_rows, opt_series, legend=False),
        "spend": _chart("Estimated spend per day", spend_rows, spend_series, legend=False, money=True),
    }
    calls = [
        {"outcome": outcome, "count": int(board.total("calls", outcome))} for outcome in dash.CALL_OUTCOMES
    ]
    context = {
        "period": period,
        "periods": PERIODS,
        "board": board,
        "charts": charts_,
        "funnel": board.funnel(),
        "errors": board.top_errors(),
        "calls": calls,
        "call_minutes": int(board.total("call_minutes")),
        "spend_total": {c: board.total("spend", c) for c in currencies},
        "totals": {
            "in": int(board.total("msg_in")),
            "out": int(board.total("msg_out")),
            "runs": int(board.total("runs")),
            "opt_outs": int(board.total("opt_out")),
        },
        "range_query": urlencode({"day_from": first.isoformat(), "day_to": last.isoformat()}),
        "has_activity": bool(board.totals) or any(board.live.values()),
    }
    if request.htmx and request.GET.get("part") == "live":  # type: ignore[attr-defined]
        return render(request, "staff/_live_counters.html", context)
    return render(request, "staff/dashboard.html", context)


# --- inbox --------------------------------------------------------------------------------
def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page") or 1), 10_000))
    except ValueError:
        return 1


@staff_view()
def inbox_list(request: HttpRequest) -> HttpResponse:
    seat = _seat(request)
    numbers = inbox.our_numbers(seat.workspace.pk)
    channel, number = request.GET.get("channel") or "", request.GET.get("number") or ""
    filters: dict[str, Any] = {
        "search": (request.GET.get("q") or "")[:100],
        "channel": channel if channel in dict(inbox.CHANNELS) else "",
        "number": number if number in numbers else "",
        "needs_reply": request.GET.get("needs_reply") == "1",
    }
    page = _page_number(request)
    conversations, more = inbox.conversation_list(
        workspace_id=seat.workspace.pk,
        user=request.user,
        page=page,
        search=filters["search"],
        channel=filters["channel"],
        number=filters["number"],
        needs_reply=filters["needs_reply"],
    )
    context = {
        "conversations": conversations,
        "more": more,
        "page": page,
        "filters": filters,
        "numbers": numbers,
        "channels": inbox.CHANNELS,
        "filtered": any(filters.values()),
        "query": urlencode({k: v for k, v in request.GET.items() if k != "page"}),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "staff/_conversation_list.html", context)
    return render(request, "staff/inbox.html", context)


def _thread(request: HttpRequest, contact: str, number: str) -> dict[str, Any]:
    seat = _seat(request)
    thread = inbox.conversation_messages(workspace_id=seat.workspace.pk, contact=contact, number=number)
    if not thread:
        raise Http404("No conversation with this contact on this number in this workspace.")
    return {"contact": contact, "number": number, "thread": thread}


def _reply_channel(thread: list[inbox.Message]) -> str:
    for message in reversed(thread):
        if message.direction == "in":
            return "whatsapp" if message.channel == "whatsapp" else "sms"
    return "whatsapp" if thread and thread[-1].channel == "whatsapp" else "sms"


def _conversation_context(request: HttpRequest, contact: str, number: str) -> dict[str, Any]:
    seat = _seat(request)
    context = _thread(request, contact, number)
    state = inbox.contact_state(
        workspace_id=seat.workspace.pk, contact=contact, number=number, now=clock.now()
    )
    channel = request.POST.get("channel") or _reply_channel(context["thread"])
    context.update(
        state=state,
        channel=channel if channel in ("sms", "whatsapp") else "sms",
        # Only a WhatsApp conversation needs them (a scan of the last month's sends).
        templates=inbox.whatsapp_templates_used(seat.workspace.pk)
        if any(m.channel == "whatsapp" for m in context["thread"])
        else [],
        poll_seconds=THREAD_POLL_SECONDS,
        last_at=context["thread"][-1].at.isoformat(),
    )
    return context


def _read(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Show the conversation, which marks it read for this user."""
    conversation_mark_read(
        user=request.user,
        workspace_id=_seat(request).workspace.pk,
        contact=context["contact"],
        number=context["number"],
        at=clock.now(),
    )
    return render(request, template, context)


@staff_view()
def conversation(request: HttpRequest, number: str, contact: str) -> HttpResponse:
    return _read(request, "staff/conversation.html", _conversation_context(request, contact, number))


@staff_view()
def conversation_thread(request: HttpRequest, number: str, contact: str) -> HttpResponse:
    """The thread alone (htmx polling): new messages and delivery ticks without a reload."""
    return _read(request, "staff/_thread.html", _thread(request, contact, number))


def _reply_fields(request: HttpRequest) -> dict[str, Any]:
    media = [u.strip() for u in (request.POST.get("media_urls") or "").split() if u.strip()][:10]
    return {
        "body": (request.POST.get("body") or "")[:1600],
        "media_urls": media,
        "content_sid": (request.POST.get("content_sid") or "").strip()[:34],
        "content_variables": (request.POST.get("content_variables") or "").strip()[:2000],
    }


def _reply_connection(request: HttpRequest, thread: list[inbox.Message]) -> Connection | None:
    connection_id = inbox.conversation_connection_id(thread)
    if connection_id is None:
        return None
    return Connection.objects.filter(pk=connection_id, workspace_id=_seat(request).workspace.pk).first()


@staff_view()
def reply_estimate(request: HttpRequest, number: str, contact: str) -> HttpResponse:
    """Segments, cost and what the send gate would say, while the operator types."""
    seat = _seat(request)
    source = request.POST if request.method == "POST" else request.GET
    channel = "whatsapp" if source.get("channel") == "whatsapp" else "sms"
    body = (source.get("body") or "")[:1600]
    info = segment_info(body)
    context: dict[str, Any] = {"info": info, "length": len(body), "channel": channel, "decision": None}
    thread = inbox.conversation_messages(
        workspace_id=seat.workspace.pk, contact=contact, number=number, limit=5
    )
    if not thread:
        raise Http404("No conversation with this contact on this number in this workspace.")
    connection = _reply_connection(request, thread)
    if connection is not None and (body or source.get("content_sid")):
        slug, inputs = reply_action_and_inputs(
            channel=channel,
            contact=contact,
            number=number,
            body=body,
            content_sid=(source.get("content_sid") or "").strip()[:34],
        )
        decision = send_gate(
            workspace=seat.workspace, connection=connection, action=slug, inputs=inputs, record=False
        )
        context["decision"] = decision
        context["refused"] = decision.verdict == REFUSE
    return render(request, "staff/_estimate.html", context)


@require_POST
@staff_view(act=True)
def reply(request: HttpRequest, number: str, contact: str) -> HttpResponse:
    context = _conversation_context(request, contact, number)
    fields = _reply_fields(request)
    connection = _reply_connection(request, context["thread"])
    form_error = ""
    if connection is None:
        form_error = "No Twilio connection of this workspace can send from this number."
    elif not (fields["body"].strip() or fields["media_urls"] or fields["content_sid"]):
        form_error = "Write a message (or add a media URL, or pick a template) first."
    if not form_error:
        last_in = next((m for m in reversed(context["thread"]) if m.direction == "in"), None)
        answering = (
            {"From": last_in.contact, "To": last_in.number, "Body": last_in.body, "MessageSid": last_in.sid}
            if last_in
            else None
        )
        try:
            run = inbox_reply(
                connection=connection,
                user=request.user,
                channel=context["channel"],
                contact=contact,
                number=number,
                answering=answering,
                **fields,
            )
        except TwilioFlowError as error:
            form_error = redact_text(error.message)
        else:
            if run.status == RunStatus.FAILED:
                form_error = f"Not sent ({run.error_code}): {redact_text(run.error_message)}"
            else:
                messages.success(
                    request, "Reply sent." if run.status == RunStatus.SUCCEEDED else "Reply queued."
                )
                return redirect("staff:conversation", number=number, contact=contact)
    context = _conversation_context(request, contact, number)
    context.update(form_error=form_error, draft=fields)
    return render(request, "staff/conversation.html", context, status=400 if form_error else 200)


# --- runs -------------------------------------------------------------------------------------
RUN_FILTERS = (
    "status",
    "source",
    "workflow",
    "q",
    "error",
    "delivery",
    "action",
    "day_from",
    "day_to",
    "level",
)


@staff_view()
def run_list(request: HttpRequest) -> HttpResponse:
    seat = _seat(request)
    filters = {name: request.GET.get(name, "")[:100] for name in RUN_FILTERS}
    runs = run_selectors.run_list(workspace_id=seat.workspace.pk, filters=filters, zone=_zone(request))
    # Newer/older links without COUNT(*): counting a workspace's runs was most of this page's
    # time on a large audit log.
    number = _page_number(request)
    start = (number - 1) * run_selectors.PAGE_SIZE
    rows: list[Any] = list(runs[start : start + run_selectors.PAGE_SIZE + 1])
    has_next, rows = len(rows) > run_selectors.PAGE_SIZE, rows[: run_selectors.PAGE_SIZE]
    for row in rows:
        row.recipient = getattr(row, "_recipient", "")  # templates cannot read "_" names
    context = {
        "page": number,
        "has_next": has_next,
        "runs": rows,
        "filters": filters,
        "filtered": any(filters.values()),
        "statuses": RunStatus.choices,
        "sources": run_selectors.SOURCES,
        "workflows": run_selectors.workflows_of(seat.workspace.pk),
        "deliveries": list(run_selectors.DELIVERY_GROUPS),
        "error_meaning": error_meaning(filters["error"]) if filters["error"] else "",
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "live": any(r.status in LIVE_RUN_STATUSES for r in rows),
    }
    return render(request, "staff/runs.html", context)


def _run_or_404(request: HttpRequest, run_id: int):
    """The run when it belongs to one of the user's workspaces (which becomes the current
    one), else 404: another workspace's run does not exist."""
    run = run_selectors.run_for_user(run_id=run_id, workspace_ids=workspace_ids_for_user(request.user))
    if run is None:
        raise Http404("No such run in your workspaces.")
    seat = _seat(request)
    if run.workspace_id != seat.workspace.pk:
        seat_switch(request, run.workspace_id)
        seat.workspace = run.workspace
    return run


@staff_view()
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(request, run_id)
    context = {
        "run": run,
        "timeline": run_timeline(run),
        "live": run.status in LIVE_RUN_STATUSES,
        "replays": list(run.replays.order_by("id")[:20]),
    }
    return render(request, "staff/run.html", context)


@staff_view(act=True)
def run_replay_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """GET: what replaying would send, and a Confirm button. POST with confirm: replay."""
    run = _run_or_404(request, run_id)
    sends = runs_sends([run.pk])[run.pk]
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        new = run_replay(run=run)
        messages.success(request, f"Run {run.pk} replayed as run {new.pk}.")
        return redirect("staff:run", run_id=new.pk)
    return render(
        request, "staff/confirm_replay.html", {"run": run, "sends": sends, "sentence": sends_sentence(sends)}
    )


@require_POST
@staff_view(act=True)
def run_cancel_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(request, run_id)
    user = request.user.get_username()
    if run_cancel(run=run, reason=f"Canceled by {user} on the staff pages."):
        messages.success(request, f"Run {run.pk} canceled.")
    else:
        messages.info(request, f"Run {run.pk} had already finished.")
    return redirect("staff:run", run_id=run.pk)
