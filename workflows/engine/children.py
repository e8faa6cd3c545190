"""What `for_each` and `run_workflow` share: start child runs, then wait for them (or not).

Children that failed (or were canceled) make the step fail honestly (`CHILD_FAILED`), and
the step's `on_error` decides: fail the run, or continue with the counts in
`steps.<name>` (`{"total", "succeeded", "failed", "canceled", "status": "failed", "error"}`).
The failed attempt keeps the counts as its output, so the run page shows "3 succeeded,
2 failed" on a red step."""

from __future__ import annotations

from django.db import transaction

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.engine.attempts import attempts, close, new_step_run, on_failure
from workflows.engine.context import record_output, render
from workflows.engine.outcomes import Advance, Finish, Outcome, Park
from workflows.models import OnError, Run, RunStatus, Step, StepKind, StepRun, StepStatus, WaitingFor
from workflows.runs import children_start, children_summary

CHILD_FAILED = "CHILD_FAILED"


def execute_children(run: Run, step: Step, *, wait: bool) -> Outcome:
    previous = attempts(run)
    if previous and previous[-1].status == StepStatus.FAILED and previous[-1].error_code == CHILD_FAILED:
        # The children ended unsuccessfully and that was recorded, but the pass died before
        # the cursor moved: take the same decision again, never start the children twice.
        return _children_failed(run, step, previous[-1], previous[-1].output or {}, recorded=True)
    started = previous[-1] if previous and previous[-1].status == StepStatus.PENDING else None
    if started is not None and started.output is None:
        # Died before the children were committed: none exist, so start them now.
        close(
            started,
            StepStatus.FAILED,
            error_code=errors.CONNECTION_FAILED,
            error_message="Interrupted before the child runs were created.",
        )
        started = None
    if started is None:
        step_run = new_step_run(run, step, previous[-1].attempt + 1 if previous else 1)
        try:
            # The children and the record that they exist commit together: a crash leaves
            # either both (the next pass waits for them) or neither (it starts them).
            with transaction.atomic():
                summary = children_start(
                    run=run,
                    step=step,
                    sequence=run.sequence + 1,
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
    if summary["failed"] or summary["canceled"]:
        return _children_failed(run, step, started, summary)
    close(started, StepStatus.SUCCEEDED, output=summary)
    record_output(run, step, summary)
    return Advance()


def children_error(step: Step, summary: dict) -> TwilioFlowError:
    if step.kind == StepKind.RUN_WORKFLOW:
        reason = summary.get("error") or ("canceled" if summary.get("canceled") else "")
        return TwilioFlowError(CHILD_FAILED, f"Sub-workflow failed: {reason}".strip().rstrip(":"))
    parts = [f"{summary.get('failed', 0)} failed"]
    if summary.get("canceled"):
        parts.append(f"{summary['canceled']} canceled")
    return TwilioFlowError(
        CHILD_FAILED,
        f"{summary.get('succeeded', 0)} of {summary.get('total', 0)} child runs succeeded, "
        + ", ".join(parts)
        + ".",
    )


def _children_failed(
    run: Run, step: Step, step_run: StepRun, summary: dict, *, recorded: bool = False
) -> Outcome:
    """The step failed because of its children: the step's `on_error` decides (never a
    retry: re-running a for_each would start every child again)."""
    error = children_error(step, summary)
    if recorded:
        outcome: Outcome = Advance() if step.on_error == OnError.CONTINUE else Finish(RunStatus.FAILED, error)
    else:
        step_run.output = summary
        outcome = on_failure(run, step, step_run, error, render_problem=True)
    if isinstance(outcome, Advance):
        record_output(run, step, {**summary, "status": "failed", "error": error.as_dict()})
    return outcome
