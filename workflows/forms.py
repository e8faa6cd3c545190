"""Admin forms for workflows: the Step inline, the generated "Edit inputs" form, Run now.

Step.clean reports problems under keys such as "inputs.To" or "inputs.cases.0.goto"; a Django
form only knows its own fields, so `StepErrorsMixin` files each key under the form field that
shows it (the sub-path goes into the message) instead of letting Django raise a ValueError.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Max
from django.forms.models import BaseInlineFormSet
from django.utils.functional import cached_property

from actions.fields import Field
from actions.registry import action_choices, action_get
from twilioflow.core.admin_display import pretty_json as pretty_json
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Step, StepKind, Workflow
from workflows.step_validation import has_template, workflow_problems

logger = logging.getLogger(__name__)

INPUT_PREFIX = "input__"
JSON_ATTRS = {"rows": 8, "cols": 80, "style": "font-family: monospace", "spellcheck": "false"}


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows indented JSON and reads a blank box as `empty_value`."""

    widget = forms.Textarea

    def __init__(self, *args, empty_value: Any = None, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs=JSON_ATTRS))
        super().__init__(*args, **kwargs)
        # Any JSON value (set after CharField's __init__, which sets ""); the stubs type a form
        # field's empty_value as a string.
        self.empty_value = {} if empty_value is None else empty_value  # type: ignore[assignment]

    def to_python(self, value):
        if isinstance(value, str) and not value.strip():
            return self.empty_value
        return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if value is None:  # an unsaved object: show what a blank box means, never "null"
            value = self.empty_value
        return pretty_json(value)

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != (self.empty_value if initial in (None, "") else initial)
        except ValidationError:
            return True


# --- model errors onto form fields -----------------------------------------------------------
class StepErrorsMixin:
    """Route Step.clean's "inputs.<path>" keys to fields this form actually has."""

    fields: dict[str, forms.Field]  # the form this is mixed into has them

    def error_target(self, key: str) -> tuple[str, str]:
        """(form field or NON_FIELD_ERRORS, prefix for the message)."""
        if key in self.fields or key == NON_FIELD_ERRORS:
            return key, ""
        if key == "inputs" or key.startswith("inputs."):
            sub = key.partition(".")[2]
            return self.inputs_target(sub)
        return NON_FIELD_ERRORS, key

    def inputs_target(self, sub: str) -> tuple[str, str]:
        return "inputs", sub

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict"):
            mapped: dict[str, list[ValidationError]] = {}
            for key, error_list in errors.error_dict.items():
                target, prefix = self.error_target(key)
                for error in error_list:
                    if prefix:
                        error = ValidationError(f"{prefix}: {' '.join(error.messages)}")
                    mapped.setdefault(target, []).append(error)
            errors = ValidationError(mapped)
        super()._update_errors(errors)  # type: ignore[misc]  # private Django API, not in the stubs


# --- the workflow and its Step inline -------------------------------------------------------
class WorkflowAdminForm(forms.ModelForm):
    default_variables = PrettyJSONField(
        required=False,
        help_text="A JSON object; available to every run as {{ vars.<name> }}.",
        widget=forms.Textarea(attrs={**JSON_ATTRS, "rows": 4}),
    )

    class Meta:
        model = Workflow
        fields = ["workspace", "name", "description", "enabled", "default_variables"]


def _action_field(current: str = "") -> forms.ChoiceField:
    choices = [("", "— (control steps)"), *action_choices()]
    if current and current not in {value for value, _ in choices}:
        choices.append((current, f"{current} (not installed)"))
    return forms.ChoiceField(
        choices=choices, required=False, help_text="The Twilio action (action steps only)."
    )


