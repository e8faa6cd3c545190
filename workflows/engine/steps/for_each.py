"""`for_each`: one child run per item, throttled and paced; waits for them unless told not to."""

from __future__ import annotations

from workflows.engine.children import execute_children
from workflows.engine.outcomes import Outcome
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, Step, StepKind


class ForEach(StepKindSpec):
    kind = StepKind.FOR_EACH
    title = "For each"

    def execute(self, run: Run, step: Step) -> Outcome:
        return execute_children(run, step, wait=step.inputs.get("wait", True) not in (False, "false"))
