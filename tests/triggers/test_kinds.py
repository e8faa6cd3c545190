"""Trigger kinds against captured Twilio requests (Zulip style: one fixture per event under
tests/fixtures/twilio/<kind>/, concrete expected values per fixture, and a test that fails
when a kind, a fixture folder or a fixture's expectations are missing)."""

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from actions.validation import keyword_of
from triggers.kinds.base import PURPOSES, first, media_of, to_int
from triggers.kinds.registry import detect, kind_choices, trigger_kind_get, trigger_kinds
from twilioflow.core.errors import NOT_FOUND, TwilioFlowError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
PREFIX = "twilio/"

AC = "ACedc0c98e309617f60508111b164becbc"
MG = "MGa84cd3ebe540f1bbe40c5deecd8c4f4e"
API = f"https://api.twilio.com/2010-04-01/Accounts/{AC}"
OURS, ADA, SANDBOX = "+15017122661", "+14155550123", "+14155238886"
REC = "RE69242da47b9da7223c8f393003e43e2f"
GEO = ("FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip", "ToCountry")


class Absent:
    def __repr__(self):
        return "<absent>"


ABSENT = Absent()  # the payload must not have this key


def fixture_names() -> list[str]:
    return sorted(f"{path.parent.name}/{path.stem}" for path in FIXTURES.glob("*/*.json"))


def load(fixture: str):
    """(params as the endpoint sees them, None) for a form fixture; (None, body) for JSON."""
    data = json.loads((FIXTURES / f"{fixture}.json").read_text(encoding="utf-8"))
    if set(data) == {"content_type", "body"} and data["content_type"] == "application/json":
        return None, data["body"]
    return as_params(data), None


def as_params(data: dict) -> dict[str, list[str]]:
    """A fixture as `dict(request.POST.lists())`: a list value is a repeated key."""
    return {name: list(value) if isinstance(value, list) else [value] for name, value in data.items()}


def as_querydict(params: dict[str, list[str]]) -> QueryDict:
    return QueryDict(urlencode([(k, v) for k, vs in params.items() for v in vs]))


def kind_for(fixture: str):
    return trigger_kind_get(PREFIX + fixture.split("/")[0])


