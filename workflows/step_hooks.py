"""Step hooks: a higher layer's bookkeeping around one ad-hoc action step.

An ad-hoc step may name a hook (`{"hook": "<name>", "hook_args": {...}}` in `Run.adhoc_steps`).
The engine calls `before` just before the step's request (with the step's own client, so
whatever the hook reads is recorded on the step run) and `after` once the step succeeded.
A `before` that raises TwilioFlowError fails the step: nothing is sent.

Hooks are registered by the app that owns the records (e.g. `triggers` marks a phone number
routed) in its `AppConfig.ready`, so workflows never imports the layers above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

Before = Callable[..., None]  # before(*, args, client, inputs)
After = Callable[..., None]  # after(*, args, output)


@dataclass(frozen=True)
class StepHook:
    name: str
    before: Before | None = None
    after: After | None = None


_HOOKS: dict[str, StepHook] = {}


def step_hook_register(name: str, *, before: Before | None = None, after: After | None = None) -> None:
    _HOOKS[name] = StepHook(name=name, before=before, after=after)


def step_hook_get(name: str) -> StepHook:
    try:
        return _HOOKS[name]
    except KeyError:
        raise TwilioFlowError(
            errors.CONFIGURATION_ERROR, f"No step hook {name!r} is registered; nothing was sent."
        ) from None


def step_hook_of(step: Any) -> tuple[StepHook, dict[str, Any]] | None:
    """The hook of an (ad-hoc) step and its arguments, or None."""
    name = getattr(step, "hook", "")
    if not name:
        return None
    return step_hook_get(name), dict(getattr(step, "hook_args", None) or {})
