import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

SM = "SM" + "5" * 32
MM = "MM" + "a" * 32
URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{SM}.json"
FETCHED = {
    "sid": SM,
    "status": "undelivered",
    "to": "+14155552671",
    "from": "+15017122661",
    "body": "Hello",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "date_sent": "Thu, 24 Aug 2023 05:01:46 +0000",
    "price": "-0.00790",
    "error_code": 30007,
    "error_message": "Carrier violation",
    "num_segments": "1",
    "account_sid": ACCOUNT_SID,
}


def test_fetches_by_sid_and_maps_output(twilio, run):
    twilio.add(responses.GET, URL, json=FETCHED)
    result = run("twilio/get-message", messageSid=SM)
    assert result.ok, result.error
    call = twilio.calls[0]
    assert (call.request.method, call.request.url) == ("GET", URL)
    assert call.request.body is None
    assert result.output == {
        "sid": SM,
        "status": "undelivered",
        "to": "+14155552671",
        "from": "+15017122661",
        "body": "Hello",
        "date_created": FETCHED["date_created"],
        "date_sent": FETCHED["date_sent"],
        "price": "-0.00790",
        "error_code": 30007,
        "error_message": "Carrier violation",
    }


def test_mms_sid_is_accepted(twilio, run):
    url = URL.replace(SM, MM)
    twilio.add(responses.GET, url, json={**FETCHED, "sid": MM})
    result = run("twilio/get-message", messageSid=MM)
    assert result.ok, result.error
    assert twilio.calls[0].request.url == url


@pytest.mark.parametrize("sid", ["CA" + "5" * 32, "SM123", "SM" + "z" * 32, ""])
def test_invalid_sid_names_the_field_and_sends_nothing(twilio, run, sid):
    result = run("twilio/get-message", messageSid=sid)
    assert result.error.code == errors.VALIDATION_ERROR
    assert "messageSid" in result.error.fields
    assert len(twilio.calls) == 0


def test_unknown_message_is_not_found(twilio, run):
    twilio.add(
        responses.GET,
        URL,
        status=404,
        json={"code": 20404, "message": "The requested resource was not found"},
    )
    result = run("twilio/get-message", messageSid=SM)
    assert result.error.code == errors.NOT_FOUND
    assert result.error.twilio_code == 20404