# Expected payload values per fixture. Keys not listed are not checked, except ABSENT ones.
EXPECTED = {
    "incoming-sms/plain": {
        "MessageSid": "SM4de97eace92ad3413466f380fdfe9bba",
        "AccountSid": AC,
        "MessagingServiceSid": None,
        "From": ADA,
        "To": OURS,
        "Body": "Is my order ready for pickup?",
        "NumMedia": 0,
        "NumSegments": 1,
        "media": [],
        "keyword": "IS",
        "from_number": ADA,
        "to_number": OURS,
        "FromCity": "SAN FRANCISCO",
        "FromState": "CA",
        "FromZip": "94105",
        "FromCountry": "US",
        "ToCity": "LITTLE ROCK",
        "ToState": "AR",
        "ToZip": "72201",
        "ToCountry": "US",
        "OptOutType": ABSENT,
        "SmsSid": ABSENT,
        "ApiVersion": ABSENT,
    },
    "incoming-sms/mms_two_images": {
        "MessageSid": "MM2b20c571adb2806e3261033ad9bf97eb",
        "Body": "Photos of the damaged box",
        "NumMedia": 2,
        "keyword": "PHOTOS",
        "media": [
            {
                "url": f"{API}/Messages/MM2b20c571adb2806e3261033ad9bf97eb/Media/"
                "MEea8a9c6ce80d34ba4afffad559a4f760",
                "content_type": "image/jpeg",
            },
            {
                "url": f"{API}/Messages/MM2b20c571adb2806e3261033ad9bf97eb/Media/"
                "ME352121baa5f7592f7c2ff31593945e50",
                "content_type": "image/png",
            },
        ],
        "MediaUrl0": ABSENT,
    },
    "incoming-sms/keyword_stop": {
        "MessageSid": "SMba78f64c51d98c2ab5076fb17afb54fe",
        "Body": "  Stop.",
        "keyword": "STOP",
        "MessagingServiceSid": MG,
        "OptOutType": "STOP",
    },
    "incoming-sms/non_ascii": {
        "MessageSid": "SM8e0e75bb16710d4ca5fd4e7f64bb57f7",
        "From": "+34612345678",
        "Body": "¿Dónde está mi pedido? 📦",
        "keyword": "DÓNDE",
        "NumSegments": 1,
        # Twilio could not place the Spanish mobile: blank geo fields are left out.
        "FromCountry": "ES",
        "FromCity": ABSENT,
        "FromState": ABSENT,
        "FromZip": ABSENT,
        "ToCity": "LITTLE ROCK",
    },
    "incoming-whatsapp/text": {
        "MessageSid": "SM2af8df1816da2bd2e3851394991a4925",
        "From": f"whatsapp:{ADA}",
        "To": f"whatsapp:{SANDBOX}",
        "from_number": ADA,
        "to_number": SANDBOX,
        "ProfileName": "Ada Lovelace",
        "WaId": "14155550123",
        "MessageType": "text",
        "Body": "Hi! I'd like to book a table for 4",
        "keyword": "HI",
        "ReferralNumMedia": 0,
        "ButtonText": ABSENT,
        "ButtonPayload": ABSENT,
        "FromCity": ABSENT,
    },
    "incoming-whatsapp/button_reply": {
        "MessageSid": "SMf9d27daac2182811d8050d1ad6112518",
        "MessageType": "button",
        "Body": "Confirm",
        "keyword": "CONFIRM",
        "ButtonText": "Confirm",
        "ButtonPayload": "confirm_booking_1042",
        "OriginalRepliedMessageSender": f"whatsapp:{SANDBOX}",
        "OriginalRepliedMessageSid": "SM77cbb9c188279c1112ea288c2e7842e2",
    },
    "incoming-whatsapp/media": {
        "MessageSid": "MM17acb5930bd41917ed16839dd73d8620",
        "MessageType": "image",
        "Body": "",
        "keyword": "",
        "NumMedia": 1,
        "media": [
            {
                "url": f"{API}/Messages/MM17acb5930bd41917ed16839dd73d8620/Media/"
                "ME27731cd32765031cf33ebf4a38e9a915",
                "content_type": "image/jpeg",
            }
        ],
    },
    "incoming-call/inbound": {
        "CallSid": "CA8f9edf6a4fa16fe3ddee9c7a109981b9",
        "AccountSid": AC,
        "From": ADA,
        "To": OURS,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "CallerName": "LOVELACE ADA",
        "ForwardedFrom": None,
        "StirVerstat": "TN-Validation-Passed-A",
        "FromCity": "SAN FRANCISCO",
        "ToState": "AR",
        "Caller": ABSENT,
        "CalledCity": ABSENT,
    },
    "incoming-call/forwarded": {
        "CallSid": "CAd2a71ed192b50a8a59486c924bb840c9",
        "From": "+12125550147",
        "ForwardedFrom": "+15017122662",
        "CallerName": None,
        "FromCity": "NEW YORK",
        "FromState": "NY",
        "StirVerstat": ABSENT,
    },
    "message-status/sent": {
        "MessageSid": "SMa50b7a83f9cb8d6c304cfd0d74a80c90",
        "MessageStatus": "sent",
        "ErrorCode": None,
        "From": OURS,
        "To": ADA,
        "AccountSid": AC,
        "MessagingServiceSid": MG,
        "RawDlrDoneDate": ABSENT,
        "SmsStatus": ABSENT,
    },
    "message-status/delivered": {
        "MessageSid": "SMa50b7a83f9cb8d6c304cfd0d74a80c90",
        "MessageStatus": "delivered",
        "ErrorCode": None,
        "RawDlrDoneDate": "2408241805",
    },
    "message-status/undelivered_30003": {
        "MessageSid": "SM68b3ee14fc299ff331ade90fa6c64250",
        "MessageStatus": "undelivered",
        "ErrorCode": 30003,
        "MessagingServiceSid": None,
    },
    "message-status/read": {
        "MessageSid": "SM7b99618ed4359ef2e54d55d2110b8e14",
        "MessageStatus": "read",
        "From": f"whatsapp:{SANDBOX}",
        "To": f"whatsapp:{ADA}",
        "ChannelPrefix": "whatsapp",
        "ChannelToAddress": ADA,
        "ChannelInstallSid": "XEa6d08aa425090357ad6085f064a4e3eb",
    },
    "call-status/ringing": {
        "CallSid": "CA86393644c82a1c7a4c44559b93fbd747",
        "CallStatus": "ringing",
        "SequenceNumber": 1,
        "CallDuration": None,
        "Duration": None,
        "AnsweredBy": None,
        "CallbackSource": "call-progress-events",
        "Timestamp": "Sat, 24 Aug 2024 18:05:09 +0000",
        "Direction": "outbound-api",
        "From": OURS,
        "To": ADA,
        "RecordingUrl": ABSENT,
        "RecordingSid": ABSENT,
        "SipResponseCode": ABSENT,
    },
    "call-status/completed": {
        "CallSid": "CA86393644c82a1c7a4c44559b93fbd747",
        "CallStatus": "completed",
        "SequenceNumber": 3,
        "CallDuration": 42,
        "Duration": 1,
        "AnsweredBy": "human",
        "SipResponseCode": 200,
        "RecordingSid": REC,
        "RecordingUrl": f"{API}/Recordings/{REC}",
        "RecordingDuration": 40,
    },
    "call-status/completed-machine": {
        "CallSid": "CAe3f1a9b27c4d4b4c8a1f9e0d2c3b4a59",
        "CallStatus": "completed",
        "SequenceNumber": 4,
        "CallDuration": 23,
        "AnsweredBy": "machine_end_beep",
        "RecordingSid": ABSENT,
    },
    "recording-status/completed": {
        "RecordingSid": REC,
        "RecordingUrl": f"{API}/Recordings/{REC}",
        "RecordingStatus": "completed",
        "RecordingDuration": 40,
        "RecordingChannels": 1,
        "RecordingSource": "OutboundAPI",
        "CallSid": "CA86393644c82a1c7a4c44559b93fbd747",
        "AccountSid": AC,
        "ErrorCode": 0,
        "RecordingTrack": "both",
        "RecordingStartTime": "Sat, 24 Aug 2024 18:05:14 +0000",
    },
    "webhook/form": {
        "content_type": "application/x-www-form-urlencoded",
        "data": {
            "name": "Ada Lovelace",
            "phone": ADA,
            "appointment": "2024-09-02T15:30",
            "interests": ["sms", "whatsapp"],
            "consent": "yes",
        },
    },
    "webhook/json": {
        "content_type": "application/json",
        "data": {
            "event": "order.shipped",
            "order": {"id": 1042, "total": "59.90", "currency": "EUR"},
            "customer": {"name": "Ada Lovelace", "phone": ADA, "opted_in": True},
            "items": [{"sku": "MUG-01", "qty": 2}, {"sku": "TEE-M", "qty": 1}],
            "tracking_url": "https://track.example.com/1042",
        },
    },
    "new-messages/page": {
        # The queued message (no date_sent) waits for a later poll; the rest, oldest first.
        "updated": [],
        "cursor": "2024-08-24T18:05:40+00:00",
        "created": [
            {
                "sid": "SM4de97eace92ad3413466f380fdfe9bba",
                "account_sid": AC,
                "api_version": "2010-04-01",
                "body": "Is my order ready for pickup?",
                "date_created": "Sat, 24 Aug 2024 18:05:09 +0000",
                "date_sent": "Sat, 24 Aug 2024 18:05:09 +0000",
                "date_updated": "Sat, 24 Aug 2024 18:05:09 +0000",
                "direction": "inbound",
                "error_code": None,
                "error_message": None,
                "from": ADA,
                "to": OURS,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": "-0.00790",
                "price_unit": "USD",
                "status": "received",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{AC}/Messages/SM4de97eace92ad3413466f380fdfe9bba/Media.json"
                },
                "uri": f"/2010-04-01/Accounts/{AC}/Messages/SM4de97eace92ad3413466f380fdfe9bba.json",
            },
            {
                "sid": "SMa50b7a83f9cb8d6c304cfd0d74a80c90",
                "account_sid": AC,
                "api_version": "2010-04-01",
                "body": "Yes, it's ready. See you soon!",
                "date_created": "Sat, 24 Aug 2024 18:05:39 +0000",
                "date_sent": "Sat, 24 Aug 2024 18:05:40 +0000",
                "date_updated": "Sat, 24 Aug 2024 18:05:42 +0000",
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": OURS,
                "to": ADA,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": "-0.00790",
                "price_unit": "USD",
                "status": "delivered",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{AC}/Messages/SMa50b7a83f9cb8d6c304cfd0d74a80c90/Media.json"
                },
                "uri": f"/2010-04-01/Accounts/{AC}/Messages/SMa50b7a83f9cb8d6c304cfd0d74a80c90.json",
            },
        ],
    },
}


