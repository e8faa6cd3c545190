from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connections.webhook_urls import STATUS
from triggers.kinds.base import NOTHING, TRACKED, Receipt, TriggerKind, first, join_key, present, to_int

if TYPE_CHECKING:
    from connections.models import Connection
    from triggers.models import TriggerEvent

# Recording fields come with Record=true on the call; SipResponseCode on completed calls.
OPTIONAL = (
    "RecordingUrl",
    "RecordingSid",
    "RecordingDuration",
    "SipResponseCode",
    "ParentCallSid",
)


# What a waiting make-call step reads from the final callback.
CALL_DETAILS = (
    "CallDuration",
    "AnsweredBy",
    "RecordingSid",
    "RecordingUrl",
    "RecordingDuration",
    "SipResponseCode",
)
# Higher apps that act on a call's status (registered in their AppConfig.ready).
_call_status_listeners: list[Callable[..., Any]] = []


def call_status_listen(listener: Callable[..., Any]) -> None:
    if listener not in _call_status_listeners:
        _call_status_listeners.append(listener)


class CallStatus(TriggerKind):
    slug = "twilio/call-status"
    title = "Call status changed"
    description = (
        "A call's status callback: initiated, ringing, in-progress (answered), completed, busy, "
        "no-answer, failed, canceled. CallDuration (seconds, on completed) and SequenceNumber "
        "(the events' order) are ints; AnsweredBy is set when answering-machine detection ran."
    )
    purpose = STATUS
    required = ("CallSid", "CallStatus")
    event_field = "CallStatus"
    events = (
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "failed",
        "no-answer",
        "canceled",
    )
    optional_fields = OPTIONAL
    sample = {
        "Called": "+14155550123",
        "ToState": "CA",
        "CallerCountry": "US",
        "Direction": "outbound-api",
        "Timestamp": "Sat, 24 Aug 2024 18:05:54 +0000",
        "CallbackSource": "call-progress-events",
        "SipResponseCode": "200",
        "CallerState": "AR",
        "ToZip": "94105",
        "SequenceNumber": "3",
        "CallSid": "CA86393644c82a1c7a4c44559b93fbd747",
        "To": "+14155550123",
        "CallerZip": "72201",
        "ToCountry": "US",
        "CalledZip": "94105",
        "ApiVersion": "2010-04-01",
        "CalledCity": "SAN FRANCISCO",
        "CallStatus": "completed",
        "Duration": "1",
        "From": "+15017122661",
        "CallDuration": "42",
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "CalledCountry": "US",
        "CallerCity": "LITTLE ROCK",
        "ToCity": "SAN FRANCISCO",
        "FromCountry": "US",
        "Caller": "+15017122661",
        "FromCity": "LITTLE ROCK",
        "CalledState": "CA",
        "FromZip": "72201",
        "FromState": "AR",
    }

    @classmethod
    def matches(cls, params):
        return bool(first(params, "CallStatus")) and not first(params, "RecordingStatus")

    @classmethod
    def parse(cls, params):
        return {
            "CallSid": first(params, "CallSid"),
            "AccountSid": first(params, "AccountSid"),
            "CallStatus": first(params, "CallStatus"),
            "CallDuration": to_int(first(params, "CallDuration")),
            "Duration": to_int(first(params, "Duration")),
            "Timestamp": first(params, "Timestamp"),
            "SequenceNumber": to_int(first(params, "SequenceNumber")),
            "CallbackSource": first(params, "CallbackSource"),
            "From": first(params, "From"),
            "To": first(params, "To"),
            "Direction": first(params, "Direction"),
            "AnsweredBy": first(params, "AnsweredBy") or None,
            **present(params, OPTIONAL, numeric=("RecordingDuration", "SipResponseCode")),
        }

    @classmethod
    def dedupe_key(cls, params):
        # "CA…:completed:3". SequenceNumber tells apart repeated events of one status.
        return join_key(
            first(params, "CallSid"), first(params, "CallStatus"), first(params, "SequenceNumber")
        )

    @classmethod
    def on_receipt(cls, *, event: TriggerEvent, connection: Connection) -> Receipt:
        """Delivery tracking: the status is recorded on the step that created the call
        through this connection (`workflows.inbound.step_run_track_delivery`)."""
        from workflows.inbound import step_run_track_delivery

        payload = event.payload
        tracked = step_run_track_delivery(
            connection=connection,
            sid=payload.get("CallSid"),
            status=payload.get("CallStatus"),
            error_code=payload.get("ErrorCode"),
            details={k: payload[k] for k in CALL_DETAILS if payload.get(k) not in (None, "")},
        )
        for listener in _call_status_listeners:  # e.g. the voice app ends a live call's session
            listener(
                connection=connection, call_sid=payload.get("CallSid") or "", status=payload.get("CallStatus")
            )
        return TRACKED if tracked else NOTHING
