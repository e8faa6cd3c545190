"""Try an agent without a phone: the admin's text simulator and `manage.py simulate_agent`
run the live-call code path (`voice.live`: the same run, step, session and turns) with
typed text as the caller's speech, minus Twilio."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from time import monotonic
from typing import Any

from voice import twiml
from voice.live import answer_build, turn_take
from voice.models import CallSession, CallTurn, SessionState, VoiceAgent
from workflows.models import Run
from workflows.services import run_create, run_execute_inline

KEYS = re.compile(r"^[0-9*#]+$")


@dataclass
class Heard:
    said: str  # what the agent said this turn
    ended: bool
    state: dict[str, Any]
    session: CallSession


def simulation_start(agent: VoiceAgent) -> Heard:
    """A simulated call to `agent`: an ad-hoc run of one voice_agent step, and its answer."""
    run = run_create(
        adhoc_steps=[{"name": "agent", "kind": "voice_agent", "inputs": {"agent": agent.name}}],
        workspace_id=agent.workspace_id,
        source="simulator",
        payload={"CallSid": f"SIM{uuid.uuid4().hex[:31]}", "From": "simulator", "To": agent.name},
        enqueue=False,
    )
    session = CallSession.objects.create(
        workspace_id=agent.workspace_id,
        run=run,
        call_sid=run.trigger_payload["CallSid"][:34],
        direction="simulated",
        caller="simulator",
    )
    CallTurn.objects.create(session=session, index=0, params={"simulated": True})
    started = monotonic()
    run_execute_inline(run.pk)
    return _heard(session, answer_build(session, 0, started))


def simulation_say(session: CallSession, text: str, *, confidence: float = 1.0) -> Heard:
    """The caller says `text` (digits, * and # are keys)."""
    session = CallSession.objects.get(pk=session.pk)
    if session.state != SessionState.LIVE:
        return _heard(session, twiml.goodbye())
    text = text.strip()
    given = {"Digits": text} if KEYS.match(text) else {"SpeechResult": text, "Confidence": str(confidence)}
    return _heard(session, turn_take(session, session.turns, given, hold=False, started=monotonic()))


def simulation_wait(session: CallSession) -> Heard:
    """Come back for a reply the model was still thinking about (a hold turn)."""
    session = CallSession.objects.get(pk=session.pk)
    return _heard(session, turn_take(session, session.turns, {}, hold=True, started=monotonic()))


def _heard(session: CallSession, body: str) -> Heard:
    session.refresh_from_db()
    turn = CallTurn.objects.filter(session=session).order_by("-index").first()
    run = Run.objects.only("status").get(pk=session.run_id)
    return Heard(
        said=turn.said if turn else "",
        ended=session.state != SessionState.LIVE or run.is_final,
        state=session.agent_state,
        session=session,
    )