# --- every fixture --------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", fixture_names())
def test_fixture_is_detected_and_parsed(fixture):
    kind = kind_for(fixture)
    params, body = load(fixture)
    if params is None:
        assert detect(kind.purpose, {}) is kind
        payload = kind.parse_json(body)
    else:
        assert detect(kind.purpose, params) is kind
        also = [
            k.slug
            for k in trigger_kinds().values()
            if k.purpose == kind.purpose and k is not kind and k.matches(params)
        ]
        assert also == [], f"{fixture} also matches {also}: make `matches` mutually exclusive"
        payload = kind.parse(params)

    assert fixture in EXPECTED, (
        f"No expected values for the fixture {fixture}. Add EXPECTED[{fixture!r}] to {__file__}."
    )
    for key, value in EXPECTED[fixture].items():
        if value is ABSENT:
            assert key not in payload, f"{fixture}: {key} should be left out"
        else:
            assert key in payload, f"{fixture}: missing {key}"
            assert payload[key] == value, f"{fixture}: {key}"
    assert json.loads(json.dumps(payload)) == payload  # stored as the run's trigger JSON
    if kind.event_field:
        assert payload[kind.event_field] in kind.events, (
            f"{fixture}: {payload[kind.event_field]!r} is not in {kind.__name__}.events"
        )


