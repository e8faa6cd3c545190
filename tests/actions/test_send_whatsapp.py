import json
from urllib.parse import parse_qsl

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SM = "SM" + "4" * 32
HX = "HX" + "ab" * 16
SENDER = "whatsapp:+14155238886"
RECIPIENT = "whatsapp:+14155552671"
SENT = {
    "sid": SM,
    "status": "queued",
    "to": "whatsapp:+14155552671",
    "from": SENDER,
    "body": "Your table is ready",
    "num_media": "0",
    "account_sid": ACCOUNT_SID,
}


def test_free_text_adds_the_prefix_and_maps_output(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=201, json=SENT)
    result = run(
        "twilio/send-whatsapp",
        From="+14155238886",
        To="(415) 555-2671",
        Body="Your table is ready",
        MediaUrl=["https://cdn.example.com/menu.pdf"],
        StatusCallback="https://hooks.example.com/wa",
    )
    assert result.ok, result.error
    call = twilio.calls[0]
    assert (call.request.method, call.request.url) == ("POST", MESSAGES)
    assert parse_qsl(call.request.body) == [
        ("From", SENDER),
        ("To", "whatsapp:+14155552671"),
        ("Body", "Your table is ready"),
        ("MediaUrl", "https://cdn.example.com/menu.pdf"),
        ("StatusCallback", "https://hooks.example.com/wa"),
    ]
    assert result.output == {
        "sid": SM,
        "status": "queued",
        "to": "whatsapp:+14155552671",
        "from": SENDER,
        "body": "Your table is ready",
    }


def test_template_sends_content_sid_and_variables_as_a_json_string(twilio, run):
    twilio.add(responses.POST, MESSAGES, status=201, json={**SENT, "body": ""})
    result = run(
        "twilio/send-whatsapp",
        From=SENDER,
        To=RECIPIENT,
        ContentSid=HX,
        ContentVariables='{"1": "12/1", "2": 3}',
    )
    assert result.ok, result.error
    sent = parse_qsl(twilio.calls[0].request.body)
    assert [k for k, _ in sent] == ["From", "To", "ContentSid", "ContentVariables"]
    assert dict(sent)["ContentSid"] == HX
    assert json.loads(dict(sent)["ContentVariables"]) == {"1": "12/1", "2": "3"}


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"From": SENDER, "To": RECIPIENT}, "Body"),
        ({"From": SENDER, "To": RECIPIENT, "Body": "hi", "ContentSid": HX}, "Body"),
        ({"From": SENDER, "To": RECIPIENT, "Body": "hi", "ContentVariables": {"1": "x"}}, "ContentVariables"),
        (
            {"From": SENDER, "To": RECIPIENT, "ContentSid": HX, "MediaUrl": ["https://e.com/a.jpg"]},
            "MediaUrl",
        ),
        ({"From": SENDER, "To": RECIPIENT, "ContentSid": "HX123"}, "ContentSid"),
        (
            {"From": SENDER, "To": RECIPIENT, "ContentSid": HX, "ContentVariables": {"1": {"nested": True}}},
            "ContentVariables",
        ),
        ({"From": SENDER, "To": RECIPIENT, "ContentSid": HX, "ContentVariables": "[1]"}, "ContentVariables"),
        ({"From": SENDER, "To": "whatsapp:12", "Body": "hi"}, "To"),
        ({"From": "whatsapp:abc", "To": RECIPIENT, "Body": "hi"}, "From"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/send-whatsapp", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_outside_the_session_window_error_keeps_twilio_code(twilio, run):
    twilio.add(
        responses.POST,
        MESSAGES,
        status=400,
        json={"code": 63016, "message": "Outside the allowed window", "status": 400},
    )
    result = run("twilio/send-whatsapp", From=SENDER, To=RECIPIENT, Body="hi")
    assert result.error.code == errors.VALIDATION_ERROR
    assert result.error.twilio_code == 63016
