"""The one registry of step kinds: every `StepKindSpec` subclass under `workflows/engine/steps/`,
plus the packages a higher app adds in its `AppConfig.ready` (`step_kind_package_add`: the
voice app's steps, which need its call sessions)."""

from __future__ import annotations

from functools import cache
from types import ModuleType

import workflows.engine.steps as package
from twilioflow.core.registry import discover
from workflows.engine.steps.base import StepKindSpec
from workflows.models import StepKind

_packages: list[ModuleType] = [package]


def step_kind_package_add(more: ModuleType) -> None:
    """Register another package of step kind modules (before the first lookup)."""
    if more not in _packages:
        _packages.append(more)
        _kinds.cache_clear()


@cache
def _kinds() -> dict[str, StepKindSpec]:
    found: dict[str, type[StepKindSpec]] = {}
    for each in _packages:
        more = discover(each, StepKindSpec, what="step kinds")
        if set(more) & set(found):
            raise RuntimeError(f"Two step kind modules declare {sorted(set(more) & set(found))}")
        found.update(more)
    missing = set(StepKind.values) - set(found)
    unknown = set(found) - set(StepKind.values)
    if missing or unknown:
        raise RuntimeError(f"Step kinds without a module: {sorted(missing)}; unknown: {sorted(unknown)}")
    return {kind: cls() for kind, cls in found.items()}


def step_kind_get(kind: str) -> StepKindSpec:
    return _kinds()[kind]


def step_kind_list() -> list[StepKindSpec]:
    return list(_kinds().values())