@pytest.mark.parametrize("fixture", [f for f in fixture_names() if load(f)[0] is not None])
def test_a_querydict_parses_like_its_lists(fixture):
    kind = kind_for(fixture)
    params, _ = load(fixture)
    querydict = as_querydict(params)
    assert detect(kind.purpose, querydict) is kind
    assert kind.parse(querydict) == kind.parse(params)
    assert kind.dedupe_key(querydict) == kind.dedupe_key(params)


def test_every_kind_has_fixtures_and_every_folder_a_kind():
    folders = {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    kinds = {slug.removeprefix(PREFIX) for slug in trigger_kinds()}
    assert kinds - folders == set(), (
        f"Kinds without fixtures: {sorted(kinds - folders)}. Capture at least one request per "
        f"kind into {FIXTURES}/<slug-without-prefix>/<event>.json (see README.md there)."
    )
    assert folders - kinds == set(), (
        f"Fixture folders without a registered kind: {sorted(folders - kinds)}. Add the kind's "
        "module under triggers/kinds/ or rename the folder after its slug."
    )
    empty = sorted(f for f in folders if not list((FIXTURES / f).glob("*.json")))
    assert empty == [], f"Fixture folders without a .json fixture: {empty}"


def test_every_expectation_has_its_fixture():
    assert sorted(set(EXPECTED) - set(fixture_names())) == []


def test_fixtures_are_form_params_as_twilio_posts_them():
    for fixture in fixture_names():
        params, _ = load(fixture)
        if params is None or fixture.startswith("webhook/"):
            continue
        data = json.loads((FIXTURES / f"{fixture}.json").read_text(encoding="utf-8"))
        assert all(isinstance(v, str) for v in data.values()), fixture
        assert data["AccountSid"].startswith("AC") and len(data["AccountSid"]) == 34, fixture


# --- the registry ---------------------------------------------------------------------------


def test_registry_lists_the_kinds_grouped_by_purpose():
    assert list(trigger_kinds()) == [
        "twilio/incoming-sms",
        "twilio/incoming-whatsapp",
        "twilio/incoming-call",
        "twilio/call-status",
        "twilio/message-status",
        "twilio/recording-status",
        "twilio/webhook",
        "twilio/new-messages",
    ]
    assert kind_choices()[0] == ("twilio/incoming-sms", "Incoming SMS/MMS")
    assert [slug for slug, _ in kind_choices()] == list(trigger_kinds())


def test_unknown_kind_is_not_found():
    with pytest.raises(TwilioFlowError) as caught:
        trigger_kind_get("twilio/incoming-fax")
    assert caught.value.code == NOT_FOUND
    assert "twilio/incoming-sms" in caught.value.message


@pytest.mark.parametrize("slug", list(trigger_kinds()))
def test_kind_declaration_and_sample(slug):
    kind = trigger_kinds()[slug]
    assert slug.startswith(PREFIX)
    assert kind.title and kind.description
    assert kind.purpose in PURPOSES
    assert kind.sample and all(isinstance(k, str) and isinstance(v, str) for k, v in kind.sample.items())
    assert detect(kind.purpose, kind.sample) is kind
    described = kind.describe()
    assert described["slug"] == slug and described["purpose"] == kind.purpose
    assert json.loads(json.dumps(described["sample_payload"])) == kind.parse(kind.sample)


def test_detect_messages_by_channel_prefix():
    assert detect("messages", {"From": ["+14155550123"], "Body": ["hi"]}).slug == "twilio/incoming-sms"
    assert detect("messages", {"From": ["whatsapp:+14155550123"]}).slug == "twilio/incoming-whatsapp"
    assert detect("messages", {"From": ["WhatsApp:+14155550123"]}).slug == "twilio/incoming-whatsapp"
    assert detect("voice", {"CallSid": ["CA" + "0" * 32]}).slug == "twilio/incoming-call"


def test_detect_status_callbacks():
    sid = ["SM" + "a" * 32]
    assert detect("status", {"MessageSid": sid, "MessageStatus": ["sent"]}).slug == "twilio/message-status"
    # Legacy parameter names only.
    legacy = {"SmsSid": sid, "SmsStatus": ["delivered"]}
    assert detect("status", legacy).slug == "twilio/message-status"
    assert trigger_kind_get("twilio/message-status").parse(legacy)["MessageStatus"] == "delivered"
    assert trigger_kind_get("twilio/message-status").parse(legacy)["MessageSid"] == sid[0]
    # A message status carrying a CallSid is not a message status callback.
    assert detect("status", {"MessageStatus": ["sent"], "CallSid": ["CA" + "0" * 32]}) is None
    # Recording callbacks carry the CallSid (and sometimes CallStatus): the recording wins.
    recording = {
        "CallSid": ["CA" + "0" * 32],
        "CallStatus": ["completed"],
        "RecordingSid": ["RE" + "0" * 32],
        "RecordingStatus": ["completed"],
    }
    assert detect("status", recording).slug == "twilio/recording-status"
    assert detect("status", {"CallSid": ["CA" + "0" * 32], "CallStatus": ["busy"]}).slug == (
        "twilio/call-status"
    )


def test_detect_nothing():
    assert detect("status", {"Foo": ["bar"]}) is None
    assert detect("status", {}) is None
    assert detect("fax", {"From": ["+14155550123"]}) is None
    assert detect("webhook", {}).slug == "twilio/webhook"


# --- dedupe keys ----------------------------------------------------------------------------


def key(fixture):
    params, _ = load(fixture)
    return kind_for(fixture).dedupe_key(params)


def test_dedupe_keys_are_stable():
    for fixture in fixture_names():
        params, _ = load(fixture)
        if params is None:
            continue
        kind = kind_for(fixture)
        assert kind.dedupe_key(params) == kind.dedupe_key(dict(reversed(list(params.items()))))


def test_message_status_key_is_sid_status_and_error():
    assert key("message-status/sent") == "SMa50b7a83f9cb8d6c304cfd0d74a80c90:sent"
    assert key("message-status/delivered") == "SMa50b7a83f9cb8d6c304cfd0d74a80c90:delivered"
    assert key("message-status/undelivered_30003") == "SM68b3ee14fc299ff331ade90fa6c64250:undelivered:30003"
    params, _ = load("message-status/undelivered_30003")
    other_error = {**params, "ErrorCode": ["30005"]}
    assert trigger_kind_get("twilio/message-status").dedupe_key(other_error) != key(
        "message-status/undelivered_30003"
    )


def test_call_status_key_has_the_sequence_number():
    assert key("call-status/ringing") == "CA86393644c82a1c7a4c44559b93fbd747:ringing:1"
    assert key("call-status/completed") == "CA86393644c82a1c7a4c44559b93fbd747:completed:3"
    params, _ = load("call-status/ringing")
    kind = trigger_kind_get("twilio/call-status")
    again = {**params, "SequenceNumber": ["2"]}
    assert kind.dedupe_key(again) != kind.dedupe_key(params)
    without = {k: v for k, v in params.items() if k != "SequenceNumber"}
    assert kind.dedupe_key(without) == "CA86393644c82a1c7a4c44559b93fbd747:ringing"


def test_other_keys():
    assert key("recording-status/completed") == f"{REC}:completed"
    assert key("incoming-sms/plain") == "SM4de97eace92ad3413466f380fdfe9bba"
    assert key("incoming-whatsapp/text") == "SM2af8df1816da2bd2e3851394991a4925"
    assert key("incoming-call/inbound") == "CA8f9edf6a4fa16fe3ddee9c7a109981b9"
    assert key("webhook/form") is None
    # No SID, no key: only the idempotency token can deduplicate such a request.
    assert trigger_kind_get("twilio/message-status").dedupe_key({"MessageStatus": ["sent"]}) is None
    assert trigger_kind_get("twilio/call-status").dedupe_key({"CallStatus": ["ringing"]}) is None


def test_every_dedupe_key_is_distinct_across_fixtures():
    keys = [key(f) for f in fixture_names() if load(f)[0] is not None and key(f) is not None]
    assert len(keys) == len(set(keys))


# --- payload details ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop.", "STOP"),
        ("STOP!!!", "STOP"),
        ('"stop"', "STOP"),
        ("Stop, please", "STOP"),
        ("stop\nplease", "STOP"),
        ("\u00a0unstop", "UNSTOP"),
        ("opt-in now", "OPT-IN"),
        ("don't", "DON'T"),
        ("... yes", "YES"),
        ("¿Dónde está?", "DÓNDE"),
        ("👍 yes", "👍"),
        ("", ""),
        ("   ", ""),
        ("?!", ""),
        (None, ""),
    ],
)
def test_keyword(body, keyword):
    assert keyword_of(body) == keyword


