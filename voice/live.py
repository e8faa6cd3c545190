"""Live calls driven by runs: the services the webhooks call and the voice steps use.

A turn: Twilio requests `/hooks/twilio/<connection>/voice/live/<session>?turn=<n>` (turn 0
is the incoming-call webhook itself). The caller's input goes to the waiting step, the run
executes here, in the request, until it needs the caller again (a gather), finishes or
waits for something else; the verbs its voice steps produced become the answer. Everything
is in the database (`CallSession`, `CallTurn`): another worker, or a restarted server,
answers the next turn the same way. A turn that was answered already (Twilio retried)
gets the stored answer and advances nothing."""

from __future__ import annotations

import logging
from datetime import timedelta
from time import monotonic
from typing import Any

from django.db import IntegrityError, transaction

from twilioflow.core import clock
from twilioflow.core.redaction import redact_text
from voice import twiml
from voice.agents.parsing import confidence_of
from voice.models import CallSession, CallTurn, SessionState
from workflows.inbound import FINAL_CALL_STATUSES
from workflows.models import Run, RunStatus, WaitingFor
from workflows.services import run_execute_inline

logger = logging.getLogger(__name__)

# An incoming call's run waits this long for turn 0 (Twilio follows the redirect at once).
FIRST_TURN_WAIT_SECONDS = 120
INPUT_FIELDS = (
    "Digits",
    "SpeechResult",
    "Confidence",
    "RecordingUrl",
    "RecordingSid",
    "RecordingDuration",
    "DialCallStatus",
    "DialCallSid",
    "DialCallDuration",
    "CallStatus",
)


def live_url(session: CallSession, turn: int, *, hold: bool = False) -> str:
    connection = session.connection.public_id if session.connection else "simulated"
    base = f"{session.base_url}/hooks/twilio/{connection}/voice/live/{session.public_id}"
    return f"{base}?turn={turn}" + ("&hold=1" if hold else "")


# --- used by the voice steps -------------------------------------------------------------
def live_session(run: Run) -> CallSession | None:
    """The call `run` drives, if any."""
    return CallSession.objects.filter(run_id=run.pk).first()


def verbs_add(session: CallSession, *verbs: dict[str, Any]) -> None:
    """Queue verbs for the next answer (row-locked: a hold answer may be reading them)."""
    with transaction.atomic():
        locked = CallSession.objects.select_for_update().get(pk=session.pk)
        locked.pending = [*locked.pending, *verbs]
        locked.save(update_fields=["pending"])
        session.pending = locked.pending


def session_write(
    session: CallSession,
    *,
    verbs: list[dict[str, Any]],
    agent_state: dict[str, Any],
    awaiting: dict[str, Any] | None,
) -> None:
    """A voice agent's turn in one write: the verbs to say, its state, and (unless None) the
    verb it now waits on (`await_caller`'s shape). Usually one UPDATE guarded by the queue
    this process read (`session.pending`); if a hold answer took or added verbs meanwhile,
    the row-locked read-modify-write instead."""
    changes: dict[str, Any] = {"pending": [*session.pending, *verbs], "agent_state": agent_state}
    if awaiting is not None:
        changes.update(awaiting=awaiting, caller_input={})
    if CallSession.objects.filter(pk=session.pk, pending=session.pending).update(**changes):
        session.pending, session.agent_state = changes["pending"], agent_state
        if awaiting is not None:
            session.awaiting, session.caller_input = awaiting, {}
        return
    with transaction.atomic():
        locked = CallSession.objects.select_for_update().get(pk=session.pk)
        locked.pending = [*locked.pending, *verbs]
        locked.agent_state = agent_state
        fields = ["pending", "agent_state"]
        if awaiting is not None:
            locked.awaiting, locked.caller_input = awaiting, {}
            fields += ["awaiting", "caller_input"]
        locked.save(update_fields=fields)
    session.pending, session.agent_state = locked.pending, agent_state
    if awaiting is not None:
        session.awaiting, session.caller_input = awaiting, {}


def await_caller(session: CallSession, *, step: str, sequence: int, verb: dict[str, Any]) -> None:
    """The run now waits for the caller on `verb` (a gather, record or dial); the answer that
    carries it numbers its callback (`answer_build`)."""
    CallSession.objects.filter(pk=session.pk).update(
        awaiting={"step": step, "sequence": sequence, "verb": verb}, caller_input={}
    )
    session.awaiting, session.caller_input = {"step": step, "sequence": sequence, "verb": verb}, {}


