"""`play`: an audio file (or DTMF tones) on the live call. Inputs: url, loop."""

from __future__ import annotations

from voice.stepping import VerbStep, text_input
from workflows.models import StepKind


class Play(VerbStep):
    kind = StepKind.PLAY
    title = "Play"

    def verbs(self, run, step):
        return [
            {
                "verb": "play",
                "url": str(text_input(run, step, "url")),
                "loop": int(step.inputs.get("loop") or 1),
            }
        ]
