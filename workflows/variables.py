"""Which variables a step's templates can use, which ones they use, and a preview.

Read by the step editor (the variable browser and "Preview") and by the save-time check:
a `{{ variable }}` that neither the workflow's trigger kinds nor its steps could provide is
refused when the workflow is saved, with the names that do exist ("did you mean
trigger.Body?"). Only what would fail at run time is checked: `{{ x }}` without a
`|default`, not conditions (`{% if x %}` on an undefined x is simply false).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.template import TemplateSyntaxError
from django.template.base import Variable, VariableNode
from django.template.defaulttags import ForNode, WithNode

from actions.registry import action_get
from twilioflow.core.errors import TwilioFlowError
from workflows.template_library import DEFAULTING_FILTERS
from workflows.templating import _compile, build_context, has_template, render_value
from workflows.trigger_catalog import trigger_kind_infos

ROOTS = ("trigger", "steps", "vars", "item", "run", "workspace", "now", "reply")
WORKSPACE_KEYS = ("name", "slug", "time_zone", "default_country")
RUN_KEYS = ("id", "workflow", "source", "started_at", "parent_id")
# What control steps put in `steps.<name>` (action steps: their action's declared output).
CONTROL_OUTPUTS = {
    "run_workflow": ("result", "run_id", "error", "total", "succeeded", "failed", "canceled", "running"),
    "for_each": ("total", "succeeded", "failed", "canceled", "running"),
    "wait_for_reply": ("replied", "Body", "media", "payload"),
    "branch": (),
    "set_variables": (),
    "delay": (),
    "end": (),
}
# A failed step under on_error "continue" has these.
FAILED_KEYS = ("status", "error")


@dataclass(frozen=True)
class StepInfo:
    """What the editor knows of one step of the workflow (from the page or the database)."""

    name: str
    kind: str
    action: str = ""
    inputs: Any = None


@dataclass
class WorkflowInfo:
    steps: list[StepInfo] = field(default_factory=list)
    trigger_kinds: list[str] = field(default_factory=list)
    default_variables: dict[str, Any] = field(default_factory=dict)


def step_outputs(step: StepInfo) -> tuple[str, ...]:
    if step.kind == "action":
        try:
            return tuple(action_get(step.action).output)
        except TwilioFlowError:
            return ()
    return CONTROL_OUTPUTS.get(step.kind, ())


def trigger_fields(kinds: Sequence[str]) -> tuple[set[str], set[str]] | None:
    """(payload keys, open keys) the workflow's triggers provide; None without triggers (a
    manual run's data can hold anything)."""
    infos = trigger_kind_infos()
    known = [infos[k] for k in kinds if k in infos]
    if not known:
        return None
    keys: set[str] = set()
    open_keys: set[str] = set()
    for info in known:
        keys.update(info.fields)
        open_keys.update(info.open_keys)
    return keys, open_keys


def set_variable_names(steps: Iterable[StepInfo]) -> list[str]:
    names: list[str] = []
    for step in steps:
        if step.kind == "set_variables" and isinstance(step.inputs, Mapping):
            variables = step.inputs.get("variables")
            if isinstance(variables, Mapping):
                names += [str(name) for name in variables if str(name) not in names]
    return names


# --- the variable browser ----------------------------------------------------------------------
def available_variables(info: WorkflowInfo, step_name: str) -> list[tuple[str, list[str]]]:
    """[(group, [variable, …])] a step can use, for the variable browser."""
    groups: list[tuple[str, list[str]]] = []
    kinds_infos = trigger_kind_infos()
    for slug in dict.fromkeys(info.trigger_kinds):
        kind = kinds_infos.get(slug)
        if kind is not None:
            names = []
            for name in kind.fields:
                value = kind.sample_payload.get(name)
                if isinstance(value, Mapping) and value:
                    names += [f"trigger.{name}.{sub}" for sub in value]
                else:
                    names.append(f"trigger.{name}")
            groups.append((f"Trigger: {kind.title}", names))
    if not groups:
        groups.append(("Trigger (the data given to Run now)", ["trigger"]))
    earlier = []
    for step in info.steps:
        if step.name == step_name:
            break
        earlier.append(step)
    for step in earlier:
        outputs = step_outputs(step)
        if outputs:
            groups.append((f"Step {step.name}", [f"steps.{step.name}.{key}" for key in outputs]))
    names = list(info.default_variables) + [
        n for n in set_variable_names(earlier) if n not in info.default_variables
    ]
    groups.append(("Variables", [f"vars.{name}" for name in names] or ["vars"]))
    groups.append(("For each item", ["item"]))
    groups.append(("Workspace and time", [*(f"workspace.{k}" for k in WORKSPACE_KEYS), "now"]))
    return groups


# --- what a template uses ----------------------------------------------------------------------
def _nodes(template) -> list:
    return list(template.nodelist.get_nodes_by_type(VariableNode))


