"""twilio/start-verification and twilio/check-verification."""

import json
from urllib.parse import parse_qsl

import pytest
import responses

from twilioflow.core import errors

VA = "VA" + "8" * 32
VE = "VE" + "8" * 32
VERIFICATIONS = f"https://verify.twilio.com/v2/Services/{VA}/Verifications"
CHECK = f"https://verify.twilio.com/v2/Services/{VA}/VerificationCheck"
CODE = "482913"


def verification(**extra) -> dict:
    return {
        "sid": VE,
        "service_sid": VA,
        "to": "+14155552671",
        "channel": "sms",
        "status": "pending",
        "valid": False,
        "date_created": "2015-07-30T20:00:00Z",
        "lookup": {},
        "amount": None,
        "payee": None,
        **extra,
    }


OUTPUT_KEYS = ("sid", "status", "to", "channel", "valid", "date_created")


# --- start-verification ---------------------------------------------------------------------
def test_start_posts_to_verify_and_maps_output(twilio, run):
    twilio.add(responses.POST, VERIFICATIONS, status=201, json=verification())
    result = run("twilio/start-verification", serviceSid=VA, To="(415) 555-2671", Channel="sms")
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.method == "POST"
    assert request.url == VERIFICATIONS
    assert parse_qsl(request.body) == [("To", "+14155552671"), ("Channel", "sms")]
    assert result.output == {key: verification()[key] for key in OUTPUT_KEYS}


def test_start_by_email(twilio, run):
    twilio.add(
        responses.POST, VERIFICATIONS, status=201, json=verification(to="ana@example.com", channel="email")
    )
    result = run("twilio/start-verification", serviceSid=VA, To="ana@example.com", Channel="email")
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body) == [
        ("To", "ana@example.com"),
        ("Channel", "email"),
    ]


def test_start_is_a_create_with_a_service_picker():
    from actions.registry import action_get

    action = action_get("twilio/start-verification")
    assert action.idempotent is False
    assert action.field_map()["serviceSid"].picker == "verify_services"


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"To": "ana@example.com", "Channel": "sms"}, "To"),
        ({"To": "ana@example.com", "Channel": "whatsapp"}, "To"),
        ({"To": "+14155552671", "Channel": "email"}, "To"),
        ({"To": "ana@", "Channel": "email"}, "To"),
        ({"To": "+14155552671", "Channel": "pigeon"}, "Channel"),
        ({"To": "+14155552671"}, "Channel"),
        ({"To": "+14155552671", "Channel": "sms", "serviceSid": "MG" + "8" * 32}, "serviceSid"),
    ],
)
def test_start_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/start-verification", **{"serviceSid": VA, **inputs})
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_start_rate_limited(twilio, run):
    twilio.add(
        responses.POST,
        VERIFICATIONS,
        status=429,
        json={"code": 20429, "message": "Too many requests", "status": 429},
    )
    result = run("twilio/start-verification", serviceSid=VA, To="+14155552671", Channel="sms")
    assert result.error.code == errors.RATE_LIMITED
    assert result.error.retryable is True


# --- check-verification ---------------------------------------------------------------------
def test_check_posts_code_and_maps_an_approval(twilio, run):
    approved = verification(status="approved", valid=True)
    twilio.add(responses.POST, CHECK, status=200, json=approved)
    result = run("twilio/check-verification", serviceSid=VA, To="+14155552671", Code=CODE)
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.method == "POST"
    assert request.url == CHECK
    assert parse_qsl(request.body) == [("To", "+14155552671"), ("Code", CODE)]
    assert result.output == {key: approved[key] for key in OUTPUT_KEYS}
    assert result.output["valid"] is True


def test_check_never_records_the_code(twilio, run):
    twilio.add(responses.POST, CHECK, status=200, json=verification(status="pending"))
    result = run("twilio/check-verification", serviceSid=VA, To="+14155552671", Code=CODE)
    assert result.ok, result.error
    recorded = json.dumps([exchange.as_dict() for exchange in result.exchanges])
    assert CODE not in recorded
    assert ["Code", "********"] in result.exchanges[0].request_body["form"]


def test_check_error_never_carries_the_code(twilio, run):
    # Even if Twilio echoed the code back, neither the error nor the audit trail keeps it.
    twilio.add(
        responses.POST,
        CHECK,
        status=404,
        json={
            "code": 20404,
            "status": 404,
            "message": f"The requested resource (code {CODE}) was not found",
            "details": {"attempted": CODE},
        },
    )
    result = run("twilio/check-verification", serviceSid=VA, To="+14155552671", Code=CODE)
    assert result.error.code == errors.NOT_FOUND
    assert CODE not in result.error.message
    assert CODE not in str(result.error)
    assert CODE not in json.dumps(result.error.as_dict())
    recorded = json.dumps([exchange.as_dict() for exchange in result.exchanges])
    assert CODE not in recorded


def test_check_code_is_a_declared_secret():
    from actions.registry import action_get

    action = action_get("twilio/check-verification")
    assert action.secret_fields() == frozenset({"Code"})
    assert action.input_schema()["properties"]["Code"]["writeOnly"] is True
    assert action.idempotent is False


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"To": "+14155552671"}, "Code"),
        ({"To": "+14155552671", "Code": "12"}, "Code"),
        ({"To": "+14155552671", "Code": "12 34 56"}, "Code"),
        ({"To": "+14155552671", "Code": "12345678901"}, "Code"),
        ({"To": "nobody", "Code": CODE}, "To"),
        ({"To": "+14155552671", "Code": CODE, "serviceSid": "VA1"}, "serviceSid"),
    ],
)
def test_check_invalid_input_sends_nothing_and_hides_the_code(twilio, run, inputs, bad_field):
    result = run("twilio/check-verification", **{"serviceSid": VA, **inputs})
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0
    for secret in ("12 34 56", "12345678901"):
        assert secret not in json.dumps(result.error.as_dict())


def test_a_code_inside_a_sid_is_not_masked():
    from actions.twilio.check_verification import _scrub

    sid = "VE0123456789abcdef0123456789abcdef"
    assert _scrub(f"check {sid} with 123456", "123456") == f"check {sid} with ********"
