"""`dial`: connect the caller to another number; the run waits for the dial to end.
Inputs: number, caller_id, timeout, time_limit, record. Output: DialCallStatus,
DialCallSid, DialCallDuration."""

from __future__ import annotations

from typing import Any

from voice.stepping import AwaitingStep, integer_problems, required_problems, text_input
from workflows.models import StepKind


class DialStep(AwaitingStep):
    kind = StepKind.DIAL
    title = "Dial"

    def input_problems(self, inputs):
        return {
            **required_problems(inputs, "number"),
            **integer_problems(inputs, "timeout", 5, 600),
            **integer_problems(inputs, "time_limit", 1, 14400),
        }

    def verb(self, run, step):
        verb: dict[str, Any] = {"verb": "dial", "number": str(text_input(run, step, "number"))}
        if step.inputs.get("caller_id"):
            verb["caller_id"] = str(text_input(run, step, "caller_id"))
        for name in ("timeout", "time_limit"):
            if step.inputs.get(name):
                verb[name] = int(step.inputs[name])
        if step.inputs.get("record"):
            verb["record"] = "record-from-answer"
        return verb

    def wait_seconds(self, verb):
        return float(verb.get("time_limit") or 14400) + 120

    def output(self, given):
        return {name: given.get(name, "") for name in ("DialCallStatus", "DialCallSid", "DialCallDuration")}
