from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from twilioflow.core import errors

LOOKUP = "https://lookups.twilio.com/v2/PhoneNumbers/%2B14155552671"
RESULT = {
    "calling_country_code": "1",
    "country_code": "US",
    "phone_number": "+14155552671",
    "national_format": "(415) 555-2671",
    "valid": True,
    "validation_errors": [],
    "caller_name": None,
    "sim_swap": None,
    "line_type_intelligence": {
        "mobile_country_code": "310",
        "mobile_network_code": "456",
        "carrier_name": "Verizon Wireless",
        "type": "mobile",
        "error_code": None,
    },
    "url": "https://lookups.twilio.com/v2/PhoneNumbers/+14155552671",
}


def test_gets_lookup_v2_with_encoded_number_and_comma_separated_fields(twilio, run):
    twilio.add(responses.GET, LOOKUP, json=RESULT)
    result = run(
        "twilio/lookup-phone-number",
        phoneNumber="(415) 555-2671",
        Fields=["line_type_intelligence", "caller_name", "line_type_intelligence"],
    )
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.method == "GET"
    assert request.url.split("?")[0] == LOOKUP
    assert parse_qs(urlsplit(request.url).query) == {
        "Fields": ["line_type_intelligence,caller_name"],
    }
    assert result.output == {
        "phone_number": "+14155552671",
        "country_code": "US",
        "national_format": "(415) 555-2671",
        "valid": True,
        "calling_country_code": "1",
        "caller_name": None,
        "line_type_intelligence": RESULT["line_type_intelligence"],
    }


def test_fields_as_text_and_no_fields(twilio, run):
    twilio.add(responses.GET, LOOKUP, json=RESULT)
    twilio.add(responses.GET, LOOKUP, json=RESULT)
    assert run(
        "twilio/lookup-phone-number", phoneNumber="+14155552671", Fields="validation, sms_pumping_risk"
    ).ok
    assert run("twilio/lookup-phone-number", phoneNumber="+14155552671").ok
    assert parse_qs(urlsplit(twilio.calls[0].request.url).query) == {
        "Fields": ["validation,sms_pumping_risk"],
    }
    assert urlsplit(twilio.calls[1].request.url).query == ""


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"phoneNumber": "+14155552671", "Fields": ["carrier"]}, "Fields"),
        ({"phoneNumber": "+14155552671", "Fields": "line_type_intelligence,bogus"}, "Fields"),
        ({"phoneNumber": "not a number"}, "phoneNumber"),
        ({}, "phoneNumber"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/lookup-phone-number", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_not_found(twilio, run):
    twilio.add(responses.GET, LOOKUP, status=404, json={"code": 20404, "message": "Not found", "status": 404})
    result = run("twilio/lookup-phone-number", phoneNumber="+14155552671")
    assert result.error.code == errors.NOT_FOUND
