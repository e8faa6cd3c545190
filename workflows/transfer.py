"""Export and import of workflows as JSON. Documented in the README ("Workflow JSON").

The format names connections and sub-workflows by name, so a workflow moves between
workspaces and installations; `export(import(x)) == x` for any valid document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from connections.models import Connection
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError, validation_error
from workflows.models import OnError, Step, StepKind, Workflow
from workflows.step_validation import workflow_problems
from workspaces.models import Workspace

FORMAT = "twilioflow/workflow@1"
STEP_KEYS = ("name", "kind", "action", "connection", "inputs", "on_error", "max_retries")

Problems = dict[str, list[str]]


@dataclass(frozen=True)
class SharedDefinitions:
    """Workspace-owned definitions a higher app keeps outside workflows and steps name (voice
    agents): exported with the workflow under the document's `key`, imported with it.

    `export(steps)` lists the definitions the steps use (empty: the key is left out).
    `load(workspace, entries, steps, overwrite)` checks the document's entries (whatever the
    document holds, possibly not a list; [] when absent) and the steps' references to them,
    and writes them: one of the same name that is equal
    is kept, a missing one created, a different one refused unless `overwrite`. It returns
    problems keyed by document path (`<key>.0.name`); the import then rolls back."""

    key: str
    export: Callable[[list[Step]], list[dict[str, Any]]]
    load: Callable[[Workspace, Any, list[Any], bool], Problems]


_SHARED: dict[str, SharedDefinitions] = {}


def shared_definitions_register(definitions: SharedDefinitions) -> None:
    """Called from the owning app's `AppConfig.ready` (workflows never imports it)."""
    _SHARED[definitions.key] = definitions


def workflow_export(workflow: Workflow) -> dict[str, Any]:
    steps = list(workflow.steps.select_related("connection").order_by("position", "id"))
    document: dict[str, Any] = {
        "format": FORMAT,
        "name": workflow.name,
        "description": workflow.description,
        "enabled": workflow.enabled,
        "default_variables": workflow.default_variables or {},
        "steps": [
            {
                "name": step.name,
                "kind": step.kind,
                "action": step.action,
                "connection": step.connection.name if step.connection is not None else None,
                "inputs": step.inputs,
                "on_error": step.on_error,
                "max_retries": step.max_retries,
            }
            for step in steps
        ],
    }
    for shared in _SHARED.values():
        entries = shared.export(steps)
        if entries:
            document[shared.key] = entries
    return document


def _check_document(document: Any) -> None:
    if not isinstance(document, dict):
        raise validation_error({"document": "Expected a JSON object."})
    problems: dict[str, list[str]] = {}
    if document.get("format") != FORMAT:
        problems["format"] = [f"Expected {FORMAT!r}."]
    if not isinstance(document.get("name"), str) or not document["name"].strip():
        problems["name"] = ["A workflow needs a name."]
    if not isinstance(document.get("steps"), list):
        problems["steps"] = ["Expected a list of steps."]
    else:
        for index, step in enumerate(document["steps"]):
            if not isinstance(step, dict):
                problems[f"steps.{index}"] = ["Expected an object."]
                continue
            unknown = set(step) - set(STEP_KEYS)
            if unknown:
                problems[f"steps.{index}"] = [f"Unknown keys: {', '.join(sorted(unknown))}."]
            if step.get("kind", StepKind.ACTION) not in StepKind.values:
                problems[f"steps.{index}.kind"] = [f"One of: {', '.join(StepKind.values)}."]
            if step.get("on_error", OnError.FAIL) not in OnError.values:
                problems[f"steps.{index}.on_error"] = [f"One of: {', '.join(OnError.values)}."]
    if problems:
        raise validation_error(problems)


@transaction.atomic
def workflow_import(
    *, workspace: Workspace, document: Any, replace: bool = False, overwrite_shared: bool = False
) -> Workflow:
    """Create (or with `replace`, overwrite) a workflow from an exported document, with the
    shared definitions it carries (voice agents: kept when equal, created when missing, a
    different one of the same name refused unless `overwrite_shared`). All or nothing: any
    problem raises one VALIDATION_ERROR naming every bad field."""
    _check_document(document)
    name = document["name"].strip()
    existing = Workflow.objects.filter(workspace=workspace, name=name).first()
    if existing and not replace:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            f"A workflow called {name!r} exists in {workspace.slug}; use --replace to overwrite it.",
            fields={"name": ["Already exists."]},
        )
    workflow = existing or Workflow(workspace=workspace, name=name)
    workflow.description = document.get("description") or ""
    workflow.enabled = bool(document.get("enabled", True))
    workflow.default_variables = document.get("default_variables") or {}
    _clean(workflow, "")
    workflow.save()
    workflow.steps.all().delete()
    connections = {c.name: c for c in Connection.objects.filter(workspace=workspace)}
    problems: Problems = {}
    for shared in _SHARED.values():
        entries = document.get(shared.key)
        problems.update(
            shared.load(workspace, [] if entries is None else entries, document["steps"], overwrite_shared)
        )
    steps = []
    for index, spec in enumerate(document["steps"]):
        connection_name = spec.get("connection")
        step = Step(
            workflow=workflow,
            position=index,
            name=spec.get("name", ""),
            kind=spec.get("kind", StepKind.ACTION),
            action=spec.get("action") or "",
            connection=connections.get(connection_name) if connection_name else None,
            inputs=spec.get("inputs") or {},
            on_error=spec.get("on_error", OnError.FAIL),
            max_retries=spec.get("max_retries", 3),
        )
        if connection_name and step.connection is None:
            problems[f"steps.{index}.connection"] = [
                f"No connection {connection_name!r} in workspace {workspace.slug}."
            ]
            continue
        try:
            step.full_clean(exclude=["workflow"], validate_unique=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                problems[f"steps.{index}.{field}"] = messages
            continue
        steps.append(step)
    for field, messages in workflow_problems(steps).items():
        problems[field] = messages
    if problems:
        raise validation_error(problems)
    Step.objects.bulk_create(steps)
    return workflow


def _clean(instance, prefix: str) -> None:
    try:
        instance.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise validation_error({f"{prefix}{k}": v for k, v in exc.message_dict.items()}) from None


_STEP_FIELDS = ["position", "name", "kind", "action", "connection", "inputs", "on_error", "max_retries"]


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
def workflow_duplicate(*, workflow: Workflow, user=None) -> Workflow:
    """A disabled copy of the workflow and its steps, named "<name> (copy)" (then "(copy 2)",
    …). The copies are `user`'s steps (so a credential-bearing one runs only if `user` may
    configure it)."""
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
