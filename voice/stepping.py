"""What every voice step shares: find the run's live call, queue verbs, wait for the
caller. A voice step in a run that drives no call fails with VOICE_NO_CALL; on a call that
has ended it is skipped (the run goes on with its other steps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from voice.live import await_caller, awaiting_clear, caller_input_take, live_session, verbs_add
from voice.models import CallSession, SessionState
from workflows.engine.attempts import attempts, close, control
from workflows.engine.context import record_output, render
from workflows.engine.outcomes import Advance, Outcome, Park
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, Step, StepStatus, WaitingFor

VOICE_NO_CALL = "VOICE_NO_CALL"
# How long a run waits for a callback beyond the verb's own timeout before it decides the
# caller is gone (a hang-up's status callback normally says so sooner).
CALLER_GRACE_SECONDS = 120
SKIPPED = {"skipped": True, "reason": "the call has ended"}


def pending_attempt(run: Run):
    """The step's attempt left pending while it waits for the caller, if any."""
    previous = attempts(run)
    return previous[-1] if previous and previous[-1].status == StepStatus.PENDING else None


def session_required(run: Run) -> CallSession:
    session = live_session(run)
    if session is None:
        raise TwilioFlowError(
            VOICE_NO_CALL,
            "This voice step needs a live call: start the workflow from an incoming-call trigger "
            "whose answer is “workflow”, or from make-call with this workflow.",
        )
    return session


def text_input(run: Run, step: Step, name: str, default: Any = "") -> Any:
    value = step.inputs.get(name, default)
    return render(run, step, value, name) if isinstance(value, str) else value


def say_options(run: Run, step: Step) -> dict[str, Any]:
    return {name: text_input(run, step, name) for name in ("voice", "language") if step.inputs.get(name)}


def required_problems(inputs: dict[str, Any], *names: str) -> dict[str, list[str]]:
    return {f"inputs.{name}": ["This field is required."] for name in names if not inputs.get(name)}


def integer_problems(inputs: dict[str, Any], name: str, low: int, high: int) -> dict[str, list[str]]:
    value: Any = inputs.get(name)
    if value is None or value == "" or (isinstance(value, str) and "{{" in value):
        return {}
    try:
        number = int(value)
    except (TypeError, ValueError):
        return {f"inputs.{name}": [f"A whole number from {low} to {high}."]}
    return {} if low <= number <= high else {f"inputs.{name}": [f"A whole number from {low} to {high}."]}


class VerbStep(StepKindSpec):
    """A step that queues verbs and goes on (say, play, pause, hangup)."""

    def verbs(self, run: Run, step: Step) -> list[dict[str, Any]]:
        raise NotImplementedError

    def execute(self, run: Run, step: Step) -> Outcome:
        def body(step_run):
            session = session_required(run)
            if session.state != SessionState.LIVE:
                return Advance(), SKIPPED
            verbs = self.verbs(run, step)
            verbs_add(session, *verbs)
            self.after(session)
            return Advance(), {"verbs": verbs}

        return control(run, step, body)

    def after(self, session: CallSession) -> None:
        """What queuing the verbs changes (a hang-up ends the session)."""


class AwaitingStep(StepKindSpec):
    """A step whose verb waits for a callback (gather, record, dial): the run parks in the
    database until the caller's input arrives on the next turn."""

    def verb(self, run: Run, step: Step) -> dict[str, Any]:
        raise NotImplementedError

    def wait_seconds(self, verb: dict[str, Any]) -> float:
        return float(verb.get("timeout") or 5) + CALLER_GRACE_SECONDS

    def output(self, given: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, run: Run, step: Step) -> Outcome:
        waiting = pending_attempt(run)
        if waiting is not None:
            return self._resume(run, step, waiting)

        def body(step_run):
            session = session_required(run)
            if session.state != SessionState.LIVE:
                return Advance(), SKIPPED
            return self.begin(run, step, session, step_run), None

        return control(run, step, body)

    def begin(self, run: Run, step: Step, session: CallSession, step_run) -> Outcome:
        """Queue the verb and wait for the caller (a voice agent asks its first question)."""
        verb = self.verb(run, step)
        await_caller(session, step=step.name, sequence=run.sequence + 1, verb=verb)
        step_run.inputs = verb
        step_run.retry_at = clock.now() + timedelta(seconds=self.wait_seconds(verb))
        step_run.save(update_fields=["inputs", "retry_at"])
        return Park(WaitingFor.CALL, step_run.retry_at)

    def _resume(self, run: Run, step: Step, waiting) -> Outcome:
        session = session_required(run)
        given = caller_input_take(session, sequence=run.sequence + 1)
        if given is None:
            live = session.state == SessionState.LIVE
            if live and waiting.retry_at and waiting.retry_at > clock.now():
                return Park(WaitingFor.CALL, waiting.retry_at)
            awaiting_clear(session)
            output = {**self.output({}), "timed_out": True, "call_ended": not live}
        else:
            output = self.output(given)
        output = record_output(run, step, output)
        close(waiting, StepStatus.SUCCEEDED, output=output)
        return Advance()
