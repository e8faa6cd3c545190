from dataclasses import replace
from typing import Any

from actions.base import FieldErrors, twilio_params
from actions.fields import Field
from actions.support.gate_fields import GATE_FIELDS
from actions.support.messages import MEDIA_URL, STATUS_CALLBACK, CreatesMessage


class SendWhatsapp(CreatesMessage):
    slug = "twilio/send-whatsapp"
    title = "Send WhatsApp message"
    description = (
        "Send a WhatsApp message: free text (with optional media) inside the 24-hour session "
        "window, or an approved Content template (ContentSid + ContentVariables) at any time."
    )
    group = "Messaging"
    sends = "whatsapp"
    fields = (
        Field(
            "From",
            "whatsapp",
            label="From",
            required=True,
            help="Your WhatsApp-enabled Twilio sender; the whatsapp: prefix is added if missing.",
            example="whatsapp:+14155238886",
        ),
        Field(
            "To",
            "whatsapp",
            label="To",
            required=True,
            help="Recipient, whatsapp:+E.164 (the prefix is added if missing).",
            example="whatsapp:+15551234567",
        ),
        Field(
            "Body",
            "text",
            label="Body",
            max_length=1600,
            help="Free-form text, up to 1,600 characters. Use either Body or a template "
            "(ContentSid), not both.",
            example="Your table is ready.",
        ),
        replace(
            MEDIA_URL,
            help="Up to 10 public http(s) URLs sent with the Body (one per WhatsApp message is typical).",
        ),
        Field(
            "ContentSid",
            "sid",
            label="Content template SID",
            sid_prefixes=("HX",),
            help="An approved Content API template (HX…), required outside the 24-hour window.",
            example="HX" + "0" * 32,
        ),
        Field(
            "ContentVariables",
            "json",
            label="Template variables",
            help='Values for the template placeholders, e.g. {"1": "12/1", "2": "3pm"}.',
            example={"1": "12/1", "2": "3pm"},
        ),
        STATUS_CALLBACK,
        *GATE_FIELDS,
    )
    output = ("sid", "status", "to", "from", "body")

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        problems: dict[str, str] = {}
        if data["ContentSid"]:
            if data["Body"]:
                problems["Body"] = "Send either a Body or a template (ContentSid), not both."
            if data["MediaUrl"]:
                problems["MediaUrl"] = "Media URLs go with a Body; a template carries its own media."
        elif not data["Body"]:
            problems["Body"] = "A WhatsApp message needs a Body or a template (ContentSid)."
        variables = data["ContentVariables"]
        if variables is not None:
            if not data["ContentSid"]:
                problems["ContentVariables"] = "Template variables need a ContentSid."
            else:
                bad = [
                    key
                    for key, value in variables.items()
                    if isinstance(value, bool) or not isinstance(value, str | int | float)
                ]
                if bad:
                    problems["ContentVariables"] = (
                        f"Each variable must be text or a number; not: {', '.join(bad)}."
                    )
                else:
                    data["ContentVariables"] = {k: str(v) for k, v in variables.items()}
        if problems:
            raise FieldErrors(problems)
        return data

    def params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return twilio_params(
            inputs, ("From", "To", "Body", "MediaUrl", "ContentSid", "ContentVariables", "StatusCallback")
        )
