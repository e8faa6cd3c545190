"""The triggers of a workflow, inline on the workflow's page (registered on the workflow
admin in `TriggersConfig.ready`: workflows never imports triggers).

Kind, connection (of the workflow's workspace), our numbers as a multi-select of the
workspace's synced numbers (other numbers may still be typed), From pattern, keywords,
instant reply, the voice answer (shown for call triggers only), and the URL to give Twilio.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from triggers.kinds.registry import trigger_kinds
from triggers.models import PhoneNumber, Trigger
from triggers.numbers import trigger_webhook_url
from twilioflow.core.admin_display import copy_box
from twilioflow.core.errors import TwilioFlowError
from workflows.admin.workflow import page_workspace
from workflows.forms import JSON_ATTRS, PrettyJSONField
from workspaces.admin_mixins import ParentWorkspaceConnectionsMixin, WorkspaceScopedInlineMixin


def synced_number_choices(workspace_id: int | None) -> list[tuple[str, str]]:
    if not workspace_id:
        return []
    rows = (
        PhoneNumber.objects.filter(connection__workspace_id=workspace_id)
        .order_by("phone_number")
        .values_list("phone_number", "friendly_name")
    )
    return [(number, f"{number} · {name}" if name and name != number else number) for number, name in rows]


class TriggerInlineForm(forms.ModelForm):
    name = forms.CharField(
        required=False, max_length=120, help_text="Optional; the kind's title when left blank."
    )
    numbers_pick = forms.MultipleChoiceField(
        required=False,
        label="Our numbers",
        help_text="Only messages or calls to these numbers (the To); none selected means any.",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    numbers_other = forms.CharField(
        required=False,
        label="Other numbers",
        help_text="Numbers not synced yet, comma-separated (E.164).",
    )
    voice_answer = PrettyJSONField(
        required=False,
        label="Voice answer",
        help_text='How the call is answered, e.g. {"action": "say", "message": "Thanks for calling"}; '
        "actions: say, play, gather, dial, record, reject, hangup.",
        widget=forms.Textarea(attrs={**JSON_ATTRS, "rows": 3}),
    )

    class Meta:
        model = Trigger
        fields = [
            "name",
            "kind",
            "connection",
            "enabled",
            "from_pattern",
            "keywords",
            "reply_message",
            "voice_answer",
            "fire_while_waiting",
        ]
        widgets = {"reply_message": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args, number_choices: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(number_choices or [])
        known = {value for value, _ in choices}
        current = self.instance.numbers if isinstance(self.instance.numbers, list) else []
        pick = self.fields["numbers_pick"]
        assert isinstance(pick, forms.MultipleChoiceField)
        pick.choices = choices
        if not self.is_bound:
            self.initial["numbers_pick"] = [n for n in current if n in known]
            self.initial["numbers_other"] = ", ".join(str(n) for n in current if n not in known)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None
        numbers = list(cleaned.get("numbers_pick") or [])
        other = cleaned.get("numbers_other") or ""
        typed = [n.strip() for n in other.replace("\n", ",").split(",") if n.strip()]
        numbers += [n for n in typed if n not in numbers]
        self.instance.numbers = numbers
        if not cleaned.get("name"):
            kind = trigger_kinds().get(cleaned.get("kind") or "")
            cleaned["name"] = kind.title if kind is not None else "Trigger"
        if cleaned.get("voice_answer") is None:
            cleaned["voice_answer"] = {}
        return cleaned

    def has_changed(self) -> bool:
        return super().has_changed()


class TriggerInlineFormSet(BaseInlineFormSet):
    workspace = None  # set by the inline: the page's workspace
    number_choices: list[tuple[str, str]] = []

    def __init__(self, data=None, files=None, instance=None, save_as_new=False, prefix=None, **kwargs):
        # A post without the trigger rows (an older page, a script posting the steps only)
        # leaves the triggers as they are instead of failing on the missing management form.
        name = f"{prefix or self.get_default_prefix()}-TOTAL_FORMS"
        if data is not None and name not in data:
            data = data.copy()
            for key in ("TOTAL_FORMS", "INITIAL_FORMS"):
                data[f"{prefix or self.get_default_prefix()}-{key}"] = "0"
        super().__init__(data, files, instance, save_as_new, prefix, **kwargs)

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        kwargs["number_choices"] = self.number_choices
        return kwargs

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)  # type: ignore[misc]  # private Django API
        if self.instance.workspace_id:
            form.instance.workspace_id = self.instance.workspace_id
        return form

    def save_new(self, form, commit=True):
        form.instance.workspace_id = self.instance.workspace_id
        return super().save_new(form, commit=commit)


class TriggerInline(ParentWorkspaceConnectionsMixin, WorkspaceScopedInlineMixin, admin.StackedInline):
    model = Trigger
    form = TriggerInlineForm
    formset = TriggerInlineFormSet
    parent_workspace_path = "workspace"
    extra = 0
    verbose_name = "trigger"
    verbose_name_plural = "Triggers (what starts this workflow)"
    fields = [
        ("kind", "connection", "enabled"),
        "name",
        "webhook_url",
        ("numbers_pick", "numbers_other"),
        ("from_pattern", "keywords"),
        "reply_message",
        "voice_answer",
        "fire_while_waiting",
    ]
    readonly_fields = ["webhook_url"]

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        workspace = page_workspace(request, obj)
        formset.workspace = workspace
        formset.number_choices = synced_number_choices(workspace.pk if workspace else None)
        return formset

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Trigger | None):
        if obj is None or obj.pk is None:
            return "Save to see the URL Twilio must call for this trigger."
        kind = trigger_kinds().get(obj.kind)
        if kind is not None and kind.purpose == "poll":
            return f"No webhook: polled every {obj.poll_interval_minutes} minutes."
        try:
            url = trigger_webhook_url(obj)
        except TwilioFlowError as error:
            return error.message
        if not url:
            return "—"
        return format_html('<span class="tf-copy-url">{}</span>', copy_box(url))


def trigger_inline_register() -> None:
    from workflows.admin.workflow import workflow_inline_register

    workflow_inline_register(TriggerInline)
