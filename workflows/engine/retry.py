"""Retry policy: which failures are repeated, after how long, and within which pass."""

from __future__ import annotations

import contextvars
import random

from django.conf import settings

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.models import OnError, Step
from workflows.runs import INLINE_WAIT_MAX

# A pass yields after this; with one more request (5 s connect + 30 s read) in flight and
# an inline wait, it still ends well inside Q_CLUSTER["timeout"] (90 s), so django-q2 never
# kills a worker mid-request because a workflow was long.
SLICE_SECONDS = 30.0
BACKOFF_BASE = 2.0
BACKOFF_MAX = 15 * 60.0
# Errors a RETRY policy may repeat even though they are not transient.
RETRY_POLICY_EXTRA = frozenset({errors.UPSTREAM_REQUEST_FAILED, errors.PROVIDER_ERROR, errors.TIMEOUT})

__all__ = ["INLINE_WAIT_MAX", "SLICE_SECONDS", "lease_seconds", "pass_deadline", "retry_delay"]

# The monotonic time the current pass must yield by (set by the run loop).
pass_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("pass_deadline", default=0.0)


def lease_seconds() -> float:
    return float(getattr(settings, "TWILIOFLOW_RUN_LEASE_SECONDS", 120))


def retry_delay(step: Step, attempt: int, error: TwilioFlowError) -> float | None:
    """Seconds before attempt `attempt + 1`, or None when the failure must not be repeated."""
    if error.outcome_unknown or attempt > step.max_retries:
        return None
    safe = error.retryable or (step.on_error == OnError.RETRY and error.code in RETRY_POLICY_EXTRA)
    if not safe:
        return None
    if error.retry_after is not None:
        return min(error.retry_after, BACKOFF_MAX)
    backoff = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** (attempt - 1)))
    return random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter spreads retry storms
