"""`record`: record the caller (a voicemail). Inputs: max_length (seconds), timeout,
finish_on_key, play_beep, transcribe. Output: RecordingUrl, RecordingSid,
RecordingDuration, Digits."""

from __future__ import annotations

from voice.stepping import AwaitingStep, integer_problems
from workflows.models import StepKind


class RecordStep(AwaitingStep):
    kind = StepKind.RECORD
    title = "Record"

    def input_problems(self, inputs):
        return {
            **integer_problems(inputs, "max_length", 1, 14400),
            **integer_problems(inputs, "timeout", 1, 60),
        }

    def verb(self, run, step):
        verb = {"verb": "record", "max_length": int(step.inputs.get("max_length") or 120)}
        for name in ("timeout", "finish_on_key"):
            if step.inputs.get(name):
                verb[name] = step.inputs[name]
        verb["play_beep"] = bool(step.inputs.get("play_beep", True))
        if step.inputs.get("transcribe"):
            verb["transcribe"] = True
        return verb

    def wait_seconds(self, verb):
        return float(verb["max_length"]) + 120

    def output(self, given):
        return {
            name: given.get(name, "")
            for name in ("RecordingUrl", "RecordingSid", "RecordingDuration", "Digits")
        }
