"""One form per step kind: the step editor on the workflow page, instead of JSON.

Each editor reads a step's `inputs` (the JSON of "Workflow JSON", workflows/transfer.py) into
form fields and writes them back: `editor_for(...).to_inputs()` after `is_valid()` gives the
same inputs it was built from (the tests check every kind). What a form cannot express (a
template where a yes/no goes, a key it does not know) stays in a hidden `extra` field and is
merged back unchanged, so nothing is lost by opening a step in the editor.

- action: the fields generated from the action's `Field` declarations (pickers included),
  as on the "Edit inputs" page (`workflows.forms`).
- branch: case rows (left, operator, right, goto) and a default; goto offers the workflow's
  step names, `next` and `end`.
- set_variables: name/template rows. delay: seconds or until. end: status, message, output.
- run_workflow / for_each: a workflow of the same workspace, items, concurrency, rate, wait,
  and the child's inputs as name/value rows. wait_for_reply: channel, contact, number,
  timeout and where to go on a reply or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError

from actions.fields import Field
from actions.registry import action_get
from twilioflow.core.errors import TwilioFlowError
from workflows.step_validation import BRANCH_OPERATORS, END_STATUSES, has_template

EXTRA = "extra"


class NotExpressible(Exception):
    pass


@dataclass
class EditorContext:
    """What an editor offers: goto targets, workflows to run, the connection for pickers."""

    step_names: list[str] = field(default_factory=list)
    workflow_names: list[str] = field(default_factory=list)
    connection: Any = None
    current_inputs: dict[str, Any] = field(default_factory=dict)  # kept secrets


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise NotExpressible


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        raise NotExpressible
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and has_template(value):
        return value
    raise NotExpressible


def _number_value(text: str) -> Any:
    text = (text or "").strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class GotoSelect(forms.Select):
    """A step name, `next` or `end`. The choices are refreshed in the browser from the names
    on the page (a step added since), and any value is accepted: the workflow check says when
    no step has that name."""

    def __init__(self, names: list[str], value_hint: str = "", allow_blank: str = "—"):
        choices = [("", allow_blank), ("next", "next step"), ("end", "end the run")]
        choices += [(name, name) for name in names]
        super().__init__(attrs={"class": "tf-goto"}, choices=choices)

    def get_context(self, name, value, attrs):
        if value and value not in {c[0] for c in self.choices}:
            self.choices = [*self.choices, (value, value)]
        return super().get_context(name, value, attrs)


def _goto_field(ctx: EditorContext, *, label: str, blank: str = "—", help_text: str = "") -> forms.CharField:
    return forms.CharField(
        required=False, label=label, help_text=help_text, widget=GotoSelect(ctx.step_names, allow_blank=blank)
    )


def _tri_state(label: str, choices: list[tuple[str, str]], help_text: str = "") -> forms.ChoiceField:
    return forms.ChoiceField(required=False, label=label, choices=choices, help_text=help_text)


TEXT = {"class": "vTextField tf-var-target"}
AREA = {"rows": 2, "cols": 60, "class": "tf-var-target"}


# --- rows ------------------------------------------------------------------------------------
class CaseRow(forms.Form):
    left = forms.CharField(required=False, widget=forms.TextInput(attrs=TEXT))
    operator = forms.ChoiceField(
        choices=[(op, op.replace("_", " ")) for op in BRANCH_OPERATORS], initial="equals"
    )
    right = forms.CharField(required=False, widget=forms.TextInput(attrs=TEXT))
    goto = forms.CharField(required=False)

    def __init__(self, *args, step_names: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["goto"].widget = GotoSelect(step_names or [])


class PairRow(forms.Form):
    name = forms.CharField(required=False, widget=forms.TextInput(attrs={"class": "vTextField"}))
    value = forms.CharField(required=False, widget=forms.TextInput(attrs=TEXT))


RowFormSet = forms.formset_factory(PairRow, extra=1, can_delete=True)
CaseFormSet = forms.formset_factory(CaseRow, extra=1, can_delete=True)


# --- the editors -----------------------------------------------------------------------------
class StepEditor(forms.Form):
    """Base: `initial_from(inputs)` fills the fields (unexpressible keys go to `extra`),
    `to_inputs()` gives inputs back. Row editors have `rows` (a formset)."""

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()  # input keys this editor's fields hold
    rows_label: ClassVar[str] = ""  # the heading of its rows, if it has any

    extra = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, ctx: EditorContext | None = None, inputs: Any = None, **kwargs):
        self.ctx = ctx or EditorContext()
        self.source_inputs = inputs if isinstance(inputs, dict) else {}
        super().__init__(*args, **kwargs)
        self.add_fields()
        if not self.is_bound:
            initial, extra = self.initial_from(self.source_inputs)
            self.initial.update({self.field_name(k): v for k, v in initial.items()})
            self.initial[EXTRA] = json.dumps(extra) if extra else ""
        self.rows = self.make_rows()

    # hooks
    def add_fields(self) -> None:
        pass

    def make_rows(self) -> forms.BaseFormSet | None:
        return None

    def initial_from(self, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        initial: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in inputs.items():
            if key not in self.keys:
                extra[key] = value
                continue
            try:
                initial[key] = self.show(key, value)
            except NotExpressible:
                extra[key] = value
        return initial, extra

    def show(self, key: str, value: Any) -> Any:
        return _text(value)

    def read(self, key: str, raw: Any) -> tuple[bool, Any]:
        """(present, value) of one field."""
        if raw in (None, ""):
            return False, None
        return True, raw

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.rows is not None:
            valid = self.rows.is_valid() and valid
        return valid

    def clean_extra(self) -> dict[str, Any]:
        text = self.cleaned_data.get(EXTRA) or ""
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise ValidationError("The hidden extra inputs are not JSON.") from None
        if not isinstance(value, dict):
            raise ValidationError("The hidden extra inputs are not an object.")
        return value

    def to_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for key in self.keys:
            name = self.field_name(key)
            if name not in self.fields:
                continue
            try:
                present, value = self.read(key, self.cleaned_data.get(name))
            except ValidationError as error:
                self.add_error(name, error)
                continue
            if present:
                inputs[key] = value
        inputs.update(self.rows_inputs())
        extra = self.cleaned_data.get(EXTRA) or {}
        return {**inputs, **{k: v for k, v in extra.items() if k not in inputs}}

    def rows_inputs(self) -> dict[str, Any]:
        return {}

    def field_name(self, key: str) -> str:
        return key

    def errors_text(self) -> list[str]:
        messages = []
        for name, errs in self.errors.items():
            text = " ".join(str(e) for e in errs)
            messages.append(text if name == "__all__" else f"{self.fields[name].label or name}: {text}")
        if self.rows is not None:
            row_errors: list[Any] = list(self.rows.errors)
            for index, errors in enumerate(row_errors):
                for name, errs in errors.items():
                    messages.append(f"row {index + 1}, {name}: {' '.join(str(e) for e in errs)}")
            messages += [str(e) for e in self.rows.non_form_errors()]
        return messages


class ActionEditor(StepEditor):
    kind = "action"
    title = "Twilio action"

    def __init__(self, *args, action: str = "", **kwargs):
        self.action_slug = action
        self.specs: tuple[Field, ...] = ()
        if action:
            try:
                self.specs = tuple(action_get(action).fields)
            except TwilioFlowError:
                self.specs = ()
        self.keys = tuple(spec.name for spec in self.specs)  # type: ignore[misc]
        super().__init__(*args, **kwargs)

    def add_fields(self) -> None:
        from workflows.forms import _generated_field

        for spec in self.specs:
            field = _generated_field(spec, self.ctx.connection)
            if not isinstance(field.widget, forms.CheckboxInput | forms.Select):
                field.widget.attrs["class"] = (field.widget.attrs.get("class", "") + " tf-var-target").strip()
            self.fields[self.field_name(spec.name)] = field

    def field_name(self, key: str) -> str:
        return "input__" + key

    def _spec(self, key: str) -> Field:
        return next(spec for spec in self.specs if spec.name == key)

    def show(self, key: str, value: Any) -> Any:
        from workflows.forms import _NotExpressible, _to_form_value

        try:
            return _to_form_value(self._spec(key), value)
        except _NotExpressible:
            raise NotExpressible from None

    def read(self, key: str, raw: Any) -> tuple[bool, Any]:
        from workflows.forms import _from_form_value

        spec = self._spec(key)
        if spec.secret and raw in (None, "") and key in self.ctx.current_inputs:
            return True, self.ctx.current_inputs[key]
        return _from_form_value(spec, raw)

    def initial_from(self, inputs):
        initial, extra = super().initial_from(inputs)
        for spec in self.specs:  # a secret is never shown again
            if spec.secret:
                initial.pop(spec.name, None)
        return initial, extra


class BranchEditor(StepEditor):
    kind = "branch"
    title = "Branch"
    description = "The first case that matches decides where the run goes; otherwise the default."
    keys = ("default",)
    rows_label = "Cases (the first that matches wins)"

    def add_fields(self) -> None:
        self.fields["default"] = _goto_field(
            self.ctx,
            label="Otherwise go to",
            blank="next step (default)",
            help_text="Where the run goes when no case matches.",
        )

    def initial_from(self, inputs):
        initial, extra = super().initial_from(inputs)
        cases = extra.pop("cases", None)
        self._cases: list[dict[str, Any]] = []
        if "cases" in inputs:
            if _cases_expressible(cases) and cases:
                self._cases = list(cases)
            else:
                extra["cases"] = cases
        return initial, extra

    def make_rows(self):
        cases = getattr(self, "_cases", [])
        initial = [{"operator": "equals", **case} for case in cases]
        return CaseFormSet(
            self.data if self.is_bound else None,
            prefix=self.add_prefix("cases"),
            initial=initial or None,
            form_kwargs={"step_names": self.ctx.step_names},
        )

    def rows_inputs(self):
        assert self.rows is not None
        cases = []
        for form in self.rows.forms:
            data = getattr(form, "cleaned_data", {})
            if not data or data.get("DELETE"):
                continue
            case = {"left": data.get("left", ""), "operator": data.get("operator") or "equals"}
            if data.get("right") or data["operator"] not in ("is_empty", "is_not_empty"):
                case["right"] = data.get("right", "")
            case["goto"] = data.get("goto", "")
            if not (case["left"] or case.get("right") or case["goto"]):
                continue  # a blank row
            cases.append(case)
        return {"cases": cases} if cases else {}


def _cases_expressible(cases: Any) -> bool:
    if not isinstance(cases, list):
        return False
    for case in cases:
        if not isinstance(case, dict) or set(case) - {"left", "operator", "right", "goto"}:
            return False
        if not all(isinstance(case.get(k, ""), str) for k in ("left", "right", "goto")):
            return False
        if case.get("operator") not in BRANCH_OPERATORS or "left" not in case or "goto" not in case:
            return False
        if "right" not in case and case["operator"] not in ("is_empty", "is_not_empty"):
            return False
        if "right" in case and case["right"] == "" and case["operator"] in ("is_empty", "is_not_empty"):
            return False
    return True


class _PairsMixin:
    """An object of name → string as name/value rows (set_variables' variables, a child's
    inputs)."""

    pairs_key: ClassVar[str]

    def _pairs_initial(self, inputs: dict[str, Any], extra: dict[str, Any]) -> None:
        value = inputs.get(self.pairs_key)
        self._pairs: list[dict[str, str]] = []
        if self.pairs_key not in inputs:
            return
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()) and value:
            self._pairs = [{"name": str(k), "value": v} for k, v in value.items()]
        else:
            extra[self.pairs_key] = value

    def make_rows(self):
        return RowFormSet(
            self.data if self.is_bound else None,  # type: ignore[attr-defined]
            prefix=self.add_prefix(self.pairs_key),  # type: ignore[attr-defined]
            initial=getattr(self, "_pairs", None) or None,
        )

    def rows_inputs(self):
        pairs: dict[str, str] = {}
        for form in self.rows.forms:  # type: ignore[attr-defined]
            data = getattr(form, "cleaned_data", {})
            if not data or data.get("DELETE") or not (data.get("name") or "").strip():
                continue
            pairs[data["name"].strip()] = data.get("value", "")
        extra = self.cleaned_data.get(EXTRA) or {}  # type: ignore[attr-defined]
        if pairs or (self.pairs_key not in extra and self.always_pairs()):
            return {self.pairs_key: pairs}
        return {}

    def always_pairs(self) -> bool:
        return True


class SetVariablesEditor(_PairsMixin, StepEditor):
    kind = "set_variables"
    title = "Set variables"
    description = "Each row sets vars.<name> for the steps after this one (the value may be a template)."
    pairs_key = "variables"
    rows_label = "Variables (name, value or template)"

    def initial_from(self, inputs):
        initial, extra = super().initial_from(inputs)
        extra.pop("variables", None)
        self._pairs_initial(inputs, extra)
        return initial, extra


class DelayEditor(StepEditor):
    kind = "delay"
    title = "Delay"
    description = "Give seconds or a date-time (ISO 8601, or a template); the run sleeps in the database."
    keys = ("seconds", "until")

    def add_fields(self) -> None:
        self.fields["seconds"] = forms.CharField(
            required=False, label="Seconds", widget=forms.TextInput(attrs=TEXT)
        )
        self.fields["until"] = forms.CharField(
            required=False,
            label="Or until",
            widget=forms.TextInput(attrs=TEXT),
            help_text="e.g. 2026-12-24T09:00:00+01:00 or {{ trigger.when }}",
        )

    def show(self, key, value):
        return _number_text(value) if key == "seconds" else _text(value)

    def read(self, key, raw):
        if raw in (None, ""):
            return False, None
        return True, _number_value(raw) if key == "seconds" else raw


class EndEditor(StepEditor):
    kind = "end"
    title = "End"
    description = "Ends the run with this status; the output becomes the run's result."
    keys = ("status", "message", "output")

    def add_fields(self) -> None:
        self.fields["status"] = _tri_state(
            "Status", [("", "succeeded (default)"), *[(s, s) for s in END_STATUSES]]
        )
        self.fields["message"] = forms.CharField(required=False, widget=forms.TextInput(attrs=TEXT))
        self.fields["output"] = forms.CharField(
            required=False,
            label="Output (JSON)",
            widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
            help_text='Optional, e.g. {"sent": "{{ steps.notify.sid }}"}.',
        )

    def show(self, key, value):
        if key == "output":
            return json.dumps(value, indent=2, ensure_ascii=False)
        if key == "status" and value not in END_STATUSES:
            raise NotExpressible
        return _text(value)

    def read(self, key, raw):
        if raw in (None, ""):
            return False, None
        if key == "output":
            try:
                return True, json.loads(raw)
            except ValueError as error:
                raise ValidationError(f"Not valid JSON: {error}") from None
        return True, raw


class _WorkflowMixin:
    def _workflow_field(self) -> forms.CharField:
        names = self.ctx.workflow_names  # type: ignore[attr-defined]
        return forms.CharField(
            required=False,
            label="Workflow",
            widget=_NameSelect(
                choices=[("", "— choose a workflow of this workspace —"), *[(n, n) for n in names]]
            ),
        )


class _NameSelect(forms.Select):
    def get_context(self, name, value, attrs):
        if value and value not in {c[0] for c in self.choices}:
            self.choices = [*self.choices, (value, value)]
        return super().get_context(name, value, attrs)


class RunWorkflowEditor(_WorkflowMixin, _PairsMixin, StepEditor):
    kind = "run_workflow"
    title = "Run sub-workflow"
    description = "Runs another workflow of this workspace and waits; its result is steps.<name>.result."
    keys: ClassVar[tuple[str, ...]] = ("workflow",)
    pairs_key = "inputs"
    rows_label = "Inputs of the child run (its vars.<name>), optional"

    def add_fields(self) -> None:
        self.fields["workflow"] = self._workflow_field()

    def initial_from(self, inputs):
        initial, extra = super().initial_from(inputs)
        extra.pop("inputs", None)
        self._pairs_initial(inputs, extra)
        return initial, extra

    def always_pairs(self) -> bool:
        return False


class ForEachEditor(RunWorkflowEditor):
    kind = "for_each"
    title = "For each"
    description = "One run of the workflow per item ({{ item }} in it), at most `concurrency` at once."
    keys = ("workflow", "items", "concurrency", "rate_per_second", "wait")

    def add_fields(self) -> None:
        super().add_fields()
        self.fields["items"] = forms.CharField(
            required=False,
            label="Items",
            widget=forms.Textarea(attrs={**AREA, "rows": 4}),
            help_text="One item per line, a template giving a list (e.g. {{ trigger.data.recipients }}), "
            "or a JSON list.",
        )
        self.fields["concurrency"] = forms.CharField(required=False, help_text="Default 5.")
        self.fields["rate_per_second"] = forms.CharField(
            required=False, label="Rate per second", help_text="Optional."
        )
        self.fields["wait"] = _tri_state(
            "Wait for the runs", [("", "yes (default)"), ("true", "yes"), ("false", "no, go on at once")]
        )

    def show(self, key, value):
        if key in ("concurrency", "rate_per_second"):
            return _number_text(value)
        if key == "wait":
            if isinstance(value, bool):
                return "true" if value else "false"
            raise NotExpressible
        if key == "items":
            if (
                isinstance(value, list)
                and value
                and all(
                    isinstance(v, str)
                    and v.strip() == v
                    and v
                    and "\n" not in v
                    and not has_template(v)
                    and not v.startswith("[")
                    for v in value
                )
            ):
                return "\n".join(value)  # one per line
            if isinstance(value, list):
                return json.dumps(value, ensure_ascii=False)
            if isinstance(value, str) and has_template(value) and not value.lstrip().startswith("["):
                return value
            raise NotExpressible
        return _text(value)

    def read(self, key, raw):
        if raw in (None, ""):
            return False, None
        if key in ("concurrency", "rate_per_second"):
            return True, _number_value(raw)
        if key == "wait":
            return True, raw == "true"
        if key == "items" and raw.lstrip().startswith("["):
            try:
                return True, json.loads(raw)
            except ValueError as error:
                raise ValidationError(f"Not a valid JSON list: {error}") from None
        if key == "items" and not has_template(raw):
            return True, [line.strip() for line in raw.splitlines() if line.strip()]
        return True, raw


class WaitForReplyEditor(StepEditor):
    kind = "wait_for_reply"
    title = "Wait for reply"
    description = "Parks the run until the contact replies (steps.<name>.Body) or the timeout passes."
    keys = ("channel", "contact", "number", "timeout_seconds", "on_reply", "no_reply")

    def add_fields(self) -> None:
        self.fields["channel"] = _tri_state(
            "Channel", [("", "sms (default)"), ("sms", "sms"), ("whatsapp", "whatsapp")]
        )
        self.fields["contact"] = forms.CharField(
            required=False, widget=forms.TextInput(attrs=TEXT), help_text="Default {{ trigger.From }}."
        )
        self.fields["number"] = forms.CharField(
            required=False,
            label="Our number",
            widget=forms.TextInput(attrs=TEXT),
            help_text="Default {{ trigger.To }}.",
        )
        self.fields["timeout_seconds"] = forms.CharField(required=False, label="Timeout (seconds)")
        self.fields["on_reply"] = _goto_field(self.ctx, label="On a reply go to", blank="next step (default)")
        self.fields["no_reply"] = _goto_field(
            self.ctx, label="Without a reply go to", blank="next step (default)"
        )

    def show(self, key, value):
        if key == "timeout_seconds":
            return _number_text(value)
        if key == "channel" and value not in ("sms", "whatsapp"):
            raise NotExpressible
        return _text(value)

    def read(self, key, raw):
        if raw in (None, ""):
            return False, None
        if key == "timeout_seconds":
            return True, _number_value(raw)
        return True, raw


EDITORS: dict[str, type[StepEditor]] = {
    cls.kind: cls
    for cls in (
        ActionEditor,
        BranchEditor,
        SetVariablesEditor,
        DelayEditor,
        EndEditor,
        RunWorkflowEditor,
        ForEachEditor,
        WaitForReplyEditor,
    )
}


def editor_for(
    kind: str,
    *,
    action: str = "",
    ctx: EditorContext | None = None,
    inputs: Any = None,
    data: Any = None,
    prefix: str | None = None,
) -> StepEditor:
    cls = EDITORS.get(kind, StepEditor)
    kwargs: dict[str, Any] = {"ctx": ctx, "inputs": inputs, "prefix": prefix}
    if cls is ActionEditor:
        kwargs["action"] = action
    return cls(data, **kwargs) if data is not None else cls(**kwargs)


def editor_round_trip(
    kind: str, inputs: dict[str, Any], *, action: str = "", ctx: EditorContext | None = None
) -> dict[str, Any]:
    """inputs → the editor's fields as a browser would post them → inputs (for the tests and
    the JSON toggle)."""
    unbound = editor_for(kind, action=action, ctx=ctx, inputs=inputs, prefix="e")
    data = posted_data(unbound)
    bound = editor_for(kind, action=action, ctx=ctx, inputs=inputs, data=data, prefix="e")
    if not bound.is_valid():
        raise ValueError(bound.errors_text())
    return bound.to_inputs()


def posted_data(editor: StepEditor) -> dict[str, Any]:
    """What a browser posts for an unbound editor (its initial values, rows included)."""
    data: dict[str, Any] = {}

    def add(form: forms.Form) -> None:
        for _name, bound_field in form._bound_items():  # type: ignore[attr-defined]
            value = bound_field.value()
            if isinstance(bound_field.field.widget, forms.CheckboxInput):
                if value:
                    data[bound_field.html_name] = "on"
                continue
            data[bound_field.html_name] = "" if value is None else value

    add(editor)
    if editor.rows is not None:
        management = editor.rows.management_form
        add(management)
        for form in editor.rows.forms:
            add(form)
    return data
