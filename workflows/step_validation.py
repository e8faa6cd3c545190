"""What makes a step (and a set of steps) valid, checked when it is saved or imported.

Values without templates are validated against the action's field declaration now, so a bad
SID or phone number is reported at save time rather than at 3 a.m. in a run; values with
templates are checked for syntax now and validated after rendering.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actions.registry import action_get
from actions.validation import Invalid
from twilioflow.core.errors import TwilioFlowError

BRANCH_OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "matches",
    "greater_than",
    "less_than",
    "is_empty",
    "is_not_empty",
)
UNARY_OPERATORS = frozenset({"is_empty", "is_not_empty"})
END_STATUSES = ("succeeded", "failed", "canceled")
SPECIAL_TARGETS = frozenset({"next", "end"})


def has_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _syntax(inputs: Any) -> dict[str, list[str]]:
    from workflows.templating import check_syntax

    return {f"inputs.{k}": v for k, v in check_syntax(inputs).items()}


def _require_dict(inputs, key, problems) -> dict:
    value = inputs.get(key)
    if not isinstance(value, dict):
        problems[f"inputs.{key}"] = ["Expected an object."]
        return {}
    return value


def _positive_number(value, name, problems, *, minimum=0.0, maximum=None, required=False):
    if value in (None, ""):
        if required:
            problems[f"inputs.{name}"] = ["This field is required."]
        return
    if has_template(value):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems[f"inputs.{name}"] = [f"Expected a number, got {value!r}."]
        return
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        problems[f"inputs.{name}"] = [f"Must be {bound}."]


def step_problems(step) -> dict[str, list[str]]:
    """Field name -> messages for one step on its own (cross-step checks are separate)."""
    from workflows.models import StepKind

    problems: dict[str, list[str]] = {}
    inputs = step.inputs if isinstance(step.inputs, dict) else None
    if inputs is None:
        return {"inputs": ["Expected a JSON object."]}
    problems.update(_syntax(inputs))
    kind = step.kind
    if kind == StepKind.ACTION:
        _action_problems(step, inputs, problems)
    elif step.action:
        problems["action"] = ["Only action steps name an action."]
    if kind == StepKind.BRANCH:
        cases = inputs.get("cases")
        if not isinstance(cases, list) or not cases:
            problems["inputs.cases"] = ["A branch needs a list of cases."]
        else:
            for index, case in enumerate(cases):
                if not isinstance(case, dict):
                    problems[f"inputs.cases.{index}"] = ["Expected an object."]
                    continue
                operator = case.get("operator")
                if operator not in BRANCH_OPERATORS:
                    problems[f"inputs.cases.{index}.operator"] = [f"One of: {', '.join(BRANCH_OPERATORS)}."]
                if "left" not in case:
                    problems[f"inputs.cases.{index}.left"] = ["This field is required."]
                if operator not in UNARY_OPERATORS and "right" not in case:
                    problems[f"inputs.cases.{index}.right"] = ["This field is required."]
                if not case.get("goto"):
                    problems[f"inputs.cases.{index}.goto"] = ["Name the step to go to, or 'next' or 'end'."]
    elif kind == StepKind.SET_VARIABLES:
        variables = _require_dict(inputs, "variables", problems)
        for name in variables:
            if not str(name).isidentifier():
                problems[f"inputs.variables.{name}"] = ["Variable names are identifiers (a-z, 0-9, _)."]
    elif kind == StepKind.DELAY:
        if ("seconds" in inputs) == ("until" in inputs):
            problems["inputs.seconds"] = ["Give exactly one of seconds or until."]
        _positive_number(inputs.get("seconds"), "seconds", problems, maximum=365 * 86400)
    elif kind == StepKind.END:
        status = inputs.get("status", "succeeded")
        if status not in END_STATUSES:
            problems["inputs.status"] = [f"One of: {', '.join(END_STATUSES)}."]
    elif kind in (StepKind.RUN_WORKFLOW, StepKind.FOR_EACH):
        if not inputs.get("workflow"):
            problems["inputs.workflow"] = ["Name the workflow to run."]
        elif step.workflow_id and not _workflow_exists(step, inputs["workflow"]):
            problems["inputs.workflow"] = [f"No workflow {inputs['workflow']!r} in this workspace."]
        if "inputs" in inputs and not isinstance(inputs["inputs"], dict):
            problems["inputs.inputs"] = ["Expected an object."]
        if kind == StepKind.FOR_EACH:
            if "items" not in inputs:
                problems["inputs.items"] = [
                    "A template or list giving the items, e.g. {{ trigger.recipients }}."
                ]
            _positive_number(inputs.get("concurrency"), "concurrency", problems, minimum=1, maximum=1000)
            _positive_number(
                inputs.get("rate_per_second"), "rate_per_second", problems, minimum=0.001, maximum=1000
            )
    elif kind == StepKind.WAIT_FOR_REPLY:
        if inputs.get("channel", "sms") not in ("sms", "whatsapp"):
            problems["inputs.channel"] = ["One of: sms, whatsapp."]
        _positive_number(
            inputs.get("timeout_seconds"), "timeout_seconds", problems, minimum=1, maximum=30 * 86400
        )
    problems.update(_kind_problems(kind, inputs))
    if kind != StepKind.ACTION and step.connection_id:
        problems["connection"] = ["Only action steps use a connection."]
    return problems


def _kind_problems(kind: str, inputs: dict[str, Any]) -> dict[str, list[str]]:
    """What the step kind's own declaration says about its inputs (voice steps)."""
    from workflows.engine.registry import step_kind_get

    try:
        spec = step_kind_get(kind)
    except KeyError:
        return {}
    return spec.input_problems(inputs)


