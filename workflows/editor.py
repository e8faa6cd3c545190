"""The step editor on the workflow page: what it knows of the workflow, its HTML, and the
answers to the page's script (`static/workflows/workflow_editor.js`).

The script posts the whole workflow form to one admin URL with `_editor_prefix` (which
step) and `_editor_op`:
- `render`: the step's kind, action or connection changed; the editor for the new choice,
  keeping the values that still apply.
- `json`: the "advanced" toggle was switched on; the editor's inputs as JSON.
- `form`: switched off again; the editor filled from the JSON box.
- `preview`: every field rendered against a sample payload, or the exact template error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse

from workflows.step_editors import ActionEditor, EditorContext, StepEditor, editor_for
from workflows.trigger_catalog import last_trigger_payload, sample_payload, trigger_kinds_of
from workflows.variables import StepInfo, WorkflowInfo, available_variables, preview, preview_context

EDITOR_PREFIX = "ed"
_ROW = re.compile(r"^(?P<prefix>steps-\d+)-(?P<field>[a-z_]+)$")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _posted_set_variables(data, prefix: str) -> dict[str, str]:
    base = f"{prefix}-{EDITOR_PREFIX}-variables-"
    names = {}
    for index in range(_int(data.get(base + "TOTAL_FORMS"))):
        name = (data.get(f"{base}{index}-name") or "").strip()
        if name and not data.get(f"{base}{index}-DELETE"):
            names[name] = data.get(f"{base}{index}-value") or ""
    return names


def workflow_info_from_data(data, *, workflow_id: int | None) -> WorkflowInfo:
    """The workflow as the page currently has it (steps in page order, trigger kinds of the
    trigger rows, default variables); the saved triggers when the page has no trigger rows."""
    rows: dict[str, dict[str, Any]] = {}
    for key in data:
        match = _ROW.match(key)
        if match:
            rows.setdefault(match["prefix"], {})[match["field"]] = data.get(key)
    steps = []
    for prefix, row in sorted(rows.items(), key=lambda item: (_int(item[1].get("position")), item[0])):
        if row.get("DELETE") or not (row.get("name") or "").strip():
            continue
        kind = row.get("kind") or "action"
        if kind == "set_variables":
            inputs: Any = {"variables": _posted_set_variables(data, prefix)}
        else:
            inputs = _json_object(row.get("inputs"))
        name = row["name"].strip()
        steps.append(StepInfo(name=name, kind=kind, action=row.get("action") or "", inputs=inputs))
    return WorkflowInfo(
        steps=steps,
        trigger_kinds=posted_trigger_kinds(data, workflow_id=workflow_id),
        default_variables=_json_object(data.get("default_variables")),
    )


def posted_trigger_kinds(data, *, workflow_id: int | None) -> list[str]:
    if data is None or "triggers-TOTAL_FORMS" not in data:
        return trigger_kinds_of(workflow_id)
    kinds = []
    for index in range(_int(data.get("triggers-TOTAL_FORMS"))):
        kind = data.get(f"triggers-{index}-kind")
        if kind and not data.get(f"triggers-{index}-DELETE"):
            kinds.append(kind)
    return kinds


def workflow_info_from_steps(steps, *, workflow_id: int | None, default_variables: Any) -> WorkflowInfo:
    return WorkflowInfo(
        steps=[StepInfo(name=s.name, kind=s.kind, action=s.action, inputs=s.inputs) for s in steps],
        trigger_kinds=trigger_kinds_of(workflow_id),
        default_variables=default_variables if isinstance(default_variables, dict) else {},
    )


# --- the sample a preview renders against ----------------------------------------------------
def preview_sample(info: WorkflowInfo, *, workflow_id: int | None, item: Any = None) -> dict[str, Any]:
    """{"trigger": …, "item": …}: the workflow's last real event, else its trigger kind's
    sample payload."""
    payload = last_trigger_payload(workflow_id)
    source = "the last event that started this workflow"
    if payload is None:
        payload = sample_payload(info.trigger_kinds)
        source = "the trigger kind's sample" if payload else "no trigger yet: edit the sample"
    return {"trigger": payload, "item": item, "_source": source}


# --- HTML --------------------------------------------------------------------------------------
def editor_html(
    editor: StepEditor,
    *,
    step_prefix: str,
    info: WorkflowInfo,
    step_name: str,
    workflow_id: int | None,
    errors: list[str] | None = None,
) -> str:
    groups = available_variables(info, step_name)
    sample = preview_sample(info, workflow_id=workflow_id)
    source = sample.pop("_source")
    empty_hint = ""
    if isinstance(editor, ActionEditor) and not editor.specs:
        empty_hint = "Choose the Twilio action above: its fields appear here."
    return render_to_string(
        "admin/workflows/step_editor.html",
        {
            "editor": editor,
            "kind": editor.kind,
            "action": getattr(editor, "action_slug", ""),
            "step_prefix": step_prefix,
            "groups": groups,
            "sample_json": json.dumps(sample, indent=2, ensure_ascii=False, default=str),
            "sample_source": source,
            "empty_hint": empty_hint,
            "errors": errors or [],
            "endpoint": reverse("admin:workflows_workflow_step_editor"),
            "object_id": workflow_id or "",
        },
    )


class EditorWidget(forms.Widget):
    """Renders the step form's editor (the field's own value is never read)."""

    def __init__(self, step_form=None):
        super().__init__()
        self.step_form = step_form

    def render(self, name, value, attrs=None, renderer=None):
        form = self.step_form
        if form is None:
            return ""
        return form.editor_html()

    def value_from_datadict(self, data, files, name):
        return None

    def value_omitted_from_data(self, data, files, name):
        return False


# --- the script's requests ----------------------------------------------------------------------
def editor_answer(*, data, step_form, op: str, workflow_id: int | None) -> dict[str, Any]:
    """The JSON answer to one request of the page's script for `step_form` (bound to the
    posted page)."""
    if op == "json":
        inputs, errors = step_form.editor_inputs()
        if errors:
            return {"error": "; ".join(errors)}
        return {"json": json.dumps(inputs, indent=2, ensure_ascii=False)}
    if op == "form":
        text = data.get(step_form.add_prefix("inputs")) or ""
        try:
            inputs = json.loads(text) if text.strip() else {}
        except ValueError as error:
            return {"error": f"The JSON is not valid: {error}"}
        if not isinstance(inputs, dict):
            return {"error": "The inputs must be a JSON object."}
        editor = step_form.build_editor(inputs=inputs, bound=False)
        return {"html": step_form.editor_html(editor)}
    if op == "render":
        old_kind = data.get("_from_kind") or ""
        old_action = data.get("_from_action") or ""
        inputs = step_form.editor_inputs(kind=old_kind, action=old_action, lenient=True)[0]
        editor = step_form.build_editor(inputs=_carry_over(inputs, step_form, old_kind), bound=False)
        return {"html": step_form.editor_html(editor)}
    if op == "preview":
        inputs, errors = step_form.editor_inputs()
        info = step_form.workflow_info
        sample = _json_object(data.get("_sample"))
        context = preview_context(
            info,
            step_form.step_name(),
            trigger=sample.get("trigger") or {},
            item=sample.get("item"),
            workspace=step_form.workspace_values(),
        )
        rows = preview(inputs, context, step=step_form.step_name())
        html = render_to_string("admin/workflows/step_preview.html", {"rows": rows, "errors": errors})
        return {"html": html, "ok": all(ok for _, _, ok in rows) and not errors}
    return {"error": f"Unknown operation {op!r}."}


def _carry_over(inputs: dict[str, Any], step_form, old_kind: str) -> dict[str, Any]:
    """The values that still mean something after the kind or action changed."""
    if old_kind != step_form.current("kind"):
        return {}
    editor = step_form.build_editor(inputs={}, bound=False)
    keys = set(editor.keys)
    return {key: value for key, value in inputs.items() if key in keys}


def editor_context(
    *, step_names: list[str], workflow_names: list[str], connection, current_inputs: dict[str, Any]
) -> EditorContext:
    return EditorContext(
        step_names=step_names,
        workflow_names=workflow_names,
        connection=connection,
        current_inputs=current_inputs,
    )


__all__ = [
    "EDITOR_PREFIX",
    "EditorWidget",
    "editor_answer",
    "editor_context",
    "editor_for",
    "editor_html",
    "workflow_info_from_data",
    "workflow_info_from_steps",
]
