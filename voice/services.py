"""Saving voice agents and LLM connections outside the admin (the API): the same checks as
the admin's forms, with every JSON-questions mistake under its own JSON path
(`questions[1].options`), so a client can point at the exact place."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from twilioflow.core.errors import validation_error
from voice.agents.questions import questions_problems
from voice.models import AgentType, LlmConnection, VoiceAgent


def voice_agent_problems(agent: VoiceAgent) -> dict[str, list[str]]:
    """{field or JSON path: [messages]}; empty when the agent can run."""
    if agent.agent_type != AgentType.LLM:
        problems: dict[str, list[str]] = {}
        for path, message in questions_problems(agent.questions):
            problems.setdefault(path, []).append(message)
        return problems
    try:
        agent.clean()
    except ValidationError as error:
        return dict(error.message_dict)
    return {}


def voice_agent_save(*, agent: VoiceAgent, **values: Any) -> VoiceAgent:
    """Create or change an agent; VALIDATION_ERROR naming every bad field or path."""
    for name, value in values.items():
        setattr(agent, name, value)
    problems = voice_agent_problems(agent)
    if not (agent.name or "").strip():
        problems["name"] = ["Required."]
    if problems:
        raise validation_error(problems)
    with transaction.atomic():  # a name clash (409) leaves the caller's transaction usable
        agent.save()
    return agent


def llm_connection_save(*, llm: LlmConnection, api_key: str | None = None, **values: Any) -> LlmConnection:
    """Create or change an LLM connection; a missing or blank `api_key` keeps the stored one."""
    for name, value in values.items():
        setattr(llm, name, value)
    if api_key:
        llm.api_key = api_key
    if not 1 <= float(llm.request_timeout) <= 120:
        raise validation_error({"request_timeout": "From 1 to 120 seconds."})
    with transaction.atomic():
        llm.save()
    return llm
