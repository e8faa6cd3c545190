"""Voice agents in workflow JSON (`twilioflow/workflow@1`, README "Workflow JSON"): a workflow
whose `voice_agent` steps name agents carries their definitions under `voice_agents`, so it
runs the same in another workspace or installation. An LLM agent names its LLM connection;
the connection (and its API key) never leaves the workspace, like a Twilio connection.

Registered with `workflows.transfer` from `VoiceConfig.ready` (workflows never imports voice).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from voice.models import (
    AGENT_LLM_FIELDS,
    AGENT_QUESTIONS_FIELDS,
    AGENT_VOICE_FIELDS,
    LlmConnection,
    VoiceAgent,
)
from workflows.models import Step, StepKind
from workflows.transfer import Problems, SharedDefinitions
from workspaces.models import Workspace

KEY = "voice_agents"
# Everything that defines how an agent talks, in the order a document lists it.
AGENT_FIELDS = (*AGENT_VOICE_FIELDS, *AGENT_QUESTIONS_FIELDS, *AGENT_LLM_FIELDS)
KEYS = ("name", "llm", *AGENT_FIELDS)


def _agent_name(inputs: Any) -> str | None:
    """The agent a step names, when it is a plain name (a `{{ template }}` is known only at run time)."""
    name = inputs.get("agent") if isinstance(inputs, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() and "{{" not in name else None


def agent_document(agent: VoiceAgent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "llm": agent.llm.name if agent.llm is not None else None,
        **{field: getattr(agent, field) for field in AGENT_FIELDS},
    }


def agents_export(steps: list[Step]) -> list[dict[str, Any]]:
    names = {
        name for step in steps if step.kind == StepKind.VOICE_AGENT and (name := _agent_name(step.inputs))
    }
    if not names:
        return []
    agents = VoiceAgent.objects.filter(workspace_id=steps[0].workflow.workspace_id, name__in=names)
    return [agent_document(agent) for agent in agents.select_related("llm").order_by("name")]


def _candidate(
    workspace: Workspace, entry: dict[str, Any], llms: dict[str, LlmConnection], path: str
) -> tuple[VoiceAgent | None, Problems]:
    """The agent the entry describes, cleaned like an admin save (unsaved), or its problems."""
    problems: Problems = {}
    unknown = set(entry) - set(KEYS)
    if unknown:
        problems[path] = [f"Unknown keys: {', '.join(sorted(map(str, unknown)))}."]
    agent = VoiceAgent(workspace=workspace, name=entry["name"])
    for field in AGENT_FIELDS:
        if field in entry:
            setattr(agent, field, entry[field])
    llm_name = entry.get("llm")
    if llm_name not in (None, ""):
        agent.llm = llms.get(llm_name) if isinstance(llm_name, str) else None
        if agent.llm is None:
            problems[f"{path}.llm"] = [
                f"No LLM connection {llm_name!r} in workspace {workspace.slug}; create it (with its "
                "API key, which is never exported) before importing."
            ]
            return None, problems
    try:
        agent.full_clean(exclude=["workspace"], validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            problems[f"{path}.{field}"] = messages
    return (None if problems else agent), problems


def agents_load(workspace: Workspace, entries: Any, steps: list[Any], overwrite: bool) -> Problems:
    if not isinstance(entries, list):
        return {KEY: ["Expected a list of voice agents."]}
    problems: Problems = {}
    names = [e["name"].strip() for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]
    existing = {
        agent.name: agent
        for agent in VoiceAgent.objects.filter(workspace=workspace, name__in=names).select_related("llm")
    }
    llms = {llm.name: llm for llm in LlmConnection.objects.filter(workspace=workspace)}
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        path = f"{KEY}.{index}"
        if not isinstance(entry, dict):
            problems[path] = ["Expected an object."]
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problems[f"{path}.name"] = ["A voice agent needs a name."]
            continue
        entry = {**entry, "name": name.strip()}
        if entry["name"] in seen:
            problems[f"{path}.name"] = [f"Voice agent {entry['name']!r} is listed twice."]
            continue
        seen.add(entry["name"])
        agent, found = _candidate(workspace, entry, llms, path)
        problems.update(found)
        if agent is None:
            continue
        current = existing.get(agent.name)
        if current is None:
            agent.save()
            continue
        wanted, present = agent_document(agent), agent_document(current)
        differing = [key for key in KEYS if wanted[key] != present[key]]
        if not differing:
            continue  # the same agent: keep it
        if not overwrite:
            problems[f"{path}.name"] = [
                f"A different voice agent {agent.name!r} exists in workspace {workspace.slug} "
                f"(differs in {', '.join(differing)}); import with overwrite (--overwrite-shared) "
                "to replace it, or rename one of them."
            ]
            continue
        for field in ("llm", *AGENT_FIELDS):
            setattr(current, field, getattr(agent, field))
        current.save()
    problems.update(_missing_references(workspace, steps, seen | set(existing)))
    return problems


def _missing_references(workspace: Workspace, steps: list[Any], known: set[str]) -> Problems:
    """A `voice_agent` step naming an agent neither the document nor the workspace has."""
    wanted = {
        index: name
        for index, step in enumerate(steps)
        if isinstance(step, dict)
        and step.get("kind") == StepKind.VOICE_AGENT
        and (name := _agent_name(step.get("inputs"))) is not None
        and name not in known
    }
    if not wanted:
        return {}
    present = set(
        VoiceAgent.objects.filter(workspace=workspace, name__in=set(wanted.values())).values_list(
            "name", flat=True
        )
    )
    return {
        f"steps.{index}.inputs.agent": [
            f"No voice agent {name!r} in workspace {workspace.slug} or this document."
        ]
        for index, name in wanted.items()
        if name not in present
    }


def voice_transfer_register() -> None:
    from workflows.transfer import shared_definitions_register

    shared_definitions_register(SharedDefinitions(key=KEY, export=agents_export, load=agents_load))
