"""The one error type the whole product raises and stores.

Every failure carries a stable `code` (the TaskJuice seed's vocabulary) and `retryable`:
whether doing the same thing again is known to be safe. `outcome_unknown` marks the
dangerous middle ground: the request may have reached Twilio (a 5xx or a read timeout on a
create), so the engine must reconcile before any resend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VALIDATION_ERROR = "VALIDATION_ERROR"
AUTH_EXPIRED = "AUTH_EXPIRED"
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
PROVIDER_ERROR = "PROVIDER_ERROR"
UPSTREAM_REQUEST_FAILED = "UPSTREAM_REQUEST_FAILED"
CONNECTION_FAILED = "CONNECTION_FAILED"  # nothing reached Twilio: safe to retry
TIMEOUT = "TIMEOUT"  # sent, no answer in time: outcome unknown unless idempotent
CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
# The request would read or change credentials and whoever configured it may not: refused
# before anything is sent; repeating it cannot help until an owner or admin approves it.
FORBIDDEN_ENDPOINT = "FORBIDDEN_ENDPOINT"
# The send gate (compliance/gate.py): refused before anything is sent. None is retried
# automatically: repeating the same send cannot help until a person (or the recipient) acts.
OPTED_OUT = "OPTED_OUT"  # the recipient opted out of this sender or the whole workspace
QUIET_HOURS = "QUIET_HOURS"  # inside the recipient's quiet hours and the step says fail
WHATSAPP_WINDOW_CLOSED = "WHATSAPP_WINDOW_CLOSED"  # free-form outside the 24-hour session
SENDER_INVALID = "SENDER_INVALID"  # the From does not fit the channel or the destination
SEND_CAP_REACHED = "SEND_CAP_REACHED"  # segment cap per message or daily spend cap
# The API: the object changed under the request (a name taken, a run already final).
CONFLICT = "CONFLICT"
# The API: an Idempotency-Key reused with a different request body.
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
GATE_CODES = frozenset({OPTED_OUT, QUIET_HOURS, WHATSAPP_WINDOW_CLOSED, SENDER_INVALID, SEND_CAP_REACHED})


@dataclass(eq=False)
class TwilioFlowError(Exception):
    code: str
    message: str
    retryable: bool = False
    outcome_unknown: bool = False
    http_status: int | None = None
    twilio_code: int | None = None
    more_info: str | None = None
    retry_after: float | None = None
    # field name -> list of messages, for VALIDATION_ERROR
    fields: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        twilio = f" (Twilio {self.twilio_code})" if self.twilio_code else ""
        return f"{self.code}{twilio}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        for key in ("outcome_unknown", "http_status", "twilio_code", "more_info", "retry_after"):
            value = getattr(self, key)
            if value not in (None, False):
                data[key] = value
        if self.fields:
            data["fields"] = self.fields
        if self.details:
            data["details"] = self.details
        return data


def validation_error(fields: Mapping[str, list[str] | str], message: str = "") -> TwilioFlowError:
    """A VALIDATION_ERROR that names every bad field and says why."""
    normalised = {name: [msgs] if isinstance(msgs, str) else list(msgs) for name, msgs in fields.items()}
    if not message:
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in normalised.items())
    return TwilioFlowError(VALIDATION_ERROR, message, fields=normalised, http_status=400)