def used_variables(text: str) -> list[str]:
    """The variables `text` renders with `{{ }}` that must exist (no |default), minus names
    bound by its own {% for %} / {% with %}. [] for text without templates or that fails to
    compile (the syntax check reports that)."""
    if not has_template(text):
        return []
    try:
        template = _compile(text)
    except TemplateSyntaxError:
        return []
    local: set[str] = set()
    for node in template.nodelist.get_nodes_by_type(ForNode):
        local.update(getattr(node, "loopvars", ()))
        local.add("forloop")
    for node in template.nodelist.get_nodes_by_type(WithNode):
        local.update(getattr(node, "extra_context", {}))
    found: list[str] = []
    for node in _nodes(template):
        expression = node.filter_expression
        variables: list[Variable] = []
        defaulted = any(func in DEFAULTING_FILTERS for func, _ in expression.filters)
        if isinstance(expression.var, Variable) and expression.var.lookups and not defaulted:
            variables.append(expression.var)
        for _func, args in expression.filters:
            variables += [arg for lookup, arg in args if lookup and isinstance(arg, Variable)]
        for variable in variables:
            if variable.lookups and variable.lookups[0] not in local:
                found.append(".".join(variable.lookups))
    return found


def _strings(value: Any, path: str = ""):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _suggest(name: str, known: Iterable[str]) -> str:
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    if known and len(known) <= 12:
        return f"; known: {', '.join(known)}."
    return "."


def _check(name: str, info: WorkflowInfo, trigger: tuple[set[str], set[str]] | None) -> str | None:
    parts = name.split(".")
    root = parts[0]
    if root not in ROOTS:
        return f'undefined variable "{name}"' + _suggest(name, ROOTS)
    if root == "trigger" and trigger is not None and len(parts) > 1:
        keys, open_keys = trigger
        if parts[1] not in keys and parts[1] not in open_keys:
            return f'undefined variable "{name}": no trigger of this workflow sends {parts[1]}' + _suggest(
                name, (f"trigger.{k}" for k in keys | open_keys)
            )
    if root == "steps" and len(parts) > 1:
        steps = {step.name: step for step in info.steps}
        step = steps.get(parts[1])
        if step is None:
            return f'undefined variable "{name}": no step called {parts[1]}' + _suggest(
                f"steps.{parts[1]}", (f"steps.{n}" for n in steps)
            )
        outputs = step_outputs(step)
        if len(parts) > 2 and step.kind == "action" and outputs and parts[2] not in (*outputs, *FAILED_KEYS):
            return f'undefined variable "{name}": step {step.name} gives no {parts[2]}' + _suggest(
                name, (f"steps.{step.name}.{k}" for k in outputs)
            )
    if root == "workspace" and len(parts) > 1 and parts[1] not in WORKSPACE_KEYS:
        return f'undefined variable "{name}"' + _suggest(name, (f"workspace.{k}" for k in WORKSPACE_KEYS))
    if root == "run" and len(parts) > 1 and parts[1] not in RUN_KEYS:
        return f'undefined variable "{name}"' + _suggest(name, (f"run.{k}" for k in RUN_KEYS))
    return None


def undefined_variable_problems(info: WorkflowInfo) -> dict[str, list[str]]:
    """{"steps.<name>.inputs.<path>": [message]} for each variable no trigger kind or step of
    the workflow could provide."""
    trigger = trigger_fields(info.trigger_kinds)
    problems: dict[str, list[str]] = {}
    for step in info.steps:
        for path, text in _strings(step.inputs if isinstance(step.inputs, Mapping) else {}):
            for name in used_variables(text):
                message = _check(name, info, trigger)
                if message:
                    problems.setdefault(f"steps.{step.name}.inputs.{path}", []).append(message)
    return problems


# --- preview ---------------------------------------------------------------------------------------
def preview_context(
    info: WorkflowInfo, step_name: str, *, trigger: Any, item: Any = None, workspace: Mapping | None = None
) -> dict[str, Any]:
    """A context like a run's, with the sample trigger payload and placeholders for the
    outputs of earlier steps ("‹steps.notify.sid›")."""
    steps: dict[str, Any] = {}
    variables = dict(info.default_variables)
    for step in info.steps:
        if step.name == step_name:
            break
        steps[step.name] = {key: f"‹steps.{step.name}.{key}›" for key in step_outputs(step)}
        if step.kind == "set_variables" and isinstance(step.inputs, Mapping):
            for key, value in (step.inputs.get("variables") or {}).items():
                variables[str(key)] = value
    return build_context(
        trigger=trigger,
        steps=steps,
        vars=variables,
        item=item,
        run={"id": 0, "workflow": "(preview)", "source": "preview", "started_at": None, "parent_id": None},
        workspace=dict(workspace or {}),
        reply={"Body": "‹reply›"},
    )


def preview(inputs: Any, context: dict[str, Any], *, step: str = "") -> list[tuple[str, str, bool]]:
    """[(field, rendered value or the exact template error, ok)] for every string input."""
    rows: list[tuple[str, str, bool]] = []
    for path, text in _strings(inputs if isinstance(inputs, Mapping) else {}):
        try:
            value = render_value(text, context, field=path, step=step)
        except TwilioFlowError as error:
            rows.append((path, error.message, False))
        else:
            rows.append((path, value if isinstance(value, str) else repr(value), True))
    return rows
