"""LLM agents on a live call: the greeting, then per caller turn one model reply, until the
model calls `end_call`, the caller says goodbye, or max turns / the conversation timeout
is reached; then the configured fields are extracted with a final JSON request.

The webhook waits for the model at most `answer_wait` seconds. Past that the caller hears a
short filler and Twilio is sent back to us (a hold turn); the model's reply, when it
comes, is written to the call session and wakes the run, and whichever turn then runs the
step says it: exactly once, whatever worker answers."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text
from voice.agents.questions import Reply
from voice.llm import END_CALL_TOOL, ModelReply, chat, extract
from voice.models import CallSession, CallTurn, VoiceAgent

GOODBYE_WORDS = ("goodbye", "good bye", "bye", "hang up", "that's all", "that is all")
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="llm")


@dataclass
class _Job:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    abandoned: bool = False
    reply: ModelReply | None = None
    error: TwilioFlowError | None = None


@dataclass
class LlmStep:
    """What the step does now: `reply` to say (with `ask` to listen, or ended), or `waiting`
    (filler said, the model still thinking)."""

    reply: Reply
    waiting: bool = False


def llm_start(agent: VoiceAgent, state: dict[str, Any]) -> Reply:
    greeting = agent.greeting or "Hello, how can I help you?"
    state.update(
        kind="llm",
        messages=[
            {"role": "system", "content": agent.system_prompt},
            {"role": "assistant", "content": greeting},
        ],
        turns=0,
        started_at=clock.now().isoformat(),
        answers={},
        ended=False,
        end_reason="",
        pending="",
        retried=False,
        silences=0,
    )
    return Reply(say=[greeting], ask={"llm": True})


def llm_turn(
    agent: VoiceAgent, state: dict[str, Any], given: dict[str, Any], session: CallSession
) -> LlmStep:
    """The caller spoke (or was silent)."""
    heard = str(given.get("SpeechResult") or "").strip()
    if not heard:
        state["silences"] = state.get("silences", 0) + 1
        if state["silences"] > 2:
            return LlmStep(_end(agent, state, "silence", agent.goodbye))
        return LlmStep(Reply(say=["Are you still there?"], ask={"llm": True}))
    state["silences"] = 0
    state["messages"].append({"role": "user", "content": heard})
    lowered = f" {heard.lower().strip('.!?')} "
    if any(f" {word} " in lowered for word in GOODBYE_WORDS):
        return LlmStep(_end(agent, state, "caller_goodbye", agent.goodbye))
    if state["turns"] >= agent.max_turns:
        return LlmStep(_end(agent, state, "max_turns", agent.goodbye))
    started = datetime.fromisoformat(state["started_at"])
    if (clock.now() - started).total_seconds() > agent.conversation_timeout:
        return LlmStep(_end(agent, state, "timeout", agent.goodbye))
    return _ask_model(agent, state, session)


def _ask_model(agent: VoiceAgent, state: dict[str, Any], session: CallSession) -> LlmStep:
    job_id = uuid.uuid4().hex
    job = _Job()
    state["pending"] = job_id
    # Written before the thread starts: its late reply is taken only for this very job.
    CallSession.objects.filter(pk=session.pk).update(agent_state=state, late_reply={})
    messages = list(state["messages"])
    # Everything the thread needs is read here: it touches the database only to store a
    # late reply.
    _pool.submit(_think, agent, agent.llm, messages, job, job_id, session.pk, session.run_id)
    finished = _wait(job, agent.answer_wait)
    if finished is None:  # still thinking: the filler now, the reply on a later turn
        return LlmStep(Reply(say=[agent.filler]), waiting=True)
    return LlmStep(_use(agent, state, session, finished))


def _wait(job: _Job, seconds: float) -> dict[str, Any] | None:
    """The result if the model answers within `seconds`; else the job is marked abandoned
    (under its lock, so the thread then stores its result: never both, never neither)."""
    end = time.monotonic() + seconds
    while True:
        with job.lock:
            if job.done:
                return _result(job)
            if time.monotonic() >= end:
                job.abandoned = True
                return None
        time.sleep(0.01)


def _result(job: _Job) -> dict[str, Any]:
    if job.error is not None:
        return {"error": job.error.code, "message": job.error.message}
    reply = job.reply or ModelReply()
    return {
        "text": reply.text,
        "end_call": reply.end_call,
        "tokens": reply.tokens,
        "latency_ms": reply.latency_ms,
    }


def _think(agent: VoiceAgent, llm, messages, job: _Job, job_id: str, session_id: int, run_id: int) -> None:
    try:
        if llm is None:
            raise TwilioFlowError("LLM_ERROR", "The agent has no LLM connection.")
        job.reply = chat(
            llm,
            messages,
            temperature=agent.temperature,
            max_tokens=agent.max_tokens,
            tools=[END_CALL_TOOL],
            budget=llm.request_timeout,  # the whole request, retries included
        )
    except TwilioFlowError as error:
        job.error = error
    except Exception as exc:
        job.error = TwilioFlowError("LLM_ERROR", redact_text(f"{type(exc).__name__}: {exc}"))
    with job.lock:
        job.done = True
        abandoned = job.abandoned
    if abandoned:
        try:
            _store(session_id, run_id, job_id, _result(job))
        finally:
            connection.close()  # this pool thread's own connection: never left open


def _store(session_id: int, run_id: int, job_id: str, result: dict[str, Any]) -> None:
    """The late reply, kept on the session for the turn that picks it up; the run wakes."""
    from voice.live import wake_run

    with transaction.atomic():
        session = CallSession.objects.select_for_update().get(pk=session_id)
        if session.agent_state.get("pending") != job_id:
            return
        session.late_reply = {"job": job_id, **result}
        session.save(update_fields=["late_reply"])
    wake_run(run_id)


def llm_late_reply(agent: VoiceAgent, state: dict[str, Any], session: CallSession) -> LlmStep | None:
    """A reply that came after the filler, once; None while the model still thinks."""
    late = CallSession.objects.values_list("late_reply", flat=True).get(pk=session.pk)
    if not late or not state.get("pending") or late.get("job") != state.get("pending"):
        return None
    CallSession.objects.filter(pk=session.pk).update(late_reply={})
    return LlmStep(_use(agent, state, session, late))


def llm_give_up(agent: VoiceAgent, state: dict[str, Any]) -> Reply:
    """No reply ever came (the worker that waited for it died): the fallback, and the end."""
    return _end(agent, state, "model_error", agent.fallback_message, extract_fields=False)


def _use(agent: VoiceAgent, state: dict[str, Any], session: CallSession, result: dict[str, Any]) -> Reply:
    state["pending"] = ""
    _note_turn(session, result)
    if result.get("error"):
        if not state.get("retried"):
            state["retried"] = True
            retry = _ask_model(agent, state, session)
            if not retry.waiting:
                return retry.reply
            return Reply(say=retry.reply.say)
        return _end(agent, state, "model_error", agent.fallback_message, extract_fields=False)
    state["retried"] = False
    text = result.get("text") or ""
    state["messages"].append({"role": "assistant", "content": text})
    state["turns"] = state.get("turns", 0) + 1
    if result.get("end_call"):
        return _end(agent, state, "end_call", text or agent.goodbye)
    return Reply(say=[text] if text else [], ask={"llm": True})


def _note_turn(session: CallSession, result: dict[str, Any]) -> None:
    turn = CallTurn.objects.filter(session=session).order_by("-index").first()
    if turn is not None:
        CallTurn.objects.filter(pk=turn.pk).update(
            model_ms=result.get("latency_ms"),
            tokens=result.get("tokens"),
            error=redact_text(str(result.get("message") or ""))[:300],
        )


def _end(
    agent: VoiceAgent, state: dict[str, Any], reason: str, message: str, *, extract_fields: bool = True
) -> Reply:
    state.update(ended=True, end_reason=reason, pending="")
    if extract_fields and agent.extract_fields and agent.llm is not None:
        try:
            state["answers"] = extract(
                agent.llm, state["messages"], list(agent.extract_fields), budget=agent.answer_wait
            )
        except TwilioFlowError as error:
            state["answers"] = {name: None for name in agent.extract_fields}
            state["extract_error"] = error.code
    return Reply(say=[message] if message else [], ended=True)


def llm_gather(agent: VoiceAgent) -> dict[str, Any]:
    """Listening for the caller's next sentence."""
    return {
        "verb": "gather",
        "input": "speech",
        "speech_timeout": "auto",
        "timeout": 6,
        "language": agent.language,
    }