def test_media_list_follows_num_media():
    base = {
        "MediaUrl0": ["https://a/0"],
        "MediaContentType0": ["image/gif"],
        "MediaUrl1": ["https://a/1"],
        "MediaContentType1": ["video/mp4"],
    }
    assert media_of({**base, "NumMedia": ["2"]}) == [
        {"url": "https://a/0", "content_type": "image/gif"},
        {"url": "https://a/1", "content_type": "video/mp4"},
    ]
    assert media_of({**base, "NumMedia": ["1"]}) == [{"url": "https://a/0", "content_type": "image/gif"}]
    assert media_of({**base, "NumMedia": ["0"]}) == []
    assert media_of(base) == []  # no NumMedia: no media
    assert media_of({"NumMedia": ["1"]}) == []  # a count without a URL


def test_sms_without_num_media_or_segments():
    payload = trigger_kind_get("twilio/incoming-sms").parse({"From": [ADA], "To": [OURS], "Body": ["Hi"]})
    assert payload["NumMedia"] == 0 and payload["NumSegments"] == 1 and payload["media"] == []
    assert payload["MessageSid"] is None and payload["MessagingServiceSid"] is None


def test_geo_fields_only_when_present():
    kind = trigger_kind_get("twilio/incoming-sms")
    bare = kind.parse({"From": [ADA], "To": [OURS], "Body": ["x"]})
    assert not set(GEO) & set(bare)
    blank = kind.parse({"From": [ADA], "To": [OURS], "FromCity": [""], "ToCountry": ["US"]})
    assert "FromCity" not in blank and blank["ToCountry"] == "US"
    call = trigger_kind_get("twilio/incoming-call").parse({"CallSid": ["CA" + "1" * 32]})
    assert not set(GEO) & set(call)