def caller_input_take(session: CallSession, *, sequence: int) -> dict[str, Any] | None:
    """The caller's input for the awaited verb of the step at `sequence`, once (cleared).
    Usually one UPDATE guarded by what this process read (the session was just loaded for
    the step); otherwise the row-locked read."""
    given, awaiting = session.caller_input, session.awaiting
    if (
        given
        and awaiting.get("sequence") == sequence
        and given.get("turn") == awaiting.get("turn")
        and CallSession.objects.filter(pk=session.pk, caller_input=given, awaiting=awaiting).update(
            awaiting={}, caller_input={}
        )
    ):
        session.awaiting, session.caller_input = {}, {}
        return {k: v for k, v in given.items() if k != "turn"}
    with transaction.atomic():
        locked = CallSession.objects.select_for_update().get(pk=session.pk)
        given = locked.caller_input
        if (
            not given
            or locked.awaiting.get("sequence") != sequence
            or given.get("turn") != locked.awaiting.get("turn")
        ):
            return None
        locked.awaiting, locked.caller_input = {}, {}
        locked.save(update_fields=["awaiting", "caller_input"])
    session.awaiting, session.caller_input = {}, {}
    return {k: v for k, v in given.items() if k != "turn"}


def awaiting_clear(session: CallSession) -> None:
    CallSession.objects.filter(pk=session.pk).update(awaiting={}, caller_input={})
    session.awaiting, session.caller_input = {}, {}


def session_end(session: CallSession, reason: str) -> None:
    CallSession.objects.filter(pk=session.pk, state=SessionState.LIVE).update(
        state=SessionState.ENDED, ended_at=clock.now(), end_reason=reason[:40]
    )
    session.state = SessionState.ENDED


# --- the webhooks ------------------------------------------------------------------------
def call_answer_first(*, run: Run, event, base_url: str) -> str:
    """The incoming call's answer, inside the webhook's transaction: the call's session, the
    run (just started by the trigger) set to wait for the call, and a redirect to turn 0.
    The run's steps execute on turn 0, after this transaction: on SQLite the write lock is
    never held while a workflow runs, and a redelivered webhook gets the same redirect."""
    payload = event.payload or {}
    session = CallSession.objects.create(
        workspace_id=run.workspace_id,
        connection=event.connection,
        run=run,
        call_sid=str(payload.get("CallSid") or "")[:34],
        direction=str(payload.get("Direction") or "inbound")[:20],
        caller=str(payload.get("From") or "")[:64],
        called=str(payload.get("To") or "")[:64],
        base_url=base_url,
    )
    Run.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
        status=RunStatus.WAITING,
        waiting_for=WaitingFor.CALL,
        wake_at=clock.now() + timedelta(seconds=FIRST_TURN_WAIT_SECONDS),
    )
    return twiml.build([], action_url=live_url(session, 0), tail="redirect")


def call_continue(*, connection, session_id, turn: int, hold: bool, params: dict[str, list[str]]) -> str:
    """A callback on a live call (the caller's input, or a hold coming back)."""
    started = monotonic()
    session = (
        CallSession.objects.select_related("connection")
        .filter(public_id=session_id, connection=connection)
        .first()
    )
    if session is None:
        return twiml.goodbye()
    if session.state != SessionState.LIVE:
        # A redelivery of a turn we answered gets that answer; anything else, goodbye.
        return (
            CallTurn.objects.filter(session=session, index=turn).values_list("twiml", flat=True).first()
            or twiml.goodbye()
        )
    if turn == 0 and session.turns == 0:
        return _first_turn(session, params, started)
    if turn < 1 or turn > session.turns:
        # Never asked for: signed, but not a turn of ours. Nothing changes.
        return twiml.goodbye()
    given = {name: (params.get(name) or [""])[0] for name in INPUT_FIELDS if name in params}
    return turn_take(session, turn, given, hold=hold, started=started)


def turn_take(session: CallSession, turn: int, given: dict[str, Any], *, hold: bool, started: float) -> str:
    """Store turn `turn` (once), give the caller's input to the waiting step, run, answer."""
    try:
        # One write transaction: the turn row, the input for the waiting step, its run woken.
        with transaction.atomic():
            CallTurn.objects.create(
                session=session,
                index=turn,
                params=given,
                heard=given.get("SpeechResult", ""),
                digits=given.get("Digits", "")[:64],
                confidence=confidence_of(given.get("Confidence")),
            )
            if not hold:
                _give_input(session, turn, given)
    except IntegrityError:
        return _stored(session, turn)
    run_execute_inline(session.run_id)
    return answer_build(session, turn, started)


