from urllib.parse import parse_qsl

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CA = "CA" + "1" * 32
TWIML = "<Response><Say>Your order has shipped.</Say></Response>"

CREATED = {
    "sid": CA,
    "status": "queued",
    "to": "+14155552671",
    "from": "+15017122661",
    "direction": "outbound-api",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "account_sid": ACCOUNT_SID,
    "price": None,
    "duration": None,
}
OUTPUT = {key: CREATED[key] for key in ("sid", "status", "to", "from", "direction", "date_created")}


def test_posts_twiml_with_exact_fields_and_maps_output(twilio, run):
    twilio.add(responses.POST, CALLS, status=201, json=CREATED)
    result = run(
        "twilio/make-call",
        From="+15017122661",
        To="(415) 555-2671",
        Twiml=TWIML,
        StatusCallback="https://hooks.example.com/calls",
        Timeout="30",
    )
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.method == "POST"
    assert request.url == CALLS
    assert parse_qsl(request.body) == [
        ("To", "+14155552671"),
        ("From", "+15017122661"),
        ("Twiml", TWIML),
        ("StatusCallback", "https://hooks.example.com/calls"),
        ("Timeout", "30"),
    ]
    assert result.output == OUTPUT


def test_url_and_default_timeout(twilio, run):
    twilio.add(responses.POST, CALLS, status=201, json=CREATED)
    result = run(
        "twilio/make-call", From="+15017122661", To="+14155552671", Url="https://twiml.example.com/voice.xml"
    )
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body) == [
        ("To", "+14155552671"),
        ("From", "+15017122661"),
        ("Url", "https://twiml.example.com/voice.xml"),
        ("Timeout", "60"),
    ]


def test_is_a_non_idempotent_create_with_a_phone_picker():
    from actions.registry import action_get

    action = action_get("twilio/make-call")
    assert action.idempotent is False
    assert action.group == "Voice"
    assert action.field_map()["From"].picker == "phone_numbers"
    assert action.field_map()["From"].type == "phone"


BASE = {"From": "+15017122661", "To": "+14155552671"}


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({**BASE, "Twiml": TWIML, "Url": "https://twiml.example.com/a"}, "Twiml"),
        ({**BASE, "Twiml": TWIML, "Url": "https://twiml.example.com/a"}, "Url"),
        (BASE, "Twiml"),
        ({**BASE, "Twiml": "<Say>Hi</Say>"}, "Twiml"),
        ({**BASE, "Twiml": "<Response><Say>Hi</Response>"}, "Twiml"),
        ({**BASE, "Twiml": "<Response><Say>" + "x" * 4000 + "</Say></Response>"}, "Twiml"),
        ({**BASE, "Twiml": TWIML, "Timeout": 0}, "Timeout"),
        ({**BASE, "Twiml": TWIML, "Timeout": 601}, "Timeout"),
        ({**BASE, "Url": "/relative.xml"}, "Url"),
        ({"To": "+14155552671", "Twiml": TWIML}, "From"),
        ({"From": "+15017122661", "To": "12", "Twiml": TWIML}, "To"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/make-call", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


@pytest.mark.parametrize(
    ("status", "code", "outcome_unknown"),
    [
        (400, errors.VALIDATION_ERROR, False),
        (404, errors.NOT_FOUND, False),
        (429, errors.RATE_LIMITED, False),
        (500, errors.PROVIDER_ERROR, True),
    ],
)
def test_error_statuses_become_error_codes(twilio, run, status, code, outcome_unknown):
    twilio.add(
        responses.POST,
        CALLS,
        status=status,
        json={"code": 21210, "message": "'From' phone number not verified", "status": status},
    )
    result = run("twilio/make-call", **BASE, Twiml=TWIML)
    assert result.error.code == code
    assert result.error.twilio_code == 21210
    # a 5xx on a create may have placed the call: never retried blindly
    assert result.error.outcome_unknown is outcome_unknown