def test_whatsapp_contact_and_missing_profile():
    kind = trigger_kind_get("twilio/incoming-whatsapp")
    params, _ = load("incoming-whatsapp/text")
    payload = kind.parse({k: v for k, v in params.items() if k not in ("ProfileName", "WaId")})
    assert payload["ProfileName"] is None and payload["WaId"] is None
    assert kind.contact(payload) == (ADA, SANDBOX)
    assert kind.channel == "whatsapp"
    sms = trigger_kind_get("twilio/incoming-sms")
    assert sms.channel == "sms"
    assert sms.contact(sms.parse(load("incoming-sms/plain")[0])) == (ADA, OURS)


def test_webhook_form_keeps_repeated_keys_as_lists():
    kind = trigger_kind_get("twilio/webhook")
    params = {"tag": ["a", "b"], "name": ["Ada"], "empty": [""]}
    expected = {
        "data": {"tag": ["a", "b"], "name": "Ada", "empty": ""},
        "content_type": "application/x-www-form-urlencoded",
    }
    assert kind.parse(params) == expected
    assert kind.parse(as_querydict(params)) == expected
    assert kind.parse({"name": "Ada"})["data"] == {"name": "Ada"}  # str → str (the sample)


def test_webhook_json_bodies():
    kind = trigger_kind_get("twilio/webhook")
    assert kind.parse_json([1, 2]) == {"data": [1, 2], "content_type": "application/json"}
    assert kind.parse_json({"a": "b"}) == {"data": {"a": "b"}, "content_type": "application/json"}
    # Not form-shaped: parse hands it to parse_json.
    assert kind.parse({"n": 1, "ok": True}) == {
        "data": {"n": 1, "ok": True},
        "content_type": "application/json",
    }


def test_first_and_to_int():
    assert first({"A": ["1", "2"]}, "A") == "1"
    assert first({"A": "x"}, "A") == "x"
    assert first({}, "A") is None and first({}, "A", "d") == "d"
    assert first({"A": []}, "A", "d") == "d"
    assert first(QueryDict("A=1&A=2"), "A") == "1"  # not QueryDict.get's last value
    assert [to_int(v) for v in ("42", " 7 ", "", None, "abc")] == [42, 7, None, None, None]
