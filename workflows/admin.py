"""Workflows, their steps and their runs in the admin, all scoped to the user's workspaces.

- WorkflowAdmin: the workflow with its steps inline (cross-step checks in the formset), and the
  actions Run now (payload page), Duplicate, Enable, Disable.
- StepAdmin: not in the index; its change page is "Edit inputs", a form generated from the
  action's field declaration (pickers as datalists) with a JSON box for everything else.
- RunAdmin: strictly read-only, the audit log. Its page shows the run and the step timeline;
  Replay and Cancel are actions for members with an editing role.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from twilioflow.core.redaction import redact_data, redact_text
from workflows.forms import (
    RunNowForm,
    StepInlineForm,
    StepInlineFormSet,
    StepInputsForm,
    WorkflowAdminForm,
    pretty_json,
    step_inputs_form_class,
)
from workflows.models import (
    LIVE_RUN_STATUSES,
    Run,
    RunStatus,
    Step,
    StepKind,
    StepRun,
    StepStatus,
    Workflow,
)
from workflows.services import run_cancel, run_create, run_replay
from workspaces.admin_mixins import (
    ReadOnlyRecordAdminMixin,
    WorkspaceScopedAdminMixin,
    WorkspaceScopedInlineMixin,
)

UNKNOWN_BANNER = (
    "Outcome unknown: not resent. Check the recipient and the Twilio console, then replay if needed."
)
_COLOURS: dict[str, str] = {
    RunStatus.SUCCEEDED: "#2e7d32",
    RunStatus.FAILED: "#c62828",
    RunStatus.CANCELED: "#6d4c41",
    RunStatus.RUNNING: "#1565c0",
    RunStatus.WAITING: "#6a1b9a",
    RunStatus.PENDING: "#757575",
    StepStatus.DISPATCHING: "#1565c0",
    StepStatus.SKIPPED: "#9e9e9e",
    StepStatus.UNKNOWN: "#e65100",
}
_STEP_FIELDS = ["position", "name", "kind", "action", "connection", "inputs", "on_error", "max_retries"]


def status_badge_html(status: str, label: str | None = None):
    return format_html(
        '<span class="tf-badge" style="background:{}">{}</span>',
        _COLOURS.get(status, "#757575"),
        label or status,
    )


def pre_json(value: Any):
    # Redacted again on display: records stored before a redaction rule existed stay safe.
    return format_html('<pre class="tf-json">{}</pre>', pretty_json(redact_data(value)))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def run_url(run_id: int) -> str:
    return reverse("admin:workflows_run_change", args=[run_id])


def run_link(run_id: int, text: str | None = None):
    return format_html('<a href="{}">{}</a>', run_url(run_id), text or f"Run {run_id}")


def workflow_link_html(workflow: Workflow):
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:workflows_workflow_change", args=[workflow.pk]), workflow
    )


def _links(runs) -> Any:
    return format_html_join(", ", '<a href="{}">{}</a>', ((run_url(r.pk), f"run {r.pk}") for r in runs))


# --- workflows -------------------------------------------------------------------------------
class StepInline(WorkspaceScopedInlineMixin, admin.StackedInline):
    model = Step
    form = StepInlineForm
    formset = StepInlineFormSet
    parent_workspace_path = "workspace"
    ordering = ["position", "id"]
    fields = [
        ("position", "name", "kind"),
        ("action", "connection"),
        "inputs",
        ("on_error", "max_retries"),
        "edit_inputs",
    ]
    readonly_fields = ["edit_inputs"]
    extra = 0

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def get_formset(self, request, obj=None, **kwargs):
        # Seen by formfield_for_foreignkey: offer only the workflow's own connections.
        request._twilioflow_step_parent = obj
        formset = super().get_formset(request, obj, **kwargs)
        formset.request_user = request.user  # type: ignore[attr-defined]  # whose role decides credential-bearing steps
        return formset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        parent = getattr(request, "_twilioflow_step_parent", None)
        if db_field.name == "connection" and field is not None and parent is not None and parent.pk:
            field.queryset = field.queryset.filter(workspace_id=parent.workspace_id)
        return field

    @admin.display(description="Inputs form")
    def edit_inputs(self, obj: Step | None):
        if obj is None or obj.pk is None:
            return "Save the workflow first, then edit the inputs in a form."
        return format_html(
            '<a href="{}">Edit inputs in a form →</a>', reverse("admin:workflows_step_change", args=[obj.pk])
        )


@admin.register(Workflow)
class WorkflowAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    form = WorkflowAdminForm
    list_display = ["name", "workspace", "enabled", "step_count", "last_run", "updated_at"]
    list_filter = ["enabled", ("workspace", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["workspace"]
    search_fields = ["name", "description"]
    fields = ["workspace", "name", "description", "enabled", "default_variables", "runs_link"]
    readonly_fields = ["runs_link"]
    inlines = [StepInline]
    actions = ["run_now", "duplicate_workflows", "enable_workflows", "disable_workflows"]
    save_on_top = True

    def get_queryset(self, request):
        last = Run.objects.filter(workflow=OuterRef("pk")).order_by("-created_at", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                _step_count=Count("steps", distinct=True),
                _last_run_id=Subquery(last.values("id")[:1]),
                _last_run_status=Subquery(last.values("status")[:1]),
                _last_run_at=Subquery(last.values("created_at")[:1]),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("workspace")  # runs and connections belong to it
        return readonly

    def get_urls(self):
        return [
            path(
                "<path:object_id>/run-now/",
                self.admin_site.admin_view(self.run_now_view),
                name="workflows_workflow_run_now",
            ),
            *super().get_urls(),
        ]

    # --- columns ---
    @admin.display(description="Steps", ordering="_step_count")
    def step_count(self, obj: Workflow) -> int:
        count = getattr(obj, "_step_count", None)
        return obj.steps.count() if count is None else count

    @admin.display(description="Last run", ordering="_last_run_at")
    def last_run(self, obj: Workflow):
        run_id = getattr(obj, "_last_run_id", None)
        if not run_id:
            return "—"
        status = obj._last_run_status  # type: ignore[attr-defined]  # queryset annotation
        label = RunStatus(status).label if status in RunStatus.values else status
        when = obj._last_run_at.strftime("%Y-%m-%d %H:%M") if obj._last_run_at else ""  # type: ignore[attr-defined]
        return format_html('<a href="{}">{}</a> {}', run_url(run_id), status_badge_html(status, label), when)

    @admin.display(description="Runs")
    def runs_link(self, obj: Workflow):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:workflows_run_changelist") + "?" + urlencode({"workflow__id__exact": obj.pk})
        count = obj.runs.count()
        return format_html('<a href="{}">{} run{}</a>', url, count, "" if count == 1 else "s")

    def save_formset(self, request, form, formset, change):
        if formset.model is Step:
            # Only the steps this user actually changed become theirs: saving the page does
            # not approve someone else's step.
            for step_form in formset.forms:
                if step_form.has_changed() and not formset._should_delete_form(step_form):
                    step_form.instance.updated_by = request.user
        super().save_formset(request, form, formset, change)

    # --- Run now ---
    def _run_now(self, request, workflows: list[Workflow], *, via_action: bool):
        if request.method == "POST" and "apply" in request.POST:
            form = RunNowForm(request.POST)
            if form.is_valid():
                payload = form.cleaned_data["payload"]
                runs = [run_create(workflow=w, payload=payload, source="admin") for w in workflows]
                disabled = [w.name for w in workflows if not w.enabled]
                self.message_user(
                    request,
                    format_html(
                        "Started {} for {}.",
                        _links(runs),
                        ", ".join(w.name for w in workflows),
                    ),
                    messages.SUCCESS,
                )
                if disabled:
                    self.message_user(
                        request,
                        f"Note: {', '.join(disabled)} is disabled; triggers will not start it.",
                        messages.WARNING,
                    )
                if len(runs) == 1:
                    return HttpResponseRedirect(run_url(runs[0].pk))
                return HttpResponseRedirect(reverse("admin:workflows_run_changelist"))
        else:
            form = RunNowForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Run now",
            "opts": self.opts,
            "form": form,
            "workflows": workflows,
            "via_action": via_action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,  # type: ignore[attr-defined]
        }
        return TemplateResponse(request, "admin/workflows/workflow/run_now.html", context)

    @admin.action(description="Run now (with a test payload)", permissions=["change"])
    def run_now(self, request, queryset):
        workflows = [w for w in queryset if self.has_change_permission(request, w)]
        if not workflows:
            self.message_user(request, "You may not run the selected workflows.", messages.ERROR)
            return None
        return self._run_now(request, workflows, via_action=True)

    def run_now_view(self, request, object_id):
        workflow = self.get_object(request, unquote(object_id))
        if workflow is None:
            # Private ModelAdmin API, not in the stubs.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_change_permission(request, workflow):
            raise PermissionDenied
        return self._run_now(request, [workflow], via_action=False)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        workflow = self.get_object(request, unquote(object_id))
        extra_context["can_run"] = workflow is not None and self.has_change_permission(request, workflow)
        return super().change_view(request, object_id, form_url, extra_context)

    # --- duplicate, enable, disable ---
    @admin.action(description="Duplicate (as a disabled copy)", permissions=["change"])
    def duplicate_workflows(self, request, queryset):
        copies = []
        for workflow in queryset:
            if self.has_change_permission(request, workflow):
                copies.append(workflow_duplicate(workflow, user=request.user))
        if copies:
            self.message_user(
                request,
                format_html(
                    "Created {}.",
                    format_html_join(
                        ", ",
                        '<a href="{}">{}</a>',
                        ((reverse("admin:workflows_workflow_change", args=[c.pk]), c.name) for c in copies),
                    ),
                ),
                messages.SUCCESS,
            )

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        ids = [w.pk for w in queryset if self.has_change_permission(request, w)]
        count = Workflow.objects.filter(pk__in=ids).exclude(enabled=enabled).update(enabled=enabled)
        self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {count} workflow(s).")

    @admin.action(description="Enable", permissions=["change"])
    def enable_workflows(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable_workflows(self, request, queryset):
        self._set_enabled(request, queryset, False)


def _copy_name(workflow: Workflow) -> str:
    max_length: int = Workflow._meta.get_field("name").max_length  # type: ignore[assignment]  # Field: int | None
    taken = set(
        Workflow.objects.filter(
            workspace_id=workflow.workspace_id, name__startswith=workflow.name[: max_length - 20]
        ).values_list("name", flat=True)
    )
    for number in range(1, 1000):
        suffix = " (copy)" if number == 1 else f" (copy {number})"
        name = workflow.name[: max_length - len(suffix)] + suffix
        if name not in taken:
            return name
    raise IntegrityError("No free name for the copy.")  # pragma: no cover


@transaction.atomic
def workflow_duplicate(workflow: Workflow, user=None) -> Workflow:
    """A disabled copy of the workflow and its steps, named "<name> (copy)". The copies are
    `user`'s steps (so a credential-bearing one runs only if `user` may configure it)."""
    copy = Workflow.objects.create(
        workspace_id=workflow.workspace_id,
        name=_copy_name(workflow),
        description=workflow.description,
        enabled=False,
        default_variables=workflow.default_variables,
    )
    Step.objects.bulk_create(
        Step(workflow=copy, updated_by=user, **{f: getattr(step, f) for f in _STEP_FIELDS})
        for step in workflow.steps.order_by("position", "id")
    )
    return copy


