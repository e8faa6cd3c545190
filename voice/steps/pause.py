"""`pause`: silence on the live call. Inputs: seconds (1-600)."""

from __future__ import annotations

from voice.stepping import VerbStep, integer_problems
from workflows.models import StepKind


class Pause(VerbStep):
    kind = StepKind.PAUSE
    title = "Pause"

    def input_problems(self, inputs):
        return integer_problems(inputs, "seconds", 1, 600)

    def verbs(self, run, step):
        return [{"verb": "pause", "length": max(1, min(600, int(step.inputs.get("seconds") or 1)))}]
