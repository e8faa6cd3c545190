"""`gather`: ask the caller and wait for digits or speech.

Inputs: message (said inside the gather, so the caller may answer at once), voice,
language, input (dtmf | speech | dtmf speech), hints, speech_timeout, num_digits, timeout,
finish_on_key. Output: Digits, SpeechResult, Confidence (a number or null), timed_out."""

from __future__ import annotations

from typing import Any

from voice.agents.parsing import confidence_of
from voice.stepping import AwaitingStep, integer_problems, say_options, text_input
from workflows.models import StepKind

INPUTS = {"dtmf": "dtmf", "speech": "speech", "both": "dtmf speech", "dtmf speech": "dtmf speech"}


class GatherStep(AwaitingStep):
    kind = StepKind.GATHER
    title = "Gather"

    def input_problems(self, inputs):
        problems = {
            **integer_problems(inputs, "num_digits", 1, 99),
            **integer_problems(inputs, "timeout", 1, 60),
        }
        if str(inputs.get("input") or "dtmf") not in INPUTS:
            problems["inputs.input"] = ["One of: dtmf, speech, both."]
        return problems

    def verb(self, run, step):
        kind = INPUTS.get(str(step.inputs.get("input") or "dtmf"), "dtmf")
        verb: dict[str, Any] = {"verb": "gather", "input": kind}
        for name in ("hints", "speech_timeout", "language", "finish_on_key"):
            if step.inputs.get(name):
                verb[name] = str(text_input(run, step, name))
        for name in ("num_digits", "timeout"):
            if step.inputs.get(name):
                verb[name] = int(step.inputs[name])
        message = text_input(run, step, "message")
        if message:
            verb["prompt"] = [{"verb": "say", "text": str(message), **say_options(run, step)}]
        return verb

    def output(self, given):
        return {
            "Digits": given.get("Digits", ""),
            "SpeechResult": given.get("SpeechResult", ""),
            "Confidence": confidence_of(given.get("Confidence")),
            "timed_out": False,
        }
