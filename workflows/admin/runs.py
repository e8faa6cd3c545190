"""RunAdmin: the read-only audit log of runs, with the step timeline on each run's page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from twilioflow.core.admin_display import (
    admin_link,
    format_duration,
    format_duration_ms,
    pretty_json,
    redacted_json_html,
    run_link,
    run_links,
    run_url,
    status_badge,
)
from twilioflow.core.redaction import redact_text
from workflows.models import LIVE_RUN_STATUSES, Run, StepStatus
from workflows.selectors import run_timeline
from workflows.services import run_cancel, run_replay
from workspaces.admin_mixins import ReadOnlyRecordAdminMixin

UNKNOWN_BANNER = (
    "Outcome unknown: not resent. Check the recipient and the Twilio console, then replay if needed."
)
# While a run is live its page reloads itself this often (progress of a background run).
LIVE_REFRESH_SECONDS = 3


# --- runs: the read-only audit log -----------------------------------------------------------
@admin.register(Run)
class RunAdmin(ReadOnlyRecordAdminMixin, admin.ModelAdmin):
    workspace_path = "workspace"
    change_form_template = "admin/workflows/run/change_form.html"
    list_display = ["id", "workflow_column", "status_badge", "source", "created_at", "duration", "error_code"]
    list_display_links = ["id"]
    list_filter = [
        "status",
        ("workflow", admin.RelatedOnlyFieldListFilter),
        "error_code",
        "source",
        "created_at",
    ]
    list_select_related = ["workflow"]
    date_hierarchy = "created_at"
    search_fields = ["search_text", "=id"]
    search_help_text = "A phone number, a Twilio SID (SM…, CA…) or a run id."
    actions = ["replay_runs", "cancel_runs"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "status_badge",
                    "workflow_link",
                    "workspace",
                    "source",
                    ("created_at", "started_at", "finished_at"),
                    "duration",
                    ("current_step", "waiting_for", "wake_at"),
                ]
            },
        ),
        (
            "Related",
            {"fields": ["trigger_link", "parent_link", "replay_of_link", "replays_links", "children_links"]},
        ),
        ("Trigger and result", {"fields": ["trigger_payload_pretty", "result_pretty"]}),
        ("Error", {"fields": ["error_code", "error_message_redacted"]}),
    ]
    readonly_fields = [
        "status_badge",
        "workflow_link",
        "workspace",
        "source",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "current_step",
        "waiting_for",
        "wake_at",
        "trigger_link",
        "parent_link",
        "replay_of_link",
        "replays_links",
        "children_links",
        "trigger_payload_pretty",
        "result_pretty",
        "error_code",
        "error_message_redacted",
    ]

    # --- columns and summary ---
    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Run):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Duration")
    def duration(self, obj: Run) -> str:
        start = obj.started_at or obj.created_at
        if not obj.finished_at or not start:
            return "—"
        return format_duration((obj.finished_at - start).total_seconds())

    @admin.display(description="Workflow", ordering="workflow__name")
    def workflow_column(self, obj: Run) -> str:
        return obj.label  # "ad-hoc: twilio/send-sms (command)" for a run without a workflow

    @admin.display(description="Workflow")
    def workflow_link(self, obj: Run):
        if obj.workflow is None:
            return obj.label
        return admin_link("admin:workflows_workflow_change", obj.workflow)

    @admin.display(description="Trigger")
    def trigger_link(self, obj: Run):
        trigger = getattr(obj, "trigger", None) if getattr(obj, "trigger_id", None) else None
        if trigger is None:
            return "—"
        return admin_link("admin:triggers_trigger_change", trigger)

    @admin.display(description="Parent run")
    def parent_link(self, obj: Run):
        if not obj.parent_id:
            return "—"
        return format_html("{} (its step #{})", run_link(obj.parent_id), obj.parent_sequence or "?")

    @admin.display(description="Replay of")
    def replay_of_link(self, obj: Run):
        return run_link(obj.replay_of_id) if obj.replay_of_id else "—"

    @admin.display(description="Replays")
    def replays_links(self, obj: Run):
        replays = list(obj.replays.order_by("created_at", "id")[:50])
        return run_links(replays) if replays else "—"

    @admin.display(description="Child runs")
    def children_links(self, obj: Run):
        total = Run.objects.filter(parent=obj).count()
        if not total:
            return "—"
        url = reverse("admin:workflows_run_changelist") + "?" + urlencode({"parent__id__exact": obj.pk})
        return format_html('<a href="{}">{} child runs</a>', url, total)

    @admin.display(description="Error message")
    def error_message_redacted(self, obj: Run) -> str:
        return redact_text(obj.error_message)

    @admin.display(description="Trigger payload")
    def trigger_payload_pretty(self, obj: Run):
        return redacted_json_html(obj.trigger_payload)

    @admin.display(description="Result")
    def result_pretty(self, obj: Run):
        return "—" if obj.result is None else redacted_json_html(obj.result)

    # --- the page ---
    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if run is not None and self.has_view_permission(request, run):
            timeline = timeline_entries(run)
            extra_context.update(
                timeline=timeline,
                unknown_steps=[entry["step_run"] for entry in timeline if entry["unknown"]],
                unknown_banner=UNKNOWN_BANNER,
                can_operate=self._can_operate(request, run),
                run_is_live=run.status in LIVE_RUN_STATUSES,
                live_refresh_seconds=LIVE_REFRESH_SECONDS,
                action_checkbox_name=admin.helpers.ACTION_CHECKBOX_NAME,  # type: ignore[attr-defined]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- actions ---
    @admin.action(description="Replay (a new run with the same payload)", permissions=["operate"])
    def replay_runs(self, request, queryset):
        replays, refused = [], 0
        for run in queryset.select_related("workflow"):
            if not self._can_operate(request, run):
                refused += 1
                continue
            replays.append(run_replay(run=run))
        if refused:
            self.message_user(request, f"Not allowed to replay {refused} run(s).", messages.ERROR)
        if not replays:
            return None
        self.message_user(request, format_html("Started {}.", run_links(replays)), messages.SUCCESS)
        if len(replays) == 1:
            return HttpResponseRedirect(run_url(replays[0].pk))
        return None

    @admin.action(description="Cancel (live runs and their children)", permissions=["operate"])
    def cancel_runs(self, request, queryset):
        runs = list(queryset)
        canceled, final, refused = [], 0, 0
        for run in runs:
            if not self._can_operate(request, run):
                refused += 1
            elif run_cancel(run=run, reason=f"Canceled by {request.user.get_username()} in the admin."):
                canceled.append(run)
            else:
                final += 1
        if refused:
            self.message_user(request, f"Not allowed to cancel {refused} run(s).", messages.ERROR)
        if canceled:
            self.message_user(request, format_html("Canceled {}.", run_links(canceled)), messages.SUCCESS)
        if final:
            self.message_user(request, f"{final} run(s) had already finished.", messages.WARNING)
        if request.POST.get("_return_to_run") and len(runs) == 1:
            return HttpResponseRedirect(run_url(runs[0].pk))  # the button on the run's page
        return None


def _body(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and isinstance(value.get("form"), list):
        # Form parameters are recorded as [name, value] pairs: show them one per line.
        pairs = value["form"]
        value = {
            **value,
            "form": [f"{p[0]}={p[1]}" if isinstance(p, list | tuple) and len(p) == 2 else p for p in pairs],
        }
    return value if isinstance(value, str) else pretty_json(value)



def timeline_entries(run: Run) -> list[dict[str, Any]]:
    """`workflows.selectors.run_timeline`, formatted for the template."""
    changelist = reverse("admin:workflows_run_changelist")
    entries = []
    for row in run_timeline(run):
        step_run = row["step_run"]
        exchanges = [
            {
                "method": exchange.get("method") or "",
                "url": exchange.get("url") or "",
                "status": exchange.get("status"),
                "duration": format_duration_ms(exchange.get("duration_ms")),
                "error": exchange.get("error") or "",
                "request_headers": _body(exchange.get("request_headers")),
                "request_body": _body(exchange.get("request_body")),
                "response_headers": _body(exchange.get("response_headers")),
                "response_body": _body(exchange.get("response_body")),
            }
            for exchange in row["exchanges"]
        ]
        entry: dict[str, Any] = {
            "step_run": step_run,
            "badge": status_badge(step_run.status, step_run.get_status_display()),
            "unknown": step_run.status == StepStatus.UNKNOWN,
            "duration": format_duration_ms(step_run.duration_ms),
            "inputs": pretty_json(row["inputs"]) if row["inputs"] not in (None, {}) else "",
            "output": pretty_json(row["output"]) if row["output"] is not None else "",
            "error_message": row["error_message"],
            "exchanges": exchanges,
            "children": None,
        }
        counts = row["children"]
        if counts:
            query = urlencode({"parent__id__exact": run.pk, "parent_sequence": step_run.sequence})
            entry["children"] = {
                "total": sum(counts.values()),
                "counts": sorted(counts.items()),
                "url": f"{changelist}?{query}",
            }
        entries.append(entry)
    return entries