# --- steps: the generated inputs form --------------------------------------------------------
@admin.register(Step)
class StepAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    """Reached from "Edit inputs" on a workflow's step; not listed in the admin index."""

    workspace_path = "workflow__workspace"
    form = StepInputsForm
    list_display = ["name", "workflow", "kind", "action", "position"]
    list_select_related = ["workflow"]
    search_fields = ["name", "workflow__name"]
    readonly_fields = ["workflow_link", "name", "kind", "action", "connection", "inputs_pretty"]

    def has_module_permission(self, request) -> bool:
        return False

    def has_add_permission(self, request, *args) -> bool:
        return False  # steps are added on the workflow page

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # ... and removed there

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            refresh = request.method == "GET" and request.GET.get("refresh_pickers")
            if refresh and obj.connection_id and not getattr(request, "_pickers_refreshed", False):
                from actions.pickers import picker_forget

                picker_forget(connection=obj.connection)  # the lists are re-read from Twilio
                request._pickers_refreshed = True  # the admin builds this form more than once
            kwargs["form"] = step_inputs_form_class(obj, user=request.user)
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        # Saving this page is an explicit edit of this one step: it becomes this user's, and
        # an owner or admin saving it approves a credential-bearing request.
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    def get_fieldsets(self, request, obj=None):
        head = (None, {"fields": ["workflow_link", "name", "kind", "action", "connection"]})
        if obj is None or not self.has_change_permission(request, obj):
            return [head, ("Inputs", {"fields": ["inputs_pretty"]})]
        form = self._get_form_for_get_fields(request, obj)  # type: ignore[attr-defined]  # private API
        generated = [name for name in form.base_fields if name.startswith("input__")]
        description = (
            "Generated from the action's fields. Every text field accepts templates such as "
            "{{ trigger.From }}; problems are checked when you save."
            if generated
            else "This step's inputs as a JSON object (see the documentation of the step kind)."
        )
        return [
            head,
            ("Inputs", {"fields": [*generated, "inputs_json"], "description": description}),
            ("On error", {"fields": ["on_error", "max_retries"]}),
        ]

    @admin.display(description="Workflow")
    def workflow_link(self, obj: Step):
        return workflow_link_html(obj.workflow)

    @admin.display(description="Inputs")
    def inputs_pretty(self, obj: Step):
        return pre_json(obj.inputs)

    def response_change(self, request, obj):
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, f"Saved the inputs of step {obj.name!r}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:workflows_workflow_change", args=[obj.workflow_id]))


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
        return status_badge_html(obj.status, obj.get_status_display())

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
        return workflow_link_html(obj.workflow) if obj.workflow is not None else obj.label

    @admin.display(description="Trigger")
    def trigger_link(self, obj: Run):
        trigger = getattr(obj, "trigger", None) if getattr(obj, "trigger_id", None) else None
        if trigger is None:
            return "—"
        try:
            url = reverse("admin:triggers_trigger_change", args=[trigger.pk])
        except NoReverseMatch:
            return str(trigger)
        return format_html('<a href="{}">{}</a>', url, trigger)

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
        return _links(replays) if replays else "—"

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
        return pre_json(obj.trigger_payload)

    @admin.display(description="Result")
    def result_pretty(self, obj: Run):
        return "—" if obj.result is None else pre_json(obj.result)

    # --- the page ---
    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if run is not None and self.has_view_permission(request, run):
            timeline = run_timeline(run)
            extra_context.update(
                timeline=timeline,
                unknown_steps=[entry["step_run"] for entry in timeline if entry["unknown"]],
                unknown_banner=UNKNOWN_BANNER,
                can_operate=self._can_operate(request, run),
                run_is_live=run.status in LIVE_RUN_STATUSES,
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
        self.message_user(request, format_html("Started {}.", _links(replays)), messages.SUCCESS)
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
            self.message_user(request, format_html("Canceled {}.", _links(canceled)), messages.SUCCESS)
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


def run_timeline(run: Run) -> list[dict[str, Any]]:
    """The run's StepRuns in sequence/attempt order, prepared for the template."""
    children: dict[int, dict[str, int]] = defaultdict(dict)
    for row in Run.objects.filter(parent=run).values("parent_sequence", "status").annotate(n=Count("id")):
        children[row["parent_sequence"]][row["status"]] = row["n"]
    changelist = reverse("admin:workflows_run_changelist")
    entries = []
    for step_run in StepRun.objects.filter(run=run).order_by("sequence", "attempt", "id"):
        # Stored redacted; redacted again here for records older than the current rules.
        inputs, output = redact_data(step_run.inputs), redact_data(step_run.output)
        exchanges = []
        for exchange in redact_data(step_run.exchanges or []):
            if not isinstance(exchange, dict):
                continue
            exchanges.append(
                {
                    "method": exchange.get("method") or "",
                    "url": exchange.get("url") or "",
                    "status": exchange.get("status"),
                    "duration": format_duration(
                        exchange["duration_ms"] / 1000 if exchange.get("duration_ms") is not None else None
                    ),
                    "error": exchange.get("error") or "",
                    "request_headers": _body(exchange.get("request_headers")),
                    "request_body": _body(exchange.get("request_body")),
                    "response_headers": _body(exchange.get("response_headers")),
                    "response_body": _body(exchange.get("response_body")),
                }
            )
        entry: dict[str, Any] = {
            "step_run": step_run,
            "badge": status_badge_html(step_run.status, step_run.get_status_display()),
            "unknown": step_run.status == StepStatus.UNKNOWN,
            "duration": format_duration(
                step_run.duration_ms / 1000 if step_run.duration_ms is not None else None
            ),
            "inputs": pretty_json(inputs) if inputs not in (None, {}) else "",
            "output": pretty_json(output) if output is not None else "",
            "error_message": redact_text(step_run.error_message),
            "exchanges": exchanges,
            "children": None,
        }
        if step_run.kind in (StepKind.FOR_EACH, StepKind.RUN_WORKFLOW):
            counts = children.get(step_run.sequence, {})
            if counts:
                query = urlencode({"parent__id__exact": run.pk, "parent_sequence": step_run.sequence})
                entry["children"] = {
                    "total": sum(counts.values()),
                    "counts": sorted(counts.items()),
                    "url": f"{changelist}?{query}",
                }
        entries.append(entry)
    return entries
