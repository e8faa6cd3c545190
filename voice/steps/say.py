"""`say`: text-to-speech on the live call. Inputs: message, voice, language, loop."""

from __future__ import annotations

from voice.stepping import VerbStep, say_options, text_input
from workflows.models import StepKind


class Say(VerbStep):
    kind = StepKind.SAY
    title = "Say"

    def verbs(self, run, step):
        verb = {"verb": "say", "text": str(text_input(run, step, "message")), **say_options(run, step)}
        if step.inputs.get("loop"):
            verb["loop"] = int(step.inputs["loop"])
        return [verb]
