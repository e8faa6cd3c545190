from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

NUMBERS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
PN = "PN" + "6" * 32
NUMBER = {
    "sid": PN,
    "phone_number": "+15017122661",
    "friendly_name": "Front desk",
    "sms_url": "https://hooks.example.com/sms",
    "voice_url": "https://hooks.example.com/voice",
    "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
    "sms_method": "POST",
    "account_sid": ACCOUNT_SID,
}
NEXT = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json?PageSize=1&Page=1&PageToken=PAPN1"


def test_filters_and_output(twilio, run):
    twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": [NUMBER], "next_page_uri": NEXT})
    result = run("twilio/list-phone-numbers", PhoneNumber="+1501*", FriendlyName="Front desk", PageSize=1)
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.method == "GET"
    assert request.url.split("?")[0] == NUMBERS
    assert parse_qs(urlsplit(request.url).query) == {
        "PhoneNumber": ["+1501*"],
        "FriendlyName": ["Front desk"],
        "PageSize": ["1"],
    }
    assert result.output == {
        "incoming_phone_numbers": [
            {
                "sid": PN,
                "phone_number": "+15017122661",
                "friendly_name": "Front desk",
                "sms_url": "https://hooks.example.com/sms",
                "voice_url": "https://hooks.example.com/voice",
                "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            }
        ],
        "next_page_uri": NEXT,
    }


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [({"PageSize": "many"}, "PageSize"), ({"PhoneNumber": ["+1"]}, "PhoneNumber"), ({"Beta": True}, "Beta")],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/list-phone-numbers", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_server_error_on_a_read_is_retryable(twilio, run):
    twilio.add(responses.GET, NUMBERS, status=503, json={"code": 20500, "message": "oops", "status": 503})
    result = run("twilio/list-phone-numbers")
    assert result.error.code == errors.PROVIDER_ERROR
    assert result.error.retryable is True
    assert result.error.outcome_unknown is False
