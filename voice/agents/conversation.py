"""An agent's conversation turn by turn, as verbs: shared by the `voice_agent` step (a live
call) and the simulators (admin, `simulate_agent`), which differ only in where the words
come from and go."""

from __future__ import annotations

from typing import Any

from voice.agents.parsing import confidence_of
from voice.agents.questions import AgentSpec, Reply, agent_start, agent_turn, gather_verb
from voice.models import VoiceAgent


def agent_spec(agent: VoiceAgent) -> AgentSpec:
    return AgentSpec(
        questions=agent.questions,
        greeting=agent.greeting,
        goodbye=agent.goodbye,
        language=agent.language,
        min_confidence=agent.min_confidence,
    )


def reply_verbs(
    agent: VoiceAgent, spec: AgentSpec | None, reply: Reply
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(verbs to say now, the gather to wait on or None when the conversation ended)."""
    voice = {"voice": agent.voice} if agent.voice else {}
    said = [{"verb": "say", "text": text, "language": agent.language, **voice} for text in reply.say if text]
    if spec is None or not reply.ask or reply.ended:
        return said, None
    return said, gather_verb(spec, reply.ask, voice=agent.voice)


def conversation_start(agent: VoiceAgent, state: dict[str, Any]) -> Reply:
    return agent_start(agent_spec(agent), state)


def conversation_turn(agent: VoiceAgent, state: dict[str, Any], given: dict[str, Any]) -> Reply:
    return agent_turn(
        agent_spec(agent),
        state,
        speech=str(given.get("SpeechResult") or ""),
        digits=str(given.get("Digits") or ""),
        confidence=confidence_of(given.get("Confidence")),
    )


def outcome(state: dict[str, Any]) -> dict[str, Any]:
    """What the step puts in `steps.<name>`: the typed answers by question id."""
    return {
        "answers": dict(state.get("answers", {})),
        "heard": dict(state.get("heard", {})),
        "completed": state.get("end_reason") == "completed",
        "end_reason": state.get("end_reason", ""),
        "last_question": state.get("question", ""),
    }
