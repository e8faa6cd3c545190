"""What a step kind declares: its kind, its title, how it runs, and where it goes next."""

from __future__ import annotations

from typing import Any, ClassVar

from workflows.engine.outcomes import Outcome
from workflows.models import Run, Step


class StepKindSpec:
    kind: ClassVar[str]  # a StepKind value
    title: ClassVar[str]
    slug: ClassVar[str]  # = kind; the key discovery registers it under
    # A pass that finds this step's attempt already succeeded (the worker died before the
    # cursor moved) moves on as `goto_after` says instead of executing it again.
    skip_when_succeeded: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            cls.slug = cls.kind

    def goto_after(self, step: Step, output: Any) -> str | None:
        """Where the run continues after a recorded success with this output (None: next)."""
        return None

    def input_problems(self, inputs: dict[str, Any]) -> dict[str, list[str]]:
        """ "inputs.<name>" -> messages, checked at save (kinds declared outside the engine
        check their own inputs here; the engine's are in `workflows.step_validation`)."""
        return {}

    def execute(self, run: Run, step: Step) -> Outcome:
        raise NotImplementedError
