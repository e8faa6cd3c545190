"""`say`: text-to-speech on the live call. Inputs: message, voice, language, loop."""

from __future__ import annotations

from voice.stepping import VerbStep, integer_problems, required_problems, say_options, text_input
from workflows.models import StepKind


class Say(VerbStep):
    kind = StepKind.SAY
    title = "Say"

    def input_problems(self, inputs):
        return {**required_problems(inputs, "message"), **integer_problems(inputs, "loop", 0, 1000)}

    def verbs(self, run, step):
        verb = {"verb": "say", "text": str(text_input(run, step, "message")), **say_options(run, step)}
        if step.inputs.get("loop"):
            verb["loop"] = int(step.inputs["loop"])
        return [verb]
