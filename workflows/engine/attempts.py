"""Attempts of one step (StepRun rows) and what a failed attempt leads to."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
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

Pending = list[tuple[StepRun, list[str], tuple[str, ...]]]  # (row, fields, already redacted)
_pending: contextvars.ContextVar[Pending | None] = contextvars.ContextVar(
    "deferred_step_run_writes", default=None
)


def attempts(run: Run) -> list[StepRun]:
    """The attempts so far of the step at the cursor (a list `prefetch_attempts` left for
    this very step is used once, instead of asking again)."""
    prefetched = getattr(run, "_prefetched_attempts", None)
    if prefetched is not None:
        run._prefetched_attempts = None  # type: ignore[attr-defined]
        if prefetched[0] == run.sequence:
            return list(prefetched[1])
    return list(StepRun.objects.filter(run=run, sequence=run.sequence + 1).order_by("attempt"))


def prefetch_attempts(run: Run, previous: list[StepRun]) -> None:
    run._prefetched_attempts = (run.sequence, previous)  # type: ignore[attr-defined]


@contextlib.contextmanager
def deferred_writes() -> Iterator[Pending]:
    """Collect `close(..., defer=True)` writes, for the engine to commit together with the
    cursor move (`flush_deferred`, in one transaction)."""
    pending: Pending = []
    token = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(token)


def flush_deferred(pending: Pending) -> None:
    for step_run, fields, redacted in pending:
        step_run.write(fields, redacted=redacted)
    pending.clear()


def next_attempt(run: Run) -> int:
    previous = attempts(run)
    return previous[-1].attempt + 1 if previous else 1


def new_step_run(run: Run, step: Step, attempt: int, *, redacted: tuple[str, ...] = (), **values) -> StepRun:
    """One INSERT. `redacted`: fields of `values` the caller already redacted."""
    step_run = StepRun(
        run=run,
        sequence=run.sequence + 1,
        attempt=attempt,
        step_name=step.name,
        kind=step.kind,
        action=step.action,
        **values,
    )
    step_run.insert(redacted=redacted)
    return step_run


# What an attempt's end may change (steps also set some of these on the object before
# closing). Never the delivery_* fields: a status callback may have written them meanwhile.
CLOSE_FIELDS = (
    "status",
    "finished_at",
    "duration_ms",
    "inputs",
    "output",
    "twilio_sid",
    "exchanges",
    "reconciled",
    "error_code",
    "twilio_error_code",
    "error_message",
    "retry_at",
)


def close(
    step_run: StepRun,
    status: str,
    *,
    defer: bool = False,
    only_given: bool = False,
    redacted: tuple[str, ...] = (),
    **values,
) -> None:
    """Record an attempt's end (CLOSE_FIELDS, not a full save; with `only_given`, just the
    status, times and `values`). With `defer`, inside the engine's `deferred_writes`, the
    write waits for the cursor move's transaction. `redacted`: fields of `values` the caller
    already redacted (the model's safety net redacts the others)."""
    now = clock.now()
    step_run.status = status
    step_run.finished_at = now
    step_run.duration_ms = max(0, int((now - step_run.started_at).total_seconds() * 1000))
    for key, value in values.items():
        setattr(step_run, key, value)
    base = ("status", "finished_at", "duration_ms") if only_given else CLOSE_FIELDS
    fields = [*base, *(name for name in values if name not in base)]
    pending = _pending.get() if defer else None
    if pending is not None:
        pending.append((step_run, fields, redacted))
    else:
        step_run.write(fields, redacted=redacted)


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
