"""`end`: finish the run with a status, a message and a result."""

from __future__ import annotations

from twilioflow.core.errors import TwilioFlowError
from workflows.engine.attempts import close, new_step_run, next_attempt, on_failure
from workflows.engine.context import default_result, render
from workflows.engine.outcomes import Finish, Outcome
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, RunStatus, Step, StepKind, StepStatus


class End(StepKindSpec):
    kind = StepKind.END
    title = "End"
    # A recorded success is not an Advance: executing it again finishes the run as it said.
    skip_when_succeeded = False

    def execute(self, run: Run, step: Step) -> Outcome:
        status = step.inputs.get("status", "succeeded")
        step_run = new_step_run(run, step, next_attempt(run))
        try:
            message = render(run, step, step.inputs.get("message", ""), "message")
            result = (
                render(run, step, step.inputs["output"], "output")
                if "output" in step.inputs
                else default_result(run)
            )
        except TwilioFlowError as error:
            return on_failure(run, step, step_run, error, render_problem=True)
        close(step_run, StepStatus.SUCCEEDED, output={"status": status, "message": message})
        ended = None
        if status == RunStatus.FAILED:
            ended = TwilioFlowError("ENDED", message or f"Ended by step {step.name!r}.")
        return Finish(status, ended, result)
