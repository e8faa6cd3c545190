"""RunAdmin: the read-only audit log of runs, with the step timeline on each run's page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

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
from workflows.models import LIVE_RUN_STATUSES, Run, RunStatus, StepKind, StepStatus
from workflows.selectors import (
    children_retries,
    run_timeline,
    runs_sends,
    runs_with_recipient,
    sends_sentence,
)
from workflows.services import run_cancel, run_children_retry, run_replay
from workspaces.admin_mixins import ReadOnlyRecordAdminMixin

UNKNOWN_BANNER = (
    "Outcome unknown: not resent. Check the recipient and the Twilio console, then replay if needed."
)
# While a run is live its page reloads itself this often (progress of a background run).
LIVE_REFRESH_SECONDS = 3


# The runs list reloads itself this often while a listed run is live.
LIST_REFRESH_SECONDS = 5
# A confirmation lists at most this many runs by name.
CONFIRM_LISTED = 20


class RunLevelFilter(admin.SimpleListFilter):
    """Top-level runs by default; child runs (of for_each / run_workflow) one click away.
    A link to one run's children (`parent__id__exact`) shows them whatever this says."""

    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("top", "Top-level runs"), ("children", "Child runs"), ("all", "All runs")]

    def choices(self, changelist):
        current = self.value() or "top"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if "parent__id__exact" in request.GET or "parent_sequence" in request.GET:
            return queryset
        value = self.value() or "top"
        if value == "top":
            return queryset.filter(parent__isnull=True)
        if value == "children":
            return queryset.filter(parent__isnull=False)
        return queryset


# --- runs: the read-only audit log -----------------------------------------------------------
# Inlines a higher layer adds to the run page (voice: the call's transcript), registered in
# its AppConfig.ready; workflows never imports it.
RUN_INLINES: list[type] = []


def run_inline_register(inline: type) -> None:
    if inline not in RUN_INLINES:
        RUN_INLINES.append(inline)


