"""`delay`: the run sleeps in the database (status `waiting`), not in a worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime

from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from workflows.engine.attempts import attempts, close, control
from workflows.engine.context import record_output, render
from workflows.engine.outcomes import Advance, Outcome, Park
from workflows.engine.steps.base import StepKindSpec
from workflows.engine.steps.branch import number
from workflows.models import Run, Step, StepKind, StepStatus, WaitingFor


class Delay(StepKindSpec):
    kind = StepKind.DELAY
    title = "Delay"

    def execute(self, run: Run, step: Step) -> Outcome:
        previous = attempts(run)
        waiting = previous[-1] if previous and previous[-1].status == StepStatus.PENDING else None
        if waiting is not None:
            waited_until = waiting.retry_at or clock.now()
            if waited_until > clock.now():
                return Park(WaitingFor.DELAY, waited_until)
            close(waiting, StepStatus.SUCCEEDED, output={"waited_until": waited_until.isoformat()})
            record_output(run, step, waiting.output)
            return Advance()

        def body(step_run):
            wake_at = delay_until(run, step)
            step_run.retry_at = wake_at
            step_run.save(update_fields=["retry_at"])
            return Park(WaitingFor.DELAY, wake_at), None

        return control(run, step, body)


def delay_until(run: Run, step: Step) -> datetime:
    if "until" in step.inputs:
        value = render(run, step, step.inputs["until"], "until")
        moment = value if isinstance(value, datetime) else parse_datetime(str(value))
        if moment is None:
            raise TwilioFlowError(
                errors.VALIDATION_ERROR,
                f"until: {value!r} is not a date-time.",
                fields={"until": ["Expected an ISO 8601 date-time."]},
            )
        return moment
    seconds = number(render(run, step, step.inputs.get("seconds"), "seconds"))
    if seconds is None or seconds < 0:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            "seconds: expected a number ≥ 0.",
            fields={"seconds": ["Expected a number of seconds."]},
        )
    return clock.now() + timedelta(seconds=float(seconds))
