"""An action step extended by a higher app, for one action (registered in its
`AppConfig.ready`; workflows never imports it). The voice app extends `twilio/make-call`:
a workflow that drives the call live, and waiting for the call's end.

- `before(run=, step=, step_run=, inputs=)` → the inputs to send, just before the request
  (after the send gate; the attempt is already recorded `dispatching`).
- `after(run=, step=, step_run=, output=)` → a `Park` to keep the attempt `waiting` (the run
  parks, no worker held), or None to go on as usual.
- `resume(run=, step=, step_run=)` → the outcome for a `waiting` attempt when the run wakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActionExtension:
    before: Callable[..., dict[str, Any]] | None = None
    after: Callable[..., Any] | None = None
    resume: Callable[..., Any] | None = None


_EXTENSIONS: dict[str, ActionExtension] = {}


def action_extension_register(slug: str, extension: ActionExtension) -> None:
    _EXTENSIONS[slug] = extension


def action_extension_of(slug: str) -> ActionExtension | None:
    return _EXTENSIONS.get(slug)
