"""`play`: an audio file (or DTMF tones) on the live call. Inputs: url, loop."""

from __future__ import annotations

from voice.stepping import VerbStep, integer_problems, required_problems, text_input
from workflows.models import StepKind


class Play(VerbStep):
    kind = StepKind.PLAY
    title = "Play"

    def input_problems(self, inputs):
        return {**required_problems(inputs, "url"), **integer_problems(inputs, "loop", 0, 1000)}

    def verbs(self, run, step):
        return [
            {
                "verb": "play",
                "url": str(text_input(run, step, "url")),
                "loop": int(step.inputs.get("loop") or 1),
            }
        ]