class StepInlineForm(StepErrorsMixin, forms.ModelForm):
    """A step on the workflow page: its kind's editor (`workflows.step_editors`), with the
    JSON of its inputs as an "advanced" alternative. A post without any editor field (the
    API of the tests, an old page) is read from the JSON box."""

    inputs = PrettyJSONField(
        required=False,
        label="Inputs (JSON)",
        help_text="A JSON object of field values; strings may use templates such as {{ trigger.From }}.",
        widget=forms.Textarea(attrs={**JSON_ATTRS, "rows": 5}),
    )
    json_mode = forms.BooleanField(
        required=False,
        label="Edit the inputs as JSON (advanced)",
        widget=forms.CheckboxInput(attrs={"class": "tf-json-mode"}),
    )
    editor = forms.CharField(required=False, label="Inputs")

    class Meta:
        model = Step
        fields = ["position", "name", "kind", "action", "connection", "inputs", "on_error", "max_retries"]
        widgets = {"position": forms.HiddenInput(attrs={"class": "tf-position"})}

    def __init__(
        self, *args, workflow_info=None, workflow_names=None, workspace=None, workflow_id=None, **kwargs
    ):
        from workflows.editor import EDITOR_PREFIX, EditorWidget
        from workflows.variables import WorkflowInfo

        super().__init__(*args, **kwargs)
        self.fields["action"] = _action_field(self.current("action"))
        self.workflow_info = workflow_info or WorkflowInfo()
        self.workflow_names = list(workflow_names or [])
        self.workspace = workspace
        self.workflow_id = workflow_id
        self._editor_result: tuple[dict[str, Any], list[str]] | None = None
        editor_posted = self.is_bound and any(
            key.startswith(self.add_prefix(EDITOR_PREFIX) + "-") for key in self.data
        )
        self.in_json_mode = self.is_bound and (
            not editor_posted or bool(self.data.get(self.add_prefix("json_mode")))
        )
        self.step_editor = self.build_editor(
            inputs=self.instance.inputs if isinstance(self.instance.inputs, dict) else {},
            bound=self.is_bound and not self.in_json_mode,
        )
        self.fields["editor"].widget = EditorWidget(self)
        self.fields["editor"].help_text = ""

    # --- what the form currently says ---
    def current(self, name: str) -> str:
        if self.is_bound:
            value = self.data.get(self.add_prefix(name))
            if value is not None:
                return str(value)
        value = self.initial.get(
            name,
            getattr(self.instance, name + "_id", None)
            if name == "connection"
            else getattr(self.instance, name, ""),
        )
        return "" if value is None else str(value)

    def step_name(self) -> str:
        return self.current("name").strip()

    def workspace_values(self) -> dict[str, Any]:
        ws = self.workspace
        if ws is None:
            return {}
        return {
            "name": ws.name,
            "slug": ws.slug,
            "time_zone": ws.time_zone,
            "default_country": ws.default_country,
        }

    def _connection(self):
        pk = self.current("connection")
        if not pk or not pk.isdigit():
            return None
        return self.fields["connection"].queryset.filter(pk=int(pk)).first()  # type: ignore[attr-defined]

    def build_editor(
        self, *, inputs: dict[str, Any], bound: bool, kind: str | None = None, action: str | None = None
    ):
        from workflows.editor import EDITOR_PREFIX, editor_context
        from workflows.step_editors import editor_for

        kind = self.current("kind") or StepKind.ACTION if kind is None else kind
        action = self.current("action") if action is None else action
        names = [s.name for s in self.workflow_info.steps if s.name != self.step_name()]
        ctx = editor_context(
            step_names=names,
            workflow_names=[n for n in self.workflow_names if n != self.data.get("name")],
            connection=self._connection() if kind == StepKind.ACTION and action else None,
            current_inputs=self.instance.inputs if isinstance(self.instance.inputs, dict) else {},
        )
        return editor_for(
            kind,
            action=action,
            ctx=ctx,
            inputs=inputs,
            data=self.data if bound else None,
            prefix=self.add_prefix(EDITOR_PREFIX),
        )

    def editor_inputs(
        self, *, kind: str | None = None, action: str | None = None, lenient: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """(inputs, problems) from the posted editor (or the JSON box in JSON mode)."""
        if self.in_json_mode and kind is None:
            value = self.data.get(self.add_prefix("inputs")) or ""
            try:
                parsed = json.loads(value) if value.strip() else {}
            except ValueError as error:
                return {}, [f"The JSON is not valid: {error}"]
            return (parsed, []) if isinstance(parsed, dict) else ({}, ["Expected a JSON object."])
        own = kind is None and action is None
        if own and not lenient and self._editor_result is not None:
            return self._editor_result
        if own and self.step_editor.is_bound:
            editor = self.step_editor  # built once per form: pickers are not asked again
        else:
            editor = self.build_editor(inputs={}, bound=True, kind=kind, action=action)
        valid = editor.is_valid()
        if (not valid and not lenient) or not hasattr(editor, "cleaned_data"):
            result: tuple[dict[str, Any], list[str]] = ({}, editor.errors_text())
        else:
            inputs = editor.to_inputs()
            result = (inputs, [] if lenient else editor.errors_text())
        if own and not lenient:
            self._editor_result = result
        return result

    def editor_html(self, editor=None) -> str:
        from workflows.editor import editor_html

        return editor_html(
            editor or self.step_editor,
            step_prefix=self.prefix or "",
            info=self.workflow_info,
            step_name=self.step_name(),
            workflow_id=self.workflow_id,
        )

    # --- validation ---
    def inputs_target(self, sub: str) -> tuple[str, str]:
        return ("inputs" if self.in_json_mode else "editor"), sub

    def clean_inputs(self):
        value = self.cleaned_data.get("inputs")
        if self.in_json_mode and not isinstance(value, dict):
            raise ValidationError('Expected a JSON object, e.g. {"To": "{{ trigger.From }}"}.')
        return value if isinstance(value, dict) else {}

    def clean(self):
        cleaned = super().clean()
        assert cleaned is not None
        if not self.in_json_mode:
            self.errors.pop("inputs", None)
            inputs, problems = self.editor_inputs()
            for problem in problems:
                self.add_error("editor", problem)
            cleaned["inputs"] = inputs
        return cleaned

    def has_changed(self) -> bool:
        if super().has_changed():
            return True
        if self.in_json_mode or not self.is_bound:
            return False
        inputs, problems = self.editor_inputs()
        current = self.instance.inputs if isinstance(self.instance.inputs, dict) else {}
        return bool(problems) or inputs != current


class StepInlineFormSet(BaseInlineFormSet):
    """Cross-step checks (branch targets, unique names, undefined variables) need every step
    at once."""

    workflow_names: list[str] = []  # set by the admin: the workspace's workflows (pickers)
    workspace = None  # set by the admin when known (the workflow's or the page's)

    def get_form_kwargs(self, index):
        """New rows start after the last step, so "Add another" appends rather than inserts."""
        kwargs = super().get_form_kwargs(index)
        if index is None or index >= self.initial_form_count():
            kwargs["initial"] = {**kwargs.get("initial", {}), "position": self._next_position}
        kwargs.update(
            workflow_info=self.workflow_info,
            workflow_names=self.workflow_names,
            workspace=self.workspace,
            workflow_id=self.instance.pk,
        )
        return kwargs

    @cached_property
    def workflow_info(self):
        from workflows.editor import workflow_info_from_data, workflow_info_from_steps

        if self.is_bound:
            return workflow_info_from_data(self.data, workflow_id=self.instance.pk)
        steps = list(self.get_queryset()) if self.instance.pk else []
        return workflow_info_from_steps(
            steps, workflow_id=self.instance.pk, default_variables=self.instance.default_variables
        )

    @cached_property
    def _next_position(self) -> int:
        last = self.get_queryset().aggregate(last=Max("position"))["last"]
        return 0 if last is None else last + 1

    def _kept_forms(self):
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            # Private Django API, not in the stubs.
            if self.can_delete and self._should_delete_form(form):  # type: ignore[attr-defined]
                continue
            if form.instance.pk is None and not form.has_changed():
                continue
            yield form

    request_user = None  # set by the admin: whose role decides credential-bearing steps

    def clean(self):
        from workflows.editor import posted_trigger_kinds
        from workflows.privileges import step_privilege_problems
        from workflows.variables import StepInfo, WorkflowInfo, undefined_variable_problems

        super().clean()
        kept = list(self._kept_forms())
        workspace_id = getattr(self.instance, "workspace_id", None)
        for form in kept:
            connection = form.cleaned_data.get("connection")
            if connection is not None and workspace_id and connection.workspace_id != workspace_id:
                form.add_error("connection", "The connection belongs to another workspace.")
            if self.request_user is not None and form.has_changed():
                problems = step_privilege_problems(
                    step=form.instance, user=self.request_user, workspace_id=workspace_id
                )
                for name, messages in problems.items():
                    form.add_error(form.inputs_target("")[0], f"{name}: {' '.join(messages)}")
        ordered = sorted(kept, key=lambda f: (f.instance.position, f.prefix))
        problems = workflow_problems(form.instance for form in ordered)
        if not problems and not any(form.errors for form in kept):
            info = WorkflowInfo(
                steps=[
                    StepInfo(f.instance.name, f.instance.kind, f.instance.action, f.instance.inputs)
                    for f in ordered
                ],
                trigger_kinds=posted_trigger_kinds(self.data, workflow_id=self.instance.pk),
                default_variables=self.instance.default_variables
                if isinstance(self.instance.default_variables, dict)
                else {},
            )
            by_name = {f.instance.name: f for f in ordered}
            for key, messages in undefined_variable_problems(info).items():
                name, _, path = key[len("steps.") :].partition(".inputs.")
                form = by_name[name]
                for message in messages:
                    form.add_error(form.inputs_target("")[0], f"{path}: {message}")
        if problems:
            raise ValidationError(
                [
                    ValidationError(f"{_readable(key)}: {' '.join(messages)}")
                    for key, messages in sorted(problems.items())
                ]
            )


def _readable(key: str) -> str:
    """Make "steps.check.inputs.cases.0.goto" read "Step 'check', inputs.cases.0.goto"."""
    if not key.startswith("steps."):
        return key
    name, _, rest = key[len("steps.") :].partition(".inputs.")
    return f"Step {name!r}" + (f", inputs.{rest}" if rest else "")


# --- the generated "Edit inputs" form --------------------------------------------------------
class _NotExpressible(Exception):
    pass


def _to_form_value(spec: Field, value: Any) -> Any:
    """The value as the generated form field shows it; _NotExpressible if it cannot."""
    kind = spec.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise _NotExpressible
    if kind == "choice":
        if isinstance(value, str) and value in spec.choices:
            return value
        raise _NotExpressible
    if kind == "list":
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
        ):
            return "\n".join(str(item) for item in value)
        raise _NotExpressible
    if kind == "json":
        return value if isinstance(value, str) else pretty_json(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _NotExpressible


def _from_form_value(spec: Field, raw: Any) -> tuple[bool, Any]:
    """(present, value) for inputs from what the form field cleaned."""
    kind = spec.type
    if kind == "boolean":
        value = bool(raw)
        return value != bool(spec.default), value
    if raw in (None, ""):
        return False, None
    text = str(raw)
    if kind == "list":
        if has_template(text):
            return True, text
        return True, [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "json":
        try:
            return True, json.loads(text)
        except ValueError:
            if has_template(text):
                return True, text
            raise ValidationError("Enter valid JSON (or a template such as {{ trigger.data }}).") from None
    if kind == "integer":
        stripped = text.strip()
        if stripped.lstrip("-").isdigit():
            return True, int(stripped)
        return True, stripped
    return True, text


def _picker_choices(spec: Field, connection) -> tuple[list[tuple[str, str]] | None, str]:
    """(datalist options or None, a note for the help text)."""
    if not spec.picker or connection is None:
        return None, ""
    from actions.pickers import picker_options

    try:
        return picker_options(connection=connection, picker=spec.picker), ""
    except TwilioFlowError as error:
        logger.info("picker %s for connection %s unavailable: %s", spec.picker, connection.pk, error)
        return None, f"Suggestions from Twilio are unavailable right now ({error.code})."


def _generated_field(spec: Field, connection) -> forms.Field:
    options, note = _picker_choices(spec, connection)
    field = spec.form_field(options)
    # Required-ness is checked by Step.clean (a value may also come from the JSON box).
    field.required = False
    field.initial = bool(spec.default) if spec.type == "boolean" else None
    hints = []
    if spec.required:
        hints.append("Required.")
    if spec.help:
        hints.append(spec.help)
    if spec.type == "list":
        hints.append("One per line, or a template giving a list.")
    if spec.type not in ("boolean", "choice"):
        hints.append("Templates such as {{ trigger.From }} are accepted.")
    if spec.default is not None and spec.type != "boolean":
        hints.append(f"Default: {spec.default}.")
    if spec.secret:
        hints.append("Not shown again; leave blank to keep the current value.")
    if note:
        hints.append(note)
    field.help_text = " ".join(hints)
    if isinstance(field.widget, forms.Textarea):
        field.widget.attrs["cols"] = 80
    return field


def action_specs(step: Step) -> list[Field]:
    if step.kind != StepKind.ACTION or not step.action:
        return []
    try:
        return list(action_get(step.action).fields)
    except TwilioFlowError:
        return []


class StepInputsForm(StepErrorsMixin, forms.ModelForm):
    """Base of the per-step generated form; `step_inputs_form_class` adds the fields."""

    specs: tuple[Field, ...] = ()
    request_user = None  # set by the admin: whose role decides credential-bearing steps

    inputs_json = PrettyJSONField(
        required=False,
        label="Other inputs (JSON)",
        help_text="A JSON object merged over the fields above (its keys win). For control steps "
        "this is the whole of the step's inputs; for actions it holds values the form cannot "
        "express, such as a template for a yes/no or choice field.",
    )

    class Meta:
        model = Step
        fields = ["on_error", "max_retries"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        inputs = self.instance.inputs if isinstance(self.instance.inputs, dict) else {}
        by_name = {spec.name: spec for spec in self.specs}
        extra: dict[str, Any] = {}
        for key, value in inputs.items():
            spec = by_name.get(key)
            name = INPUT_PREFIX + key
            if spec is None or name not in self.fields:
                extra[key] = value
                continue
            try:
                self.initial[name] = _to_form_value(spec, value)
            except _NotExpressible:
                extra[key] = value
        self.initial["inputs_json"] = extra
        if not isinstance(self.instance.inputs, dict):
            self.initial["inputs_json"] = self.instance.inputs

    def inputs_target(self, sub: str) -> tuple[str, str]:
        head, _, rest = sub.partition(".")
        if head and INPUT_PREFIX + head in self.fields:
            return INPUT_PREFIX + head, rest
        return "inputs_json", sub

    def clean(self):
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean returns cleaned_data
        current = self.instance.inputs if isinstance(self.instance.inputs, dict) else {}
        inputs: dict[str, Any] = {}
        for spec in self.specs:
            name = INPUT_PREFIX + spec.name
            if name not in self.fields or name in self.errors:
                continue
            raw = cleaned.get(name)
            if spec.secret and raw in (None, "") and spec.name in current:
                inputs[spec.name] = current[spec.name]
                continue
            try:
                present, value = _from_form_value(spec, raw)
            except ValidationError as error:
                self.add_error(name, error)
                continue
            if present:
                inputs[spec.name] = value
        extra = cleaned.get("inputs_json", {})
        if "inputs_json" not in self.errors:
            if not isinstance(extra, dict):
                self.add_error("inputs_json", "Expected a JSON object.")
            else:
                inputs.update(extra)
        self.instance.inputs = inputs
        self._check_privileges()
        return cleaned

    def _check_privileges(self) -> None:
        from workflows.privileges import step_privilege_problems

        if self.request_user is None:
            return
        problems = step_privilege_problems(
            step=self.instance, user=self.request_user, workspace_id=self.instance.workflow.workspace_id
        )
        for name, messages in problems.items():
            target = INPUT_PREFIX + name if INPUT_PREFIX + name in self.fields else "inputs_json"
            for message in messages:
                self.add_error(target, message)


def step_inputs_form_class(step: Step, user=None) -> type[StepInputsForm]:
    """A StepInputsForm with one field per declared input of the step's action."""
    specs = action_specs(step)
    connection = step.connection if step.connection_id else None
    attrs: dict[str, Any] = {"specs": tuple(specs), "request_user": user}
    for spec in specs:
        attrs[INPUT_PREFIX + spec.name] = _generated_field(spec, connection)
    return type("StepInputsForm", (StepInputsForm,), attrs)


# --- Run now ---------------------------------------------------------------------------------
class RunNowForm(forms.Form):
    payload = forms.CharField(
        required=False,
        label="Test payload (JSON)",
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text="Available to the steps as {{ trigger.<key> }}, e.g. "
        '{"From": "+15558675310", "Body": "hello"}. Leave blank for {}.',
    )

    def clean_payload(self) -> dict[str, Any]:
        text = self.cleaned_data.get("payload") or ""
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ValidationError(f"Not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ValidationError('Expected a JSON object, e.g. {"From": "+15558675310"}.')
        return value
