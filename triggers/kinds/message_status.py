from __future__ import annotations

from typing import TYPE_CHECKING

from connections.webhook_urls import STATUS
from triggers.kinds.base import (
    NOTHING,
    TRACKED,
    Receipt,
    TriggerKind,
    first,
    first_of,
    join_key,
    present,
    to_int,
)

if TYPE_CHECKING:
    from connections.models import Connection
    from triggers.models import TriggerEvent

# WhatsApp/RCS channel details and the carrier's delivery-receipt time, on some routes.
OPTIONAL = (
    "RawDlrDoneDate",
    "ChannelToAddress",
    "ChannelPrefix",
    "ChannelInstallSid",
    "ChannelStatusMessage",
)


def _sid(params):
    return first_of(params, ("MessageSid", "SmsSid", "SmsMessageSid"))


def _status(params):
    return first_of(params, ("MessageStatus", "SmsStatus"))


class MessageStatus(TriggerKind):
    slug = "twilio/message-status"
    title = "Message status changed"
    description = (
        "A message's status callback: sent, delivered, undelivered, failed, read (WhatsApp)… "
        "ErrorCode is an int on failed/undelivered messages, else None. Twilio sends no "
        "callback for a message's initial status (queued/accepted)."
    )
    purpose = STATUS
    required = (("MessageSid", "SmsSid", "SmsMessageSid"), ("MessageStatus", "SmsStatus"))
    optional_fields = OPTIONAL
    event_field = "MessageStatus"
    events = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "read", "canceled")
    sample = {
        "SmsSid": "SMa50b7a83f9cb8d6c304cfd0d74a80c90",
        "SmsStatus": "delivered",
        "MessageStatus": "delivered",
        "To": "+14155550123",
        "MessagingServiceSid": "MGa84cd3ebe540f1bbe40c5deecd8c4f4e",
        "MessageSid": "SMa50b7a83f9cb8d6c304cfd0d74a80c90",
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "From": "+15017122661",
        "ApiVersion": "2010-04-01",
        "RawDlrDoneDate": "2408241805",
    }

    @classmethod
    def matches(cls, params):
        return (
            _status(params) is not None
            and not first(params, "CallSid")
            and not first(params, "RecordingStatus")
        )

    @classmethod
    def parse(cls, params):
        return {
            "MessageSid": _sid(params),
            "MessageStatus": _status(params),
            "ErrorCode": to_int(first(params, "ErrorCode")),
            "From": first(params, "From"),
            "To": first(params, "To"),
            "AccountSid": first(params, "AccountSid"),
            "MessagingServiceSid": first(params, "MessagingServiceSid"),
            **present(params, OPTIONAL),
        }

    @classmethod
    def dedupe_key(cls, params):
        # "SM…:undelivered:30003": each status once; a changed error code is a new event.
        return join_key(_sid(params), _status(params), first(params, "ErrorCode"))

    @classmethod
    def on_receipt(cls, *, event: TriggerEvent, connection: Connection) -> Receipt:
        """Delivery tracking: the status is recorded on the step that created the message
        through this connection (`workflows.inbound.step_run_track_delivery`)."""
        from workflows.inbound import step_run_track_delivery

        payload = event.payload
        tracked = step_run_track_delivery(
            connection=connection,
            sid=payload.get("MessageSid"),
            status=payload.get("MessageStatus"),
            error_code=payload.get("ErrorCode"),
        )
        return TRACKED if tracked else NOTHING
