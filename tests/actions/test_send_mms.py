from urllib.parse import parse_qsl

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
MM = "MM" + "3" * 32
MG = "MG" + "2" * 32
IMG = "https://cdn.example.com/receipt.png"

CREATED = {
    "sid": MM,
    "status": "queued",
    "to": "+14155552671",
    "from": "+15017122661",
    "body": "Your receipt",
    "num_media": "1",
    "num_segments": "1",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "price": None,
    "account_sid": ACCOUNT_SID,
}


def test_sends_exact_form_fields_and_maps_output(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=201, json=CREATED)
    result = run(
        "twilio/send-mms",
        From="+15017122661",
        To="+14155552671",
        MediaUrl=[IMG],
        Body="Your receipt",
        StatusCallback="https://hooks.example.com/s",
    )
    assert result.ok, result.error
    call = twilio.calls[0]
    assert call.request.method == "POST"
    assert call.request.url == MESSAGES
    assert parse_qsl(call.request.body) == [
        ("From", "+15017122661"),
        ("To", "+14155552671"),
        ("Body", "Your receipt"),
        ("MediaUrl", IMG),
        ("StatusCallback", "https://hooks.example.com/s"),
    ]
    assert result.output == {
        "sid": MM,
        "status": "queued",
        "to": "+14155552671",
        "from": "+15017122661",
        "num_media": "1",
        "date_created": CREATED["date_created"],
    }


def test_media_only_from_a_messaging_service_repeats_media_url(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=201, json={**CREATED, "num_media": "2"})
    urls = [IMG, "https://cdn.example.com/b.gif"]
    result = run("twilio/send-mms", From=MG, To="+14155552671", MediaUrl="\n".join(urls))
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body) == [
        ("MessagingServiceSid", MG),
        ("To", "+14155552671"),
        ("MediaUrl", urls[0]),
        ("MediaUrl", urls[1]),
    ]


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"From": "+15017122661", "To": "+14155552671", "Body": "no media"}, "MediaUrl"),
        ({"From": "+15017122661", "To": "+14155552671", "MediaUrl": ["not a url"]}, "MediaUrl"),
        (
            {
                "From": "+15017122661",
                "To": "+14155552671",
                "MediaUrl": [f"https://e.com/{i}.jpg" for i in range(11)],
            },
            "MediaUrl",
        ),
        ({"To": "+14155552671", "MediaUrl": [IMG]}, "From"),
        ({"From": "+15017122661", "To": "+14155552671", "MediaUrl": [IMG], "Body": "x" * 1601}, "Body"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/send-mms", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_server_error_on_a_create_is_outcome_unknown(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=503, json={"code": 20500, "message": "busy"})
    result = run("twilio/send-mms", From="+15017122661", To="+14155552671", MediaUrl=[IMG])
    assert result.error.code == errors.PROVIDER_ERROR
    assert result.error.outcome_unknown is True
    assert len(twilio.calls) == 1
