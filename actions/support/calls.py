"""Fields and the one call-creating request shared by the Voice actions.

`make-call` and `say-call` differ only in where the TwiML comes from; both end in
`create_call`, so the Calls.json request, its idempotency and its output live here once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from actions.base import Action, ActionContext, pick, twilio_params
from actions.fields import Field
from actions.support.reconcile import recent_records

CALL_OUTPUT = ("sid", "status", "to", "from", "direction", "date_created")
CALL_STATUSES = (
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
)
TWIML_MAX_LENGTH = 4000  # Twilio's limit on the Twiml parameter

CALL_FROM = Field(
    "From",
    "phone",
    label="From",
    required=True,
    picker="phone_numbers",
    help="One of the account's voice-capable numbers (or a verified caller ID), E.164.",
    example="+15017122661",
)
CALL_TO = Field(
    "To",
    "phone",
    label="To",
    required=True,
    help="Number to call, E.164 (+15551234567) or national format in the workspace's default country.",
    example="+15558675310",
)
CALL_STATUS_CALLBACK = Field(
    "StatusCallback",
    "url",
    label="Status callback URL",
    help="Twilio POSTs call status changes here (by default only `completed`).",
)
CALL_TIMEOUT = Field(
    "Timeout",
    "integer",
    label="Ring timeout (s)",
    default=60,
    min_value=1,
    max_value=600,
    help="Seconds to let the phone ring before giving up (1–600, default 60).",
)

# The request parameters a call can carry, in the order they are sent.
_CALL_PARAMS = ("To", "From", "Url", "Twiml", "StatusCallback", "Timeout", "Record")


def create_call(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """POST Calls.json once (a create: never repeated blindly) and map the Call."""
    response = ctx.client.post(
        ctx.client.account_path("Calls.json"),
        data=twilio_params(params, _CALL_PARAMS),
        idempotent=False,
    )
    return pick(response.json(), CALL_OUTPUT)


def find_call(ctx: ActionContext, params: dict[str, Any], *, since: datetime) -> dict[str, Any] | None:
    """The outbound call these create-parameters started, if Twilio has it."""
    query = {"To": params["To"], "From": params["From"], "PageSize": 50}
    for record in recent_records(ctx, "Calls.json", "calls", query, since=since):
        if str(record.get("direction") or "outbound").startswith("outbound"):
            return record
    return None


class CreatesCall(Action):
    """Starts a call: one POST, never repeated blindly, reconcilable by listing calls."""

    idempotent = False
    reconcilable = True
    sends = "call"

    def call_params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return inputs

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        return create_call(ctx, self.call_params(inputs))

    def reconcile(
        self, ctx: ActionContext, inputs: dict[str, Any], *, since: datetime
    ) -> dict[str, Any] | None:
        record = find_call(ctx, self.call_params(inputs), since=since)
        return None if record is None else pick(record, CALL_OUTPUT)
