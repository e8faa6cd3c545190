from urllib.parse import parse_qsl

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SM = "SM" + "1" * 32
MG = "MG" + "2" * 32

CREATED = {
    "sid": SM,
    "status": "queued",
    "to": "+14155552671",
    "from": "+15017122661",
    "body": "Your order has shipped",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "price": None,
    "error_code": None,
    "num_segments": "1",
    "account_sid": ACCOUNT_SID,
}


def test_sends_exact_form_fields_and_maps_output(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=201, json=CREATED)
    result = run(
        "twilio/send-sms",
        From="+15017122661",
        To="(415) 555-2671",
        Body="Your order has shipped",
        StatusCallback="https://hooks.example.com/s",
    )
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body) == [
        ("From", "+15017122661"),
        ("To", "+14155552671"),
        ("Body", "Your order has shipped"),
        ("StatusCallback", "https://hooks.example.com/s"),
    ]
    assert result.output == {
        "sid": SM,
        "status": "queued",
        "to": "+14155552671",
        "from": "+15017122661",
        "body": "Your order has shipped",
        "date_created": CREATED["date_created"],
        "price": None,
        "error_code": None,
        "num_segments_estimate": 1,
        "encoding": "GSM-7",
    }


def test_messaging_service_sender_and_media(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=201, json=CREATED)
    result = run(
        "twilio/send-sms",
        From=MG,
        To="+14155552671",
        MediaUrl=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
    )
    assert result.ok, result.error
    sent = parse_qsl(twilio.calls[0].request.body)
    assert ("MessagingServiceSid", MG) in sent
    assert [v for k, v in sent if k == "MediaUrl"] == [
        "https://cdn.example.com/a.jpg",
        "https://cdn.example.com/b.jpg",
    ]
    assert not any(k == "From" for k, _ in sent)


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"From": "+15017122661", "Body": "hi"}, "To"),
        ({"From": "+15017122661", "To": "12", "Body": "hi"}, "To"),
        ({"From": "MG123", "To": "+14155552671", "Body": "hi"}, "From"),
        ({"From": "+15017122661", "To": "+14155552671"}, "Body"),
        ({"From": "+15017122661", "To": "+14155552671", "Body": "x" * 1601}, "Body"),
        ({"From": "+15017122661", "To": "+14155552671", "MediaUrl": ["ftp://x.y/a"]}, "MediaUrl"),
        (
            {
                "From": "+15017122661",
                "To": "+14155552671",
                "Body": "hi",
                "MediaUrl": [f"https://e.com/{i}.jpg" for i in range(11)],
            },
            "MediaUrl",
        ),
        (
            {"From": "+15017122661", "To": "+14155552671", "Body": "hi", "StatusCallback": "/relative"},
            "StatusCallback",
        ),
        ({"From": "+15017122661", "To": "+14155552671", "Body": "hi", "Typo": 1}, "Typo"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/send-sms", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_national_number_uses_the_workspace_country(twilio, run, connection):
    connection.workspace.default_country = "GB"
    twilio.add(responses.POST, MESSAGES, status=201, json=CREATED)
    result = run("twilio/send-sms", From="+15017122661", To="07400 123456", Body="hi")
    assert result.ok, result.error
    assert ("To", "+447400123456") in parse_qsl(twilio.calls[0].request.body)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, errors.VALIDATION_ERROR),
        (401, errors.AUTH_EXPIRED),
        (404, errors.NOT_FOUND),
        (429, errors.RATE_LIMITED),
        (500, errors.PROVIDER_ERROR),
        (418, errors.UPSTREAM_REQUEST_FAILED),
    ],
)
def test_error_statuses_become_error_codes(twilio, run, status, code):
    twilio.add(
        responses.POST,
        MESSAGES,
        status=status,
        json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": status},
    )
    result = run("twilio/send-sms", From="+15017122661", To="+14155552671", Body="hi")
    assert result.error.code == code
    assert result.error.twilio_code == 21211
    assert len(result.exchanges) == 1
