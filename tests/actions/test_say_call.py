from urllib.parse import parse_qsl
from xml.etree import ElementTree

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CA = "CA" + "2" * 32
CREATED = {
    "sid": CA,
    "status": "queued",
    "to": "+14155552671",
    "from": "+15017122661",
    "direction": "outbound-api",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
}
BASE = {"From": "+15017122661", "To": "+14155552671"}


def sent(twilio) -> dict:
    return dict(parse_qsl(twilio.calls[0].request.body))


def test_builds_say_twiml_and_sends_it_as_twiml(twilio, run):
    twilio.add(responses.POST, CALLS, status=201, json=CREATED)
    result = run(
        "twilio/say-call",
        **BASE,
        message="Your appointment is tomorrow at 10am.",
        voice="Polly.Joanna",
        language="en-US",
        Record=True,
        Timeout=20,
    )
    assert result.ok, result.error
    assert twilio.calls[0].request.url == CALLS
    assert parse_qsl(twilio.calls[0].request.body) == [
        ("To", "+14155552671"),
        ("From", "+15017122661"),
        (
            "Twiml",
            '<Response><Say language="en-US" voice="Polly.Joanna">'
            "Your appointment is tomorrow at 10am.</Say></Response>",
        ),
        ("Timeout", "20"),
        ("Record", "true"),
    ]
    assert result.output == {
        "sid": CA,
        "status": "queued",
        "to": "+14155552671",
        "from": "+15017122661",
        "direction": "outbound-api",
        "date_created": CREATED["date_created"],
    }


def test_defaults_leave_out_voice_language_and_record(twilio, run):
    twilio.add(responses.POST, CALLS, status=201, json=CREATED)
    result = run("twilio/say-call", **BASE, message="Hello")
    assert result.ok, result.error
    assert sent(twilio) == {
        "To": "+14155552671",
        "From": "+15017122661",
        "Twiml": "<Response><Say>Hello</Say></Response>",
        "Timeout": "60",
    }


def test_xml_special_characters_in_the_message_are_escaped(twilio, run):
    twilio.add(responses.POST, CALLS, status=201, json=CREATED)
    message = 'Tom & Jerry <b>"2 > 1"</b></Say><Hangup/>'
    result = run("twilio/say-call", **BASE, message=message, voice="alice")
    assert result.ok, result.error
    twiml = sent(twilio)["Twiml"]
    assert "&amp;" in twiml and "&lt;b&gt;" in twiml and "<Hangup/>" not in twiml
    root = ElementTree.fromstring(twiml)
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Say"]
    assert root[0].text == message  # the message survives, as text, not markup


def test_shares_the_call_request_with_make_call():
    from actions.support.calls import CreatesCall
    from actions.twilio.make_call import MakeCall
    from actions.twilio.say_call import SayCall

    assert issubclass(MakeCall, CreatesCall) and issubclass(SayCall, CreatesCall)
    assert "run" not in vars(MakeCall) and "run" not in vars(SayCall)


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        (BASE, "message"),
        ({**BASE, "message": "Hi", "voice": "robot"}, "voice"),
        ({**BASE, "message": "Hi", "language": "xx-XX"}, "language"),
        ({**BASE, "message": "Hi", "voice": "Polly.Hans", "language": "en-US"}, "language"),
        ({**BASE, "message": "&" * 900}, "message"),  # 4,500 characters once escaped
        ({**BASE, "message": "Hi", "Timeout": 0}, "Timeout"),
        ({**BASE, "message": "Hi", "Record": "maybe"}, "Record"),
        ({"From": "+15017122661", "message": "Hi"}, "To"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/say-call", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_error_status_becomes_error_code(twilio, run):
    twilio.add(
        responses.POST,
        CALLS,
        status=400,
        json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400},
    )
    result = run("twilio/say-call", **BASE, message="Hi")
    assert result.error.code == errors.VALIDATION_ERROR
    assert result.error.twilio_code == 21211
