"""What `for_each` and `run_workflow` share: start child runs, then wait for them (or not)."""

from __future__ import annotations

from django.db import transaction

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.engine.attempts import attempts, close, new_step_run, on_failure
from workflows.engine.context import record_output, render
from workflows.engine.outcomes import Advance, Outcome, Park
from workflows.models import Run, Step, StepKind, StepStatus, WaitingFor
from workflows.runs import children_start, children_summary

CHILD_FAILED = "CHILD_FAILED"


def execute_children(run: Run, step: Step, *, wait: bool) -> Outcome:
    previous = attempts(run)
    started = previous[-1] if previous and previous[-1].status == StepStatus.PENDING else None
    if started is not None and started.output is None:
        # Died before the children were committed: none exist, so start them now.
        close(started, StepStatus.FAILED, error_code=errors.CONNECTION_FAILED,
              error_message="Interrupted before the child runs were created.")
        started = None
    if started is None:
        step_run = new_step_run(run, step, previous[-1].attempt + 1 if previous else 1)
        try:
            # The children and the record that they exist commit together: a crash leaves
            # either both (the next pass waits for them) or neither (it starts them).
            with transaction.atomic():
                summary = children_start(
                    run=run, step=step, sequence=run.sequence + 1,
                    render=lambda v, f: render(run, step, v, f),
                )
                step_run.output = summary
                step_run.save(update_fields=["output"])
        except TwilioFlowError as error:
            return on_failure(run, step, step_run, error, render_problem=True)
        if not wait or summary["total"] == 0:
            close(step_run, StepStatus.SUCCEEDED)
            record_output(run, step, summary)
            return Advance()
        return Park(WaitingFor.CHILDREN, None)
    summary = children_summary(run=run, sequence=run.sequence + 1, kind=step.kind)
    if summary["running"]:
        started.output = summary
        started.save(update_fields=["output"])
        return Park(WaitingFor.CHILDREN, None)
    if step.kind == StepKind.RUN_WORKFLOW and summary["failed"]:
        failed = TwilioFlowError(CHILD_FAILED, f"Sub-workflow failed: {summary.get('error') or ''}".strip())
        started.output = summary
        return on_failure(run, step, started, failed, render_problem=True)
    close(started, StepStatus.SUCCEEDED, output=summary)
    record_output(run, step, summary)
    return Advance()
