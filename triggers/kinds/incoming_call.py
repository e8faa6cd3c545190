from triggers.kinds.base import GEO_FIELDS, TriggerKind, first, join_key, present


class IncomingCall(TriggerKind):
    slug = "twilio/incoming-call"
    title = "Incoming call"
    description = (
        "A call to one of the account's numbers (its voice URL). The payload has CallSid, From, "
        "To, CallStatus, Direction, CallerName (with caller-name lookup on), ForwardedFrom "
        "(when the carrier passes it) and the geo fields Twilio could resolve."
    )
    purpose = "voice"
    required = ("CallSid", "From", "To")
    sample = {
        "Called": "+15017122661",
        "ToState": "AR",
        "CallerCountry": "US",
        "Direction": "inbound",
        "CallerState": "CA",
        "ToZip": "72201",
        "CallSid": "CA8f9edf6a4fa16fe3ddee9c7a109981b9",
        "To": "+15017122661",
        "CallerZip": "94105",
        "ToCountry": "US",
        "CalledZip": "72201",
        "ApiVersion": "2010-04-01",
        "CalledCity": "LITTLE ROCK",
        "CallStatus": "ringing",
        "From": "+14155550123",
        "AccountSid": "ACedc0c98e309617f60508111b164becbc",
        "CalledCountry": "US",
        "CallerCity": "SAN FRANCISCO",
        "ToCity": "LITTLE ROCK",
        "FromCountry": "US",
        "Caller": "+14155550123",
        "FromCity": "SAN FRANCISCO",
        "CalledState": "AR",
        "FromZip": "94105",
        "FromState": "CA",
    }

    @classmethod
    def parse(cls, params):
        return {
            "CallSid": first(params, "CallSid"),
            "AccountSid": first(params, "AccountSid"),
            "From": first(params, "From"),
            "To": first(params, "To"),
            "CallStatus": first(params, "CallStatus"),
            "Direction": first(params, "Direction"),
            "CallerName": first(params, "CallerName") or None,
            "ForwardedFrom": first(params, "ForwardedFrom") or None,
            **present(params, ("ParentCallSid", "StirVerstat")),
            **present(params, GEO_FIELDS),
        }

    @classmethod
    def dedupe_key(cls, params):
        # The voice URL is requested once per call; Gather/Dial actions go elsewhere.
        return join_key(first(params, "CallSid"))
