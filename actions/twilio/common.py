"""Fields and helpers shared by several Twilio actions (not an action module itself)."""

from __future__ import annotations

from typing import Any

from actions.fields import Field
from actions.validation import sid_pattern

MESSAGING_SERVICE = sid_pattern(("MG",))

TO = Field("To", "phone", label="To", required=True, help="Recipient, E.164 (+15551234567) "
           "or national format in the workspace's default country.", example="+15558675310")
STATUS_CALLBACK = Field("StatusCallback", "url", label="Status callback URL",
                        help="Twilio POSTs delivery status changes here.")
MEDIA_URL = Field("MediaUrl", "list", item_type="url", max_items=10, label="Media URLs",
                  help="Up to 10 public http(s) URLs; makes the message an MMS.")
PAGE_SIZE = Field("PageSize", "integer", default=50, min_value=1, max_value=1000,
                  label="Page size", help="Records per page (1–1000).")
PAGE_TOKEN = Field("PageToken", "string", label="Page token",
                   help="Opaque token from a previous page's next_page_uri.")


def sender_field(help_text: str = "") -> Field:
    return Field(
        "From", "sender", label="From", required=True, picker="phone_numbers",
        help=help_text or "One of the account's numbers, or a Messaging Service SID (MG…) "
        "to let Twilio pick from its sender pool.",
        example="+15017122661",
    )


def sender_params(sender: str) -> dict[str, Any]:
    """`From` or `MessagingServiceSid`, from one cleaned `sender` value."""
    if MESSAGING_SERVICE.match(sender):
        return {"MessagingServiceSid": sender}
    return {"From": sender}
