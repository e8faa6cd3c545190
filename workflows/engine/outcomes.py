"""What one step tells the run loop to do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twilioflow.core.errors import TwilioFlowError


@dataclass
class Advance:
    """Go on: to `goto` (a step name), to the next step (None), or to the end ("end")."""

    goto: str | None = None


@dataclass
class Park:
    """Release the worker; the run waits in the database until `wake_at` or an event."""

    waiting_for: str
    wake_at: datetime | None


@dataclass
class Finish:
    status: str
    error: TwilioFlowError | None = None
    result: Any = None


@dataclass
class Repeat:
    """Execute the same step again now (a short retry backoff was slept inline)."""


Outcome = Advance | Park | Finish | Repeat
