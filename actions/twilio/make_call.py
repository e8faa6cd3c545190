from typing import Any

from actions.base import FieldErrors
from actions.fields import Field
from actions.support.calls import (
    CALL_FROM,
    CALL_OUTPUT,
    CALL_STATUS_CALLBACK,
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
        "Place an outbound call from one of the account's numbers. The call follows either "
        "inline TwiML or the TwiML returned by a URL (exactly one of the two)."
    )
    group = "Voice"
    aliases = {"from": "From"}  # TaskJuice's spelling
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
        CALL_STATUS_CALLBACK,
        CALL_TIMEOUT,
        *GATE_FIELDS,
    )
    output = CALL_OUTPUT

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["Twiml"] and data["Url"]:
            # Twilio would silently ignore Twiml; refuse the ambiguity instead.
            message = "Give either inline TwiML or a TwiML URL, not both."
            raise FieldErrors({"Twiml": message, "Url": message})
        if not data["Twiml"] and not data["Url"]:
            message = "A call needs inline TwiML or a TwiML URL."
            raise FieldErrors({"Twiml": message, "Url": message})
        return data
