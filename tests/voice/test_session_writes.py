"""The turn's session writes are single guarded UPDATEs; when another process changed the row
since it was read, they fall back to the row-locked read-modify-write and lose nothing."""

from __future__ import annotations

from voice.live import _give_input, caller_input_take, session_write
from voice.models import CallSession, VoiceAgent
from voice.simulator import simulation_start
from workflows.models import Run, RunStatus

QUESTIONS = [{"id": "name", "question": "Your name?", "expectedAnswerType": "text"}]


def live_session(workspace) -> CallSession:
    agent = VoiceAgent.objects.create(workspace=workspace, name="ask", questions=QUESTIONS)
    return simulation_start(agent).session


def test_a_stale_queue_is_appended_to_not_overwritten(workspace):
    session = live_session(workspace)
    stale = CallSession.objects.get(pk=session.pk)
    CallSession.objects.filter(pk=session.pk).update(pending=[{"verb": "say", "text": "queued elsewhere"}])
    session_write(stale, verbs=[{"verb": "say", "text": "mine"}], agent_state={"x": 1}, awaiting=None)
    row = CallSession.objects.get(pk=session.pk)
    assert [v["text"] for v in row.pending] == ["queued elsewhere", "mine"] and row.agent_state == {"x": 1}
    # Fresh: one guarded UPDATE does it.
    session_write(row, verbs=[{"verb": "say", "text": "again"}], agent_state={"x": 2}, awaiting=None)
    assert [v["text"] for v in CallSession.objects.get(pk=session.pk).pending][-1] == "again"


def test_input_is_taken_once_even_from_a_stale_read(workspace):
    session = live_session(workspace)
    awaiting = {"step": "agent", "sequence": 1, "turn": 1, "verb": {"verb": "gather"}}
    CallSession.objects.filter(pk=session.pk).update(awaiting=awaiting, caller_input={})
    stale = CallSession.objects.get(pk=session.pk)  # read before the input arrived
    _give_input(stale, 1, {"SpeechResult": "Ada"})
    assert caller_input_take(stale, sequence=1) == {"SpeechResult": "Ada"}
    assert caller_input_take(CallSession.objects.get(pk=session.pk), sequence=1) is None


def test_input_for_a_turn_nobody_awaits_changes_nothing(workspace):
    session = live_session(workspace)
    before = CallSession.objects.get(pk=session.pk)
    status = Run.objects.get(pk=session.run_id).status
    _give_input(before, before.awaiting.get("turn", 0) + 5, {"SpeechResult": "late"})
    after = CallSession.objects.get(pk=session.pk)
    assert after.caller_input == before.caller_input and Run.objects.get(pk=session.run_id).status == status
    assert status == RunStatus.WAITING
