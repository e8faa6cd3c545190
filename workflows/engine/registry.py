"""The one registry of step kinds: every `StepKindSpec` subclass under `workflows/engine/steps/`."""

from __future__ import annotations

from functools import cache

import workflows.engine.steps as package
from twilioflow.core.registry import discover
from workflows.engine.steps.base import StepKindSpec
from workflows.models import StepKind


@cache
def _kinds() -> dict[str, StepKindSpec]:
    found = discover(package, StepKindSpec, what="step kinds")
    missing = set(StepKind.values) - set(found)
    unknown = set(found) - set(StepKind.values)
    if missing or unknown:
        raise RuntimeError(f"Step kinds without a module: {sorted(missing)}; unknown: {sorted(unknown)}")
    return {kind: cls() for kind, cls in found.items()}


def step_kind_get(kind: str) -> StepKindSpec:
    return _kinds()[kind]


def step_kind_list() -> list[StepKindSpec]:
    return list(_kinds().values())
