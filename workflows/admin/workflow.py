"""WorkflowAdmin: the workflow with its steps inline; Run now, Duplicate, Enable, Disable."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from twilioflow.core.admin_display import run_links, run_url, status_badge
from workflows.editor import editor_answer
from workflows.forms import RunNowForm, StepInlineForm, StepInlineFormSet, WorkflowAdminForm
from workflows.models import RunStatus, Step, Workflow
from workflows.selectors import workflow_names_in, workflows_with_last_run
from workflows.services import run_create, workflow_duplicate, workflows_set_enabled
from workflows.trigger_catalog import sample_payload, trigger_kinds_of
from workspaces.admin_mixins import (
    ParentWorkspaceConnectionsMixin,
    WorkspaceScopedAdminMixin,
    WorkspaceScopedInlineMixin,
)
from workspaces.selectors import sole_workspace_id, workspace_for_user

# Inlines a higher layer adds to the workflow page (triggers registers its TriggerInline in
# its AppConfig.ready), after the steps.
WORKFLOW_INLINES: list[type] = []


def workflow_inline_register(inline: type) -> None:
    if inline not in WORKFLOW_INLINES:
        WORKFLOW_INLINES.append(inline)


def page_workspace(request, obj):
    """The workspace the workflow page is about: the workflow's, else the one posted or
    preselected on the add page (only one the user belongs to)."""
    if obj is not None and obj.pk:
        return obj.workspace
    chosen = request.POST.get("workspace") if request.method == "POST" else request.GET.get("workspace")
    return workspace_for_user(request.user, chosen or sole_workspace_id(request.user))


# --- workflows -------------------------------------------------------------------------------
class StepInline(ParentWorkspaceConnectionsMixin, WorkspaceScopedInlineMixin, admin.StackedInline):
    model = Step
    form = StepInlineForm
    formset = StepInlineFormSet
    parent_workspace_path = "workspace"
    ordering = ["position", "id"]
    fields = [
        ("name", "kind"),
        ("action", "connection"),
        "editor",
        "json_mode",
        "inputs",
        ("on_error", "max_retries"),
        "position",
        "edit_inputs",
    ]
    readonly_fields = ["edit_inputs"]
    extra = 0

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.request_user = request.user  # whose role decides credential-bearing steps
        workspace = page_workspace(request, obj)
        formset.workspace = workspace
        formset.workflow_names = workflow_names_in(workspace.pk if workspace else None)
        return formset

    @admin.display(description="Own page")
    def edit_inputs(self, obj: Step | None):
        if obj is None or obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}">Edit this step on its own page →</a>',
            reverse("admin:workflows_step_change", args=[obj.pk]),
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

    class Media:
        css = {"all": ["workflows/workflow_editor.css"]}
        js = ["workflows/workflow_editor.js"]

    def get_inlines(self, request, obj):
        return [*self.inlines, *WORKFLOW_INLINES]

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if "workspace" not in initial:
            sole = sole_workspace_id(request.user)
            if sole is not None:
                initial["workspace"] = str(sole)
        return initial

    def get_queryset(self, request):
        return workflows_with_last_run(super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("workspace")  # runs and connections belong to it
        return readonly

    def get_urls(self):
        return [
            path(
                "step-editor/",
                self.admin_site.admin_view(self.step_editor_view),
                name="workflows_workflow_step_editor",
            ),
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
        return format_html('<a href="{}">{}</a> {}', run_url(run_id), status_badge(status, label), when)

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

    # --- the step editor's requests (workflows/editor.py) ---
    def step_editor_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        object_id = request.POST.get("_object_id") or ""
        workflow = self.get_object(request, object_id) if object_id else None
        if object_id and workflow is None:
            raise PermissionDenied
        allowed = (
            self.has_change_permission(request, workflow)
            if workflow is not None
            else self.has_add_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        prefix = request.POST.get("_editor_prefix") or ""
        inline = StepInline(self.model, self.admin_site)
        formset = inline.get_formset(request, workflow)(request.POST, instance=workflow or Workflow())
        form = next((f for f in formset.forms if f.prefix == prefix), None)
        if form is None:
            return JsonResponse({"error": f"No step {prefix!r} on the page."}, status=400)
        answer = editor_answer(
            data=request.POST,
            step_form=form,
            op=request.POST.get("_editor_op") or "render",
            workflow_id=workflow.pk if workflow is not None else None,
        )
        return JsonResponse(answer)

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
                        run_links(runs),
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
            # The trigger kind's sample payload, so a first run works as the trigger would.
            kinds = [kind for w in workflows for kind in trigger_kinds_of(w.pk)]
            sample = sample_payload(kinds)
            initial = {"payload": json.dumps(sample, indent=2, ensure_ascii=False)} if sample else None
            form = RunNowForm(initial=initial)
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
                copies.append(workflow_duplicate(workflow=workflow, user=request.user))
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
        count = workflows_set_enabled(ids=ids, enabled=enabled)
        self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {count} workflow(s).")

    @admin.action(description="Enable", permissions=["change"])
    def enable_workflows(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable_workflows(self, request, queryset):
        self._set_enabled(request, queryset, False)
