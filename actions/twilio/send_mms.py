from dataclasses import replace
from typing import Any

from actions.base import twilio_params
from actions.fields import Field
from actions.support.gate_fields import GATE_FIELDS, SHORTEN_URLS
from actions.support.messages import (
    MEDIA_URL,
    STATUS_CALLBACK,
    TO,
    CreatesMessage,
    sender_field,
    sender_params,
)


class SendMms(CreatesMessage):
    slug = "twilio/send-mms"
    title = "Send MMS"
    description = (
        "Send a multimedia message (up to 10 images or files, with optional text) from one of "
        "the account's numbers or a Messaging Service."
    )
    group = "Messaging"
    sends = "mms"
    aliases = {"from": "From"}  # TaskJuice's spelling
    fields = (
        sender_field(),
        TO,
        replace(
            MEDIA_URL,
            required=True,
            help="1 to 10 public http(s) URLs of the media to attach (5 MB for images).",
            example=["https://cdn.example.com/receipt.png"],
        ),
        Field(
            "Body",
            "text",
            label="Body",
            max_length=1600,
            help="Optional text sent with the media, up to 1,600 characters.",
            example="Here is your receipt.",
        ),
        STATUS_CALLBACK,
        SHORTEN_URLS,
        *GATE_FIELDS,
    )
    output = ("sid", "status", "to", "from", "num_media", "date_created")

    def params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            **sender_params(inputs["From"]),
            **twilio_params(inputs, ("To", "Body", "MediaUrl", "StatusCallback", "ShortenUrls")),
        }