@admin.register(Run)
class RunAdmin(ReadOnlyRecordAdminMixin, admin.ModelAdmin):
    workspace_path = "workspace"
    change_form_template = "admin/workflows/run/change_form.html"
    change_list_template = "admin/workflows/run/change_list.html"
    list_display = [
        "id",
        "workflow_column",
        "status_badge",
        "source",
        "recipient",
        "created_at",
        "duration",
        "error_column",
    ]
    list_display_links = ["id"]

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), *RUN_INLINES] if obj is not None else []

    list_filter = [
        RunLevelFilter,
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
    actions = ["replay_runs", "retry_failed_children", "cancel_runs"]
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
        ("Item (this child run's own)", {"fields": ["item_pretty", "recipient"]}),
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
        "item_pretty",
        "recipient",
        "trigger_payload_pretty",
        "result_pretty",
        "error_code",
        "error_message_redacted",
    ]

    def get_queryset(self, request):
        return runs_with_recipient(super().get_queryset(request))

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None or not obj.parent_id:  # the item section is for child runs only
            fieldsets = [f for f in fieldsets if "item_pretty" not in f[1]["fields"]]
        return fieldsets

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        changelist = context.get("cl") if context is not None else None
        if context is not None and changelist is not None:
            context["runs_live"] = any(r.status in LIVE_RUN_STATUSES for r in changelist.result_list)
            context["list_refresh_seconds"] = LIST_REFRESH_SECONDS
        return response

    # --- columns and summary ---
    @admin.display(description="Recipient")
    def recipient(self, obj: Run) -> str:
        found = getattr(obj, "_recipient", None)
        if found:
            return found
        item = (obj.context or {}).get("item")
        if isinstance(item, dict):
            for key in ("To", "to", "phone", "number"):
                if item.get(key):
                    return str(item[key])
        return "—"

    @admin.display(description="Error", ordering="error_code")
    def error_column(self, obj: Run):
        if not obj.error_code and not obj.error_message:
            return "—"
        message = redact_text(obj.error_message)
        return format_html(
            '<span class="tf-error" title="{}"><code>{}</code> {}</span>',
            message,
            obj.error_code or "",
            Truncator(message).chars(90),
        )

    @admin.display(description="Item")
    def item_pretty(self, obj: Run):
        context = obj.context or {}
        index = context.get("index")
        block = redacted_json_html(context.get("item"))
        if index is None:
            return block
        return format_html("<p>Item #{} of the parent's list</p>{}", index + 1, block)

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
        if obj.parent_id:  # the parent's payload (a whole list, often): folded away
            return format_html(
                "<details><summary>The parent run's trigger payload (this run's item is above)"
                "</summary>{}</details>",
                redacted_json_html(obj.trigger_payload),
            )
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
            failed_children = sum(
                (entry["children"] or {}).get("failed", 0) for entry in timeline if entry["children"]
            )
            extra_context.update(
                failed_children=failed_children,
                children_retries=children_retries(run) if failed_children else [],
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
    def _confirm(
        self,
        request,
        runs: list[Run],
        *,
        action: str,
        title: str,
        question: str,
        sends: list[dict],
        notes: Sequence[str] = (),
    ):
        """The intermediate page of an action that would send: what it sends, then Confirm."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "question": question,
            "sends_text": sends_sentence(sends) if sends else "",
            "send_count": len(sends),
            "notes": notes,
            "runs": runs[:CONFIRM_LISTED],
            "more_runs": max(0, len(runs) - CONFIRM_LISTED),
            "action": action,
            "selected": [run.pk for run in runs],
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,  # type: ignore[attr-defined]
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/workflows/run/confirm_action.html", context)

    @admin.action(description="Replay (a new run with the same payload)", permissions=["operate"])
    def replay_runs(self, request, queryset):
        allowed, refused = [], 0
        for run in queryset.select_related("workflow"):
            if self._can_operate(request, run):
                allowed.append(run)
            else:
                refused += 1
        if allowed and not request.POST.get("confirm"):
            sends = [send for found in runs_sends(r.pk for r in allowed).values() for send in found]
            if sends:  # Never surprised: say what it will send, and ask.
                if refused:
                    self.message_user(request, f"Not allowed to replay {refused} run(s).", messages.ERROR)
                what = "this run" if len(allowed) == 1 else f"these {len(allowed)} runs"
                return self._confirm(
                    request,
                    allowed,
                    action="replay_runs",
                    title="Replay and send again?",
                    question=f"Replaying {what} will send {sends_sentence(sends)} again "
                    f"({len(sends)} send{'s' if len(sends) != 1 else ''} in all), "
                    "as the original runs did.",
                    sends=sends,
                )
        replays = [run_replay(run=run) for run in allowed]
        if refused:
            self.message_user(request, f"Not allowed to replay {refused} run(s).", messages.ERROR)
        if not replays:
            return None
        self.message_user(request, format_html("Started {}.", run_links(replays)), messages.SUCCESS)
        if len(replays) == 1:
            return HttpResponseRedirect(run_url(replays[0].pk))
        return None

    @admin.action(
        description="Retry failed children (of for_each / sub-workflow steps)", permissions=["operate"]
    )
    def retry_failed_children(self, request, queryset):
        parents = [run for run in queryset if self._can_operate(request, run)]
        if not request.POST.get("confirm"):
            failed = list(Run.objects.filter(parent__in=parents, status=RunStatus.FAILED).order_by("id"))
            if not failed:
                self.message_user(request, "No failed child runs to retry.", messages.WARNING)
                return None
            sends = [send for found in runs_sends(r.pk for r in failed).values() for send in found]
            unknown = (
                Run.objects.filter(
                    pk__in=[r.pk for r in failed],
                    step_runs__status__in=[StepStatus.UNKNOWN, StepStatus.DISPATCHING],
                )
                .distinct()
                .count()
            )
            notes = []
            if unknown:
                notes.append(
                    f"{unknown} of them will not be retried: a step's outcome is unknown "
                    "(it may have sent). Check the recipient and the Twilio console, then "
                    "replay it by hand if needed."
                )
            question = (
                f"Retry {len(failed)} failed child run{'s' if len(failed) != 1 else ''}, "
                "each as a new run with its own item."
            )
            if sends:
                question += (
                    f" Before failing they sent {sends_sentence(sends)}; "
                    "a retry starts from the first step and sends those again."
                )
            return self._confirm(
                request,
                parents,
                action="retry_failed_children",
                title="Retry failed children?",
                question=question,
                sends=sends,
                notes=notes,
            )
        retried, unknown, already = [], 0, 0
        for parent in parents:
            done = run_children_retry(run=parent)
            retried += done.runs
            unknown += len(done.unknown)
            already += done.already
        if retried:
            self.message_user(request, format_html("Retrying: {}.", run_links(retried)), messages.SUCCESS)
        if unknown:
            self.message_user(
                request,
                f"{unknown} child run(s) not retried: a step's outcome is "
                "unknown (it may have sent). Check Twilio, then replay by hand.",
                messages.WARNING,
            )
        if already:
            self.message_user(
                request, f"{already} child run(s) were retried before; see their retries.", messages.INFO
            )
        if request.POST.get("_return_to_run") and len(parents) == 1:
            return HttpResponseRedirect(run_url(parents[0].pk))
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
                "failed": counts.get("failed", 0),
                "summary": children_sentence(
                    counts, sends=step_run.kind == StepKind.FOR_EACH and row.get("children_send", False)
                ),
                "url": f"{changelist}?{query}",
                "failed_url": f"{changelist}?{query}&status__exact=failed",
            }
        entries.append(entry)
    return entries


def children_sentence(counts: dict[str, int], *, sends: bool = False) -> str:
    """ "3 sent, 2 failed" (children that send) or "3 succeeded, 2 failed, 1 running"."""
    done = "sent" if sends else "succeeded"
    order = [("succeeded", done), ("failed", "failed"), ("canceled", "canceled")]
    parts = [f"{counts[key]} {word}" for key, word in order if counts.get(key)]
    live = sum(counts.get(s, 0) for s in LIVE_RUN_STATUSES)
    if live:
        parts.append(f"{live} running")
    return ", ".join(parts) or "none"
