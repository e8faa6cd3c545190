from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

LIST = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
NEXT = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json?PageSize=2&Page=1&PageToken=PASM" + "6" * 32


def record(n: int) -> dict:
    return {
        "sid": "SM" + str(n) * 32,
        "status": "delivered",
        "to": "+14155552671",
        "from": "+15017122661",
        "body": f"message {n}",
        "date_sent": "Thu, 24 Aug 2023 05:01:46 +0000",
        "num_media": "0",
        "price": "-0.0079",
    }


PAGE = {
    "messages": [record(1), record(2)],
    "next_page_uri": NEXT,
    "page": 0,
    "page_size": 2,
    "first_page_uri": "/…",
    "previous_page_uri": None,
    "start": 0,
    "end": 1,
    "uri": "/…",
}


def query_of(call) -> dict:
    return parse_qs(urlsplit(call.request.url).query)


def test_filters_use_twilio_query_names_and_one_page_is_returned(twilio, run):
    twilio.add(responses.GET, LIST, json=PAGE)
    result = run(
        "twilio/list-messages",
        To="+14155552671",
        From="+15017122661",
        DateSentAfter="2024-05-01",
        DateSentBefore="2024-05-31T18:30:00+02:00",
        PageSize=2,
    )
    assert result.ok, result.error
    assert len(twilio.calls) == 1
    call = twilio.calls[0]
    assert call.request.method == "GET"
    assert call.request.url.split("?")[0] == LIST
    assert "DateSent%3E=" in call.request.url and "DateSent%3C=" in call.request.url
    assert query_of(call) == {
        "To": ["+14155552671"],
        "From": ["+15017122661"],
        "DateSent<": ["2024-05-31T16:30:00Z"],
        "DateSent>": ["2024-05-01T00:00:00Z"],
        "PageSize": ["2"],
    }
    assert result.output == {
        "messages": [
            {k: record(n)[k] for k in ("sid", "status", "to", "from", "body", "date_sent")} for n in (1, 2)
        ],
        "next_page_uri": NEXT,
    }


def test_defaults_exact_date_and_page_token(twilio, run):
    twilio.add(responses.GET, LIST, json={**PAGE, "messages": [], "next_page_uri": None})
    result = run("twilio/list-messages", DateSent="2024-05-01", PageToken="PASM123")
    assert result.ok, result.error
    assert query_of(twilio.calls[0]) == {
        "DateSent": ["2024-05-01T00:00:00Z"],
        "PageSize": ["50"],
        "PageToken": ["PASM123"],
    }
    assert result.output == {"messages": [], "next_page_uri": None}


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"PageSize": 0}, "PageSize"),
        ({"PageSize": 1001}, "PageSize"),
        ({"DateSent": "yesterday"}, "DateSent"),
        ({"DateSent": "2024-05-01", "DateSentAfter": "2024-04-01"}, "DateSent"),
        ({"DateSentAfter": "2024-05-02", "DateSentBefore": "2024-05-01"}, "DateSentAfter"),
        ({"To": "12"}, "To"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/list-messages", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_auth_failure_is_auth_expired(twilio, run):
    twilio.add(responses.GET, LIST, status=401, json={"code": 20003, "message": "Authenticate"})
    result = run("twilio/list-messages")
    assert result.error.code == errors.AUTH_EXPIRED
