from typing import Any

from actions.base import FieldErrors
from actions.fields import Field
from actions.support.calls import (
    CALL_FROM,
    CALL_MACHINE_DETECTION,
    CALL_OUTPUT,
    CALL_STATUS_CALLBACK,
    CALL_TIME_LIMIT,
    CALL_TIMEOUT,
    CALL_TO,
    TWIML_MAX_LENGTH,
    CreatesCall,
)
from actions.support.gate_fields import GATE_FIELDS


class MakeCall(CreatesCall):
    slug = "twilio/make-call"
    title = "Make call"
    description = (
        "Place an outbound call from one of the account's numbers. The call follows inline "
        "TwiML, the TwiML returned by a URL, or a workflow of voice steps driving it live "
        "(exactly one of the three). With wait_until_ended the run waits for the call's end "
        "and continues with its final status, duration, answered_by and recording."
    )
    group = "Voice"
    # TaskJuice's and ByteChef's spellings.
    aliases = {
        "from": "From",
        "max_duration": "TimeLimit",
        "maxDuration": "TimeLimit",
        "machine_detection": "MachineDetection",
        "waitUntilEnded": "wait_until_ended",
    }
    fields = (
        CALL_FROM,
        CALL_TO,
        Field(
            "Twiml",
            "twiml",
            label="TwiML",
            max_length=TWIML_MAX_LENGTH,
            help="Inline TwiML with a <Response> root, up to 4,000 characters. Give this or a URL, not both.",
            example="<Response><Say>Your order has shipped.</Say></Response>",
        ),
        Field(
            "Url",
            "url",
            label="TwiML URL",
            help="Absolute http(s) URL that returns TwiML when the call connects. "
            "Give this or inline TwiML, not both.",
        ),
        Field(
            "workflow",
            "string",
            label="Workflow driving the call",
            help="A workflow of this workspace whose voice steps (say, gather, voice agent…) run "
            "live on the call once it is answered. Instead of TwiML or a URL.",
        ),
        Field(
            "workflow_inputs",
            "json",
            label="Workflow inputs",
            help="An object: the driving workflow's `trigger` (plus CallSid, To, From, AnsweredBy).",
        ),
        Field(
            "wait_until_ended",
            "boolean",
            label="Wait until the call ends",
            default=False,
            help="Park the run (no worker held) until the call's final status arrives; then "
            "steps.<name> has status, duration, answered_by, recording and the workflow's outputs.",
        ),
        CALL_TIME_LIMIT,
        CALL_MACHINE_DETECTION,
        CALL_STATUS_CALLBACK,
        CALL_TIMEOUT,
        *GATE_FIELDS,
    )
    # With wait_until_ended, the call's end too (and the driving workflow's outputs).
    output = (
        *CALL_OUTPUT,
        "duration",
        "answered_by",
        "price",
        "recording_sid",
        "recording_url",
        "ended_by",
        "workflow_run",
        "workflow_status",
        "workflow_steps",
        "workflow_result",
    )

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("workflow"):
            if data["Twiml"] or data["Url"]:
                message = "A call driven by a workflow takes no TwiML or URL: the workflow answers it."
                raise FieldErrors({"Twiml": message, "Url": message})
            return data
        if data["Twiml"] and data["Url"]:
            # Twilio would silently ignore Twiml; refuse the ambiguity instead.
            message = "Give either inline TwiML or a TwiML URL, not both."
            raise FieldErrors({"Twiml": message, "Url": message})
        if not data["Twiml"] and not data["Url"]:
            message = "A call needs inline TwiML, a TwiML URL or a workflow."
            raise FieldErrors({"Twiml": message, "Url": message})
        return data