def _workflow_exists(step, ref) -> bool:
    from workflows.models import Workflow

    if has_template(ref):
        return True
    return Workflow.objects.filter(workspace_id=step.workflow.workspace_id, name=ref).exists()


def _action_problems(step, inputs: dict, problems: dict) -> None:
    if not step.action:
        problems["action"] = ["Pick the Twilio action this step runs."]
        return
    try:
        action = action_get(step.action)
    except TwilioFlowError as error:
        problems["action"] = [error.message]
        return
    if not step.connection_id:
        problems["connection"] = ["Action steps need a Twilio connection."]
    elif step.workflow_id and step.connection.workspace_id != step.workflow.workspace_id:
        problems["connection"] = ["The connection belongs to another workspace."]
    fields = action.field_map()
    country = step.workflow.workspace.default_country if step.workflow_id else None
    for name, value in inputs.items():
        spec = fields.get(name) or fields.get(action.aliases.get(name, ""))  # e.g. max_duration
        if spec is None:
            problems[f"inputs.{name}"] = [f"Unknown field for {action.slug}; known: {', '.join(fields)}."]
            continue
        if _contains_template(value):
            continue
        try:
            spec.clean(value, default_country=country)
        except Invalid as exc:
            problems.setdefault(f"inputs.{name}", []).append(str(exc))
    for spec in action.fields:
        if spec.required and spec.name not in inputs:
            problems.setdefault(f"inputs.{spec.name}", []).append("This field is required.")


def _contains_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_template(v) for v in value)
    return has_template(value)


def workflow_problems(steps: Iterable) -> dict[str, list[str]]:
    """Checks that need all the steps: branch targets exist, names are unique."""
    steps = list(steps)
    names = [s.name for s in steps]
    problems: dict[str, list[str]] = {}
    seen = set()
    for name in names:
        if name in seen:
            problems[f"steps.{name}"] = ["Two steps have this name."]
        seen.add(name)
    for step in steps:
        inputs = step.inputs if isinstance(step.inputs, dict) else {}
        targets = [
            (f"cases.{i}.goto", c.get("goto"))
            for i, c in enumerate(inputs.get("cases") or [])
            if isinstance(c, dict)
        ]
        if step.kind == "branch" and inputs.get("default"):
            targets.append(("default", inputs["default"]))
        if step.kind == "wait_for_reply":
            targets += [(key, inputs.get(key)) for key in ("on_reply", "no_reply")]
        for path, target in targets:
            if target and target not in SPECIAL_TARGETS and target not in seen:
                problems[f"steps.{step.name}.inputs.{path}"] = [f"No step called {target!r}."]
    return problems
