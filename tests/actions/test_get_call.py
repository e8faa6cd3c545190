import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

CA = "CA" + "3" * 32
CALL_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CA}.json"
CALL = {
    "sid": CA,
    "status": "completed",
    "to": "+14155552671",
    "from": "+15017122661",
    "direction": "outbound-api",
    "duration": "15",
    "start_time": "Thu, 24 Aug 2023 05:01:45 +0000",
    "end_time": "Thu, 24 Aug 2023 05:02:00 +0000",
    "price": "-0.03000",
    "price_unit": "USD",
    "account_sid": ACCOUNT_SID,
    "answered_by": None,
}


def test_fetches_the_call_and_maps_output(twilio, run):
    twilio.add(responses.GET, CALL_URL, json=CALL)
    result = run("twilio/get-call", callSid=CA)
    assert result.ok, result.error
    assert twilio.calls[0].request.method == "GET"
    assert twilio.calls[0].request.url == CALL_URL
    assert twilio.calls[0].request.body is None
    assert result.output == {
        "sid": CA,
        "status": "completed",
        "to": "+14155552671",
        "from": "+15017122661",
        "direction": "outbound-api",
        "duration": "15",
        "start_time": CALL["start_time"],
        "end_time": CALL["end_time"],
        "price": "-0.03000",
    }


@pytest.mark.parametrize("sid", ["", "CA123", "SM" + "3" * 32, "CA" + "g" * 32, "CA" + "3" * 33])
def test_bad_call_sid_is_a_validation_error_and_sends_nothing(twilio, run, sid):
    result = run("twilio/get-call", callSid=sid)
    assert result.error.code == errors.VALIDATION_ERROR
    assert "callSid" in result.error.fields
    assert len(twilio.calls) == 0


def test_unknown_call_is_not_found(twilio, run):
    twilio.add(
        responses.GET,
        CALL_URL,
        status=404,
        json={"code": 20404, "message": "The requested resource was not found", "status": 404},
    )
    result = run("twilio/get-call", callSid=CA)
    assert result.error.code == errors.NOT_FOUND
    assert result.error.twilio_code == 20404
    assert result.error.retryable is False
