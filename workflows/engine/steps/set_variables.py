"""`set_variables`: render templates into `vars.<name>`."""

from __future__ import annotations

from twilioflow.core.redaction import redact_data
from workflows.engine.attempts import control
from workflows.engine.context import render
from workflows.engine.outcomes import Advance, Outcome
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, Step, StepKind


class SetVariables(StepKindSpec):
    kind = StepKind.SET_VARIABLES
    title = "Set variables"

    def execute(self, run: Run, step: Step) -> Outcome:
        def body(step_run):
            values = redact_data(
                {
                    name: render(run, step, template, f"variables.{name}")
                    for name, template in (step.inputs.get("variables") or {}).items()
                }
            )
            run.context.setdefault("vars", {}).update(values)
            return Advance(), values

        return control(run, step, body)
