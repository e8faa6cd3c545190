from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CA = "CA" + "4" * 32
NEXT = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json?PageSize=2&Page=1&PageToken=PACA123"
PAGE = {
    "calls": [
        {
            "sid": CA,
            "status": "completed",
            "to": "+14155552671",
            "from": "+15017122661",
            "direction": "outbound-api",
            "duration": "15",
            "start_time": "Thu, 24 Aug 2023 05:01:45 +0000",
            "price": "-0.03",
            "account_sid": ACCOUNT_SID,
        },
    ],
    "next_page_uri": NEXT,
    "page": 0,
    "page_size": 2,
    "uri": "/…",
}


def query(twilio) -> dict:
    return parse_qs(urlsplit(twilio.calls[0].request.url).query)


def test_filters_use_twilio_names_and_output_is_one_page(twilio, run):
    twilio.add(responses.GET, CALLS, json=PAGE)
    result = run(
        "twilio/list-calls",
        To="+14155552671",
        From="+15017122661",
        Status="completed",
        StartTime="2024-05-01",
        StartTimeBefore="2024-05-03T10:00:00Z",
        StartTimeAfter="2024-04-30T08:00:00+02:00",
        PageSize=2,
    )
    assert result.ok, result.error
    assert twilio.calls[0].request.method == "GET"
    assert twilio.calls[0].request.url.split("?")[0] == CALLS
    assert "StartTime%3C=" in twilio.calls[0].request.url  # the operator is percent-encoded
    assert query(twilio) == {
        "To": ["+14155552671"],
        "From": ["+15017122661"],
        "Status": ["completed"],
        "StartTime": ["2024-05-01T00:00:00Z"],
        "StartTime<": ["2024-05-03T10:00:00Z"],
        "StartTime>": ["2024-04-30T06:00:00Z"],
        "PageSize": ["2"],
    }
    assert result.output == {
        "calls": [
            {
                "sid": CA,
                "status": "completed",
                "to": "+14155552671",
                "from": "+15017122661",
                "direction": "outbound-api",
                "duration": "15",
                "start_time": "Thu, 24 Aug 2023 05:01:45 +0000",
            }
        ],
        "next_page_uri": NEXT,
    }


def test_defaults_and_page_token(twilio, run):
    twilio.add(responses.GET, CALLS, json={"calls": [], "next_page_uri": None})
    result = run("twilio/list-calls", PageToken="PACA123")
    assert result.ok, result.error
    assert query(twilio) == {"PageSize": ["50"], "PageToken": ["PACA123"]}
    assert result.output == {"calls": [], "next_page_uri": None}


def test_a_pasted_next_page_uri_works_as_page_token(twilio, run):
    twilio.add(responses.GET, CALLS, json={"calls": [], "next_page_uri": None})
    result = run("twilio/list-calls", PageSize=2, PageToken=NEXT)
    assert result.ok, result.error
    assert query(twilio) == {"PageSize": ["2"], "Page": ["1"], "PageToken": ["PACA123"]}


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"Status": "done"}, "Status"),
        ({"StartTimeAfter": "yesterday"}, "StartTimeAfter"),
        ({"To": "12"}, "To"),
        ({"PageSize": 1001}, "PageSize"),
        ({"PageSize": 0}, "PageSize"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/list-calls", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_auth_failure_is_auth_expired(twilio, run):
    twilio.add(
        responses.GET, CALLS, status=401, json={"code": 20003, "message": "Authenticate", "status": 401}
    )
    result = run("twilio/list-calls")
    assert result.error.code == errors.AUTH_EXPIRED
