"""`branch`: the first matching case decides where the run goes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.engine.attempts import control
from workflows.engine.context import render
from workflows.engine.outcomes import Advance, Outcome
from workflows.engine.steps.base import StepKindSpec
from workflows.models import Run, Step, StepKind


class Branch(StepKindSpec):
    kind = StepKind.BRANCH
    title = "Branch"

    def goto_after(self, step: Step, output: Any) -> str | None:
        return output.get("goto") if isinstance(output, dict) else None

    def execute(self, run: Run, step: Step) -> Outcome:
        def body(step_run):
            inputs = step.inputs
            for index, case in enumerate(inputs.get("cases") or []):
                left = render(run, step, case.get("left"), f"cases.{index}.left")
                right = render(run, step, case.get("right"), f"cases.{index}.right")
                if compare(left, case["operator"], right):
                    target = case["goto"]
                    return Advance(target), {"matched_case": index, "goto": target}
            target = inputs.get("default") or "next"
            return Advance(target), {"matched_case": None, "goto": target}

        return control(run, step, body)


def compare(left: Any, operator: str, right: Any) -> bool:
    """The branch operators. Numbers compare as numbers when both sides are numeric."""
    if operator == "is_empty":
        return left in (None, "", [], {})
    if operator == "is_not_empty":
        return left not in (None, "", [], {})
    if operator in ("greater_than", "less_than"):
        x, y = number(left), number(right)
        if x is not None and y is not None:
            return x > y if operator == "greater_than" else x < y
        return str(left) > str(right) if operator == "greater_than" else str(left) < str(right)
    if operator in ("equals", "not_equals"):
        a, b = number(left), number(right)
        same = (a == b) if a is not None and b is not None else _text(left) == _text(right)
        return same if operator == "equals" else not same
    if operator in ("contains", "not_contains"):
        haystack = left if isinstance(left, list | dict) else _text(left)
        found = (right in haystack) if isinstance(haystack, list | dict) else _text(right) in haystack
        return found if operator == "contains" else not found
    if operator == "starts_with":
        return _text(left).startswith(_text(right))
    if operator == "matches":
        try:
            return re.search(_text(right), _text(left)) is not None
        except re.error as exc:
            raise TwilioFlowError(errors.VALIDATION_ERROR, f"Bad regular expression: {exc}") from None
    raise TwilioFlowError(errors.VALIDATION_ERROR, f"Unknown operator {operator!r}.")


def number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)
