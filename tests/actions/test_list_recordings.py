from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

RECORDINGS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings.json"
CA = "CA" + "5" * 32
RE = "RE" + "5" * 32
RECORDING = {
    "sid": RE,
    "call_sid": CA,
    "duration": "4",
    "status": "completed",
    "date_created": "Fri, 14 Oct 2016 21:56:34 +0000",
    "channels": 1,
    "source": "StartCallRecording",
    "account_sid": ACCOUNT_SID,
    "price": "-0.0025",
}


def query(twilio) -> dict:
    return parse_qs(urlsplit(twilio.calls[0].request.url).query)


def test_filters_by_call_and_dates_and_maps_output(twilio, run):
    twilio.add(responses.GET, RECORDINGS, json={"recordings": [RECORDING], "next_page_uri": None})
    result = run(
        "twilio/list-recordings",
        CallSid=CA,
        DateCreated="2016-10-14",
        DateCreatedBefore="2016-10-15",
        DateCreatedAfter="2016-10-13T12:00:00Z",
        PageSize=10,
    )
    assert result.ok, result.error
    assert twilio.calls[0].request.method == "GET"
    assert twilio.calls[0].request.url.split("?")[0] == RECORDINGS
    assert query(twilio) == {
        "CallSid": [CA],
        "DateCreated": ["2016-10-14T00:00:00Z"],
        "DateCreated<": ["2016-10-15T00:00:00Z"],
        "DateCreated>": ["2016-10-13T12:00:00Z"],
        "PageSize": ["10"],
    }
    assert result.output == {
        "recordings": [
            {
                "sid": RE,
                "call_sid": CA,
                "duration": "4",
                "date_created": RECORDING["date_created"],
                "status": "completed",
            }
        ],
        "next_page_uri": None,
    }


def test_without_filters_lists_the_account(twilio, run):
    twilio.add(responses.GET, RECORDINGS, json={"recordings": [], "next_page_uri": None})
    result = run("twilio/list-recordings")
    assert result.ok, result.error
    assert query(twilio) == {"PageSize": ["50"]}


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"CallSid": "CA123"}, "CallSid"),
        ({"CallSid": RE}, "CallSid"),
        ({"DateCreated": "14/10/2016"}, "DateCreated"),
        ({"DateCreatedBefore": "soon"}, "DateCreatedBefore"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/list-recordings", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_rate_limit_is_retryable(twilio, run):
    twilio.add(
        responses.GET,
        RECORDINGS,
        status=429,
        headers={"Retry-After": "2"},
        json={"code": 20429, "message": "Too Many Requests", "status": 429},
    )
    result = run("twilio/list-recordings")
    assert result.error.code == errors.RATE_LIMITED
    assert result.error.retryable is True
    assert result.error.retry_after == 2.0
