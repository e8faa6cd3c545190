"""`run_workflow`: run a sub-workflow and wait; its result is `steps.<name>.result`."""

from __future__ import annotations

from workflows.engine.children import execute_children
from workflows.engine.outcomes import Outcome
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, Step, StepKind


class RunWorkflow(StepKindSpec):
    kind = StepKind.RUN_WORKFLOW
    title = "Run sub-workflow"

    def execute(self, run: Run, step: Step) -> Outcome:
        return execute_children(run, step, wait=True)
