"""Fields and the one call-creating request shared by the Voice actions.

`make-call` and `say-call` differ only in where the TwiML comes from; both end in
`create_call`, so the Calls.json request, its idempotency and its output live here once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from actions.base import Action, ActionContext, pick, twilio_params
from actions.fields import Field
from actions.support.reconcile import recent_records
from connections.webhook_urls import STATUS, endpoint_url

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

CALL_TIME_LIMIT = Field(
    "TimeLimit",
    "integer",
    label="Max duration (s)",
    min_value=1,
    max_value=14400,
    help="Twilio hangs up after this many seconds (Twilio's TimeLimit; default 4 hours).",
)
CALL_MACHINE_DETECTION = Field(
    "MachineDetection",
    "choice",
    label="Answering-machine detection",
    choices=("Enable", "DetectMessageEnd"),
    help="Enable: AnsweredBy says human or machine as soon as known; DetectMessageEnd: after the greeting.",
)
# What Twilio reports to the status callback: the whole life of the call, so that waiting
# for its end and tracking it work without any manual wiring.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")

# The request parameters a call can carry, in the order they are sent.
_CALL_PARAMS = (
    "To",
    "From",
    "Url",
    "Twiml",
    "StatusCallback",
    "StatusCallbackEvent",
    "Timeout",
    "TimeLimit",
    "MachineDetection",
    "Record",
)


def status_callback_default(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """A call reporting to this connection's /status URL (the send gate's default when the
    user gave none) reports every event of its life, so waiting for its end and tracking
    need no wiring. A URL the user gave wins (Twilio takes one) and gets Twilio's default
    events: tracking is then theirs."""
    base = (getattr(settings, "PUBLIC_BASE_URL", "") or "").strip().rstrip("/")
    if ctx.connection is None or not base or params.get("StatusCallbackEvent"):
        return params
    ours = endpoint_url(base, ctx.connection, STATUS)
    if params.get("StatusCallback") not in (None, "", ours):
        return params
    return {**params, "StatusCallback": ours, "StatusCallbackEvent": list(STATUS_EVENTS)}


def create_call(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """POST Calls.json once (a create: never repeated blindly) and map the Call."""
    params = status_callback_default(ctx, params)
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
