"""In-call retries: the `RetryPolicy` (default: none, the engine retries durably) and
`Retry-After` parsing."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or HTTP-date); None when absent or garbage."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """In-call retries. Default: none, the engine retries durably. `retry_all` widens retries to
    every HTTP error status, but an unknown outcome on a non-idempotent request never retries."""

    max_retries: int = 0
    delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 30.0
    retry_all: bool = False
    jitter: bool = True

    def should_retry(self, error: TwilioFlowError, attempt: int) -> bool:
        if attempt > self.max_retries or error.outcome_unknown:
            return False
        if error.code == errors.AUTH_EXPIRED:
            return False
        return error.retryable or self.retry_all

    def wait_for(self, error: TwilioFlowError, attempt: int) -> float | None:
        """Seconds to wait before retry number `attempt`; None means "too long, give up here"."""
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_delay else None
        wait = min(self.max_delay, self.delay * (self.backoff ** (attempt - 1)))
        if self.jitter:
            wait = random.uniform(wait / 2, wait)  # noqa: S311 - jitter, not cryptography
        return wait


NO_RETRY = RetryPolicy()
