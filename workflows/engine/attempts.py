"""Attempts of one step (StepRun rows) and what a failed attempt leads to."""

from __future__ import annotations

from datetime import timedelta
from time import monotonic
from typing import Any

from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text
from workflows.engine.context import record_output
from workflows.engine.outcomes import Advance, Finish, Outcome, Park, Repeat
from workflows.engine.retry import INLINE_WAIT_MAX, pass_deadline, retry_delay
from workflows.models import OnError, Run, RunStatus, Step, StepRun, StepStatus, WaitingFor


def attempts(run: Run) -> list[StepRun]:
    """The attempts so far of the step at the cursor."""
    return list(StepRun.objects.filter(run=run, sequence=run.sequence + 1).order_by("attempt"))


def next_attempt(run: Run) -> int:
    previous = attempts(run)
    return previous[-1].attempt + 1 if previous else 1


def new_step_run(run: Run, step: Step, attempt: int, **values) -> StepRun:
    return StepRun.objects.create(
        run=run,
        sequence=run.sequence + 1,
        attempt=attempt,
        step_name=step.name,
        kind=step.kind,
        action=step.action,
        **values,
    )


def close(step_run: StepRun, status: str, **values) -> None:
    now = clock.now()
    step_run.status = status
    step_run.finished_at = now
    step_run.duration_ms = max(0, int((now - step_run.started_at).total_seconds() * 1000))
    for key, value in values.items():
        setattr(step_run, key, value)
    step_run.save()


def error_fields(error: TwilioFlowError) -> dict[str, Any]:
    return {
        "error_code": error.code,
        "twilio_error_code": error.twilio_code,
        "error_message": redact_text(error.message),
    }


def on_failure(
    run: Run, step: Step, step_run: StepRun, error: TwilioFlowError, *, render_problem: bool = False
) -> Outcome:
    """Retry (durably), continue, or fail the run, as the step's policy says."""
    retry_in = None if render_problem else retry_delay(step, step_run.attempt, error)
    if retry_in is not None:
        retry_at = clock.now() + timedelta(seconds=retry_in)
        close(step_run, StepStatus.FAILED, retry_at=retry_at, **error_fields(error))
        if retry_in <= INLINE_WAIT_MAX and monotonic() + retry_in < pass_deadline.get():
            clock.sleep(retry_in)
            return Repeat()
        return Park(WaitingFor.RETRY, retry_at)
    close(step_run, StepStatus.FAILED, **error_fields(error))
    if step.on_error == OnError.CONTINUE:
        record_output(run, step, {"status": "failed", "error": error.as_dict()})
        return Advance()
    return Finish(RunStatus.FAILED, error)


def control(run: Run, step: Step, body) -> Outcome:
    """Run a control step's `body(step_run) -> (outcome, output)` with the same error
    handling as actions: a rendering or validation problem goes to the step's policy."""
    step_run = new_step_run(run, step, next_attempt(run), status=StepStatus.PENDING)
    try:
        outcome, output = body(step_run)
    except TwilioFlowError as error:
        return on_failure(run, step, step_run, error, render_problem=True)
    if isinstance(outcome, Advance):
        close(step_run, StepStatus.SUCCEEDED, output=record_output(run, step, output))
    return outcome
