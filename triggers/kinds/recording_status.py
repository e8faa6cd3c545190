from connections.webhook_urls import STATUS
from triggers.kinds.base import TriggerKind, first, join_key, present, to_int


class RecordingStatus(TriggerKind):
    slug = "twilio/recording-status"
    title = "Recording status changed"
    description = (
        "A call recording's status callback (RecordingStatusCallback): in-progress, completed "
        "or absent. RecordingUrl is the media without extension (append .mp3 or .wav); "
        "RecordingDuration and RecordingChannels are ints; ErrorCode is 0 on success."
    )
    purpose = STATUS
    required = ("RecordingSid", "RecordingStatus")
    event_field = "RecordingStatus"
    events = ("in-progress", "completed", "absent")
    optional_fields = ("RecordingStartTime", "RecordingTrack", "ConferenceSid")
    sample = {
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "CallSid": "CA86393644c82a1c7a4c44559b93fbd747",
        "RecordingSid": "RE69242da47b9da7223c8f393003e43e2f",
        "RecordingUrl": (
            "https://api.twilio.com/2010-04-01/Accounts/ACedc0c98e309617f60508111b164becbc"
            "/Recordings/RE69242da47b9da7223c8f393003e43e2f"
        ),
        "RecordingStatus": "completed",
        "RecordingDuration": "40",
        "RecordingChannels": "1",
        "RecordingStartTime": "Sat, 24 Aug 2024 18:05:14 +0000",
        "RecordingSource": "OutboundAPI",
        "RecordingTrack": "both",
        "ErrorCode": "0",
    }

    @classmethod
    def matches(cls, params):
        return bool(first(params, "RecordingStatus"))

    @classmethod
    def parse(cls, params):
        return {
            "RecordingSid": first(params, "RecordingSid"),
            "RecordingUrl": first(params, "RecordingUrl"),
            "RecordingStatus": first(params, "RecordingStatus"),
            "RecordingDuration": to_int(first(params, "RecordingDuration")),
            "RecordingChannels": to_int(first(params, "RecordingChannels")),
            "RecordingSource": first(params, "RecordingSource"),
            "CallSid": first(params, "CallSid"),
            "AccountSid": first(params, "AccountSid"),
            "ErrorCode": to_int(first(params, "ErrorCode")),
            **present(params, ("RecordingStartTime", "RecordingTrack", "ConferenceSid")),
        }

    @classmethod
    def dedupe_key(cls, params):
        return join_key(first(params, "RecordingSid"), first(params, "RecordingStatus"))