def _first_turn(session: CallSession, params: dict[str, list[str]], started: float) -> str:
    """Turn 0: the run starts driving the call (an incoming call redirected here, or a call
    we made for a workflow, answered), with the call's SID and AnsweredBy (answering-machine
    detection) in `trigger`."""
    first = {name: (params.get(name) or [""])[0] for name in ("CallSid", "AnsweredBy", "CallStatus")}
    try:
        with transaction.atomic():
            CallTurn.objects.create(session=session, index=0, params={k: v for k, v in first.items() if v})
    except IntegrityError:
        return _stored(session, 0)
    run = Run.objects.get(pk=session.run_id)
    payload = {**run.trigger_payload, **{k: v for k, v in first.items() if v}}
    Run.objects.filter(pk=run.pk).update(trigger_payload=payload)
    if first["CallSid"] and not session.call_sid:
        CallSession.objects.filter(pk=session.pk).update(call_sid=first["CallSid"][:34])
    _wake(session.run_id)
    run_execute_inline(session.run_id)
    return answer_build(session, 0, started)


def call_status(*, connection, call_sid: str, status: str) -> bool:
    """A final call status (completed, busy…): the session ends and a run waiting on the
    caller resumes (its waiting step sees the call ended). True when a session was live."""
    if status not in FINAL_CALL_STATUSES or not call_sid:
        return False
    session = CallSession.objects.filter(
        connection=connection, call_sid=call_sid, state=SessionState.LIVE
    ).first()
    if session is None:
        return False
    session_end(session, f"call {status}")
    _wake(session.run_id)
    return True


def _give_input(session: CallSession, turn: int, given: dict[str, Any]) -> None:
    # Only when the awaited verb is this turn's: an old or unexpected turn changes nothing.
    if CallSession.objects.filter(pk=session.pk, awaiting__turn=turn).update(
        caller_input={"turn": turn, **given}, last_turn_at=clock.now()
    ):
        _wake(session.run_id)


def wake_run(run_id: int) -> None:
    """A run parked on the call continues (something it waited for arrived)."""
    _wake(run_id)


def _wake(run_id: int) -> None:
    Run.objects.filter(pk=run_id, status=RunStatus.WAITING, waiting_for=WaitingFor.CALL).update(
        status=RunStatus.PENDING, waiting_for=WaitingFor.NOTHING, wake_at=None
    )


def answer_build(session: CallSession, index: int, started: float) -> str:
    """Answer `index`: the queued verbs, then what the run waits on, a hang-up when it is
    over, or a hold while it works elsewhere. Stored on the turn."""
    with transaction.atomic():
        locked = (
            CallSession.objects.select_for_update(of=("self",))
            .select_related("connection")
            .get(pk=session.pk)
        )
        run = Run.objects.only("status", "waiting_for").get(pk=locked.run_id)
        verbs, awaiting = list(locked.pending), dict(locked.awaiting)
        next_url = live_url(locked, index + 1)
        tail = ""
        if locked.state != SessionState.LIVE or run.is_final:
            tail = "hangup"
        elif awaiting and run.status == RunStatus.WAITING and run.waiting_for == WaitingFor.CALL:
            verbs.append(awaiting["verb"])
            awaiting["turn"] = index + 1
        else:
            tail = "hold"
            next_url = live_url(locked, index + 1, hold=True)
        body = twiml.build(verbs, action_url=next_url, tail=tail)
        locked.pending, locked.awaiting = [], awaiting
        locked.turns = max(locked.turns, index + 1)
        fields = ["pending", "awaiting", "turns"]
        if tail == "hangup" and locked.state == SessionState.LIVE:
            locked.state, locked.ended_at, locked.end_reason = SessionState.ENDED, clock.now(), "run over"
            fields += ["state", "ended_at", "end_reason"]
        locked.save(update_fields=fields)
        CallTurn.objects.filter(session=locked, index=index).update(
            twiml=body,
            said=redact_text(twiml.spoken(verbs))[:4000],
            duration_ms=int((monotonic() - started) * 1000),
        )
    return body


def _stored(session: CallSession, turn: int) -> str:
    stored = CallTurn.objects.filter(session=session, index=turn).values_list("twiml", flat=True).first()
    if stored:
        return stored
    # Still being answered by another request (or never asked): come back in a moment.
    return twiml.build([], action_url=live_url(session, turn, hold=True), tail="hold")


def _inputs(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in ("CallSid", "From", "To", "CallStatus", "Direction") if k in payload}
