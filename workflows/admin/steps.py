"""StepAdmin: a step's "Edit inputs" page, generated from its action's fields."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from actions.pickers import picker_forget
from twilioflow.core.admin_display import admin_link, redacted_json_html
from workflows.forms import StepInputsForm, step_inputs_form_class
from workflows.models import Step
from workspaces.admin_mixins import WorkspaceScopedAdminMixin


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
        return admin_link("admin:workflows_workflow_change", obj.workflow)

    @admin.display(description="Inputs")
    def inputs_pretty(self, obj: Step):
        return redacted_json_html(obj.inputs)

    def response_change(self, request, obj):
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, f"Saved the inputs of step {obj.name!r}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:workflows_workflow_change", args=[obj.workflow_id]))
