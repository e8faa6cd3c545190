from typing import Any

from actions.base import FieldErrors, pick, twilio_params
from actions.fields import Field
from actions.segments import segment_info
from actions.support.gate_fields import GATE_FIELDS, SHORTEN_URLS
from actions.support.messages import (
    MEDIA_URL,
    STATUS_CALLBACK,
    TO,
    CreatesMessage,
    sender_field,
    sender_params,
)


class SendSms(CreatesMessage):
    slug = "twilio/send-sms"
    title = "Send SMS"
    description = (
        "Send an SMS (or an MMS when media URLs are given) from one of the account's numbers "
        "or a Messaging Service."
    )
    group = "Messaging"
    sends = "sms"
    aliases = {"from": "From"}  # TaskJuice's spelling
    fields = (
        sender_field(),
        TO,
        Field(
            "Body",
            "text",
            label="Body",
            max_length=1600,
            help="Up to 1,600 characters. Required unless media URLs are given.",
            example="Your order has shipped.",
        ),
        MEDIA_URL,
        STATUS_CALLBACK,
        SHORTEN_URLS,
        *GATE_FIELDS,
    )
    output = (
        "sid",
        "status",
        "to",
        "from",
        "body",
        "date_created",
        "price",
        "error_code",
        "num_segments_estimate",
        "encoding",
    )

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data["Body"] and not data["MediaUrl"]:
            raise FieldErrors({"Body": "A message needs a Body or at least one media URL."})
        return data

    def params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            **sender_params(inputs["From"]),
            **twilio_params(inputs, ("To", "Body", "MediaUrl", "StatusCallback", "ShortenUrls")),
        }

    def output_for(self, record: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        info = segment_info(inputs["Body"] or "")
        return {
            **pick(record, self.output[:8]),
            "num_segments_estimate": info.segments,
            "encoding": info.encoding,
        }
