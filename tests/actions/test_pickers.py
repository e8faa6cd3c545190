from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.cache import cache

from actions.pickers import PICKERS, picker_forget, picker_options
from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

NUMBERS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
VERIFY_SERVICES = "https://verify.twilio.com/v2/Services"
MESSAGING_SERVICES = "https://messaging.twilio.com/v1/Services"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def number(i: int, name: str | None = None) -> dict:
    phone = f"+1501712{i:04d}"
    return {
        "sid": "PN" + f"{i:032x}",
        "phone_number": phone,
        "friendly_name": name if name is not None else f"Line {i}",
    }


def query(call) -> dict:
    return parse_qs(urlsplit(call.request.url).query)


def test_phone_numbers_labels_and_values(twilio, connection):
    twilio.add(
        responses.GET,
        NUMBERS,
        json={
            "incoming_phone_numbers": [number(1, "Front desk"), number(2, "+15017120002"), number(3, "")],
            "next_page_uri": None,
        },
    )
    options = picker_options(connection=connection, picker="phone_numbers")
    assert options == [
        ("+15017120001", "Front desk (+15017120001)"),
        ("+15017120002", "+15017120002"),
        ("+15017120003", "+15017120003"),
    ]
    assert query(twilio.calls[0]) == {"PageSize": ["200"]}


def test_phone_numbers_stop_at_200_across_pages(twilio, connection):
    next_uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json?Page=1&PageToken=PA1"
    twilio.add(
        responses.GET,
        NUMBERS,
        json={
            "incoming_phone_numbers": [number(i) for i in range(150)],
            "next_page_uri": next_uri,
        },
    )
    twilio.add(
        responses.GET,
        NUMBERS,
        json={
            "incoming_phone_numbers": [number(i) for i in range(150, 300)],
            "next_page_uri": next_uri.replace("PA1", "PA2"),
        },
    )
    options = picker_options(connection=connection, picker="phone_numbers")
    assert len(options) == 200
    assert options[-1][0] == number(199)["phone_number"]
    assert len(twilio.calls) == 2  # the limit stops paging


def test_verify_services(twilio, connection):
    va = "VA" + "a" * 32
    twilio.add(
        responses.GET,
        VERIFY_SERVICES,
        json={
            "services": [{"sid": va, "friendly_name": "Login codes"}],
            "meta": {"key": "services", "next_page_url": None},
        },
    )
    assert picker_options(connection=connection, picker="verify_services") == [
        (va, f"Login codes ({va})"),
    ]
    assert query(twilio.calls[0]) == {"PageSize": ["200"]}


def test_messaging_services(twilio, connection):
    mg = "MG" + "b" * 32
    twilio.add(
        responses.GET,
        MESSAGING_SERVICES,
        json={
            "services": [{"sid": mg, "friendly_name": "Reminders"}],
            "meta": {"key": "services", "next_page_url": None},
        },
    )
    assert picker_options(connection=connection, picker="messaging_services") == [
        (mg, f"Reminders ({mg})"),
    ]


def test_messages_are_the_recent_50(twilio, connection):
    sm = "SM" + "c" * 32
    twilio.add(
        responses.GET,
        MESSAGES,
        json={
            "messages": [
                {
                    "sid": sm,
                    "to": "+14155552671",
                    "date_sent": "Thu, 24 Aug 2023 05:01:45 +0000",
                    "body": "Your appointment is tomorrow at 10am.\nReply C to confirm, R to reschedule.",
                }
            ],
            "next_page_uri": None,
        },
    )
    assert picker_options(connection=connection, picker="messages") == [
        (sm, "2023-08-24 05:01 +14155552671: Your appointment is tomorrow at 10am. Re"),
    ]
    assert query(twilio.calls[0]) == {"PageSize": ["50"]}


def test_cache_hit_makes_no_second_request(twilio, connection):
    twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": [number(1)], "next_page_uri": None})
    first = picker_options(connection=connection, picker="phone_numbers")
    second = picker_options(connection=connection, picker="phone_numbers")
    assert first == second == [("+15017120001", "Line 1 (+15017120001)")]
    assert len(twilio.calls) == 1


def test_refresh_bypasses_and_refills_the_cache(twilio, connection):
    twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": [number(1)], "next_page_uri": None})
    twilio.add(
        responses.GET, NUMBERS, json={"incoming_phone_numbers": [number(1), number(2)], "next_page_uri": None}
    )
    assert len(picker_options(connection=connection, picker="phone_numbers")) == 1
    assert len(picker_options(connection=connection, picker="phone_numbers", refresh=True)) == 2
    assert len(twilio.calls) == 2
    assert len(picker_options(connection=connection, picker="phone_numbers")) == 2  # refilled
    assert len(twilio.calls) == 2


def test_cache_is_per_connection_and_picker(twilio, connection, make_connection):
    other = make_connection(name="second")
    twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": [number(1)], "next_page_uri": None})
    twilio.add(responses.GET, VERIFY_SERVICES, json={"services": [], "meta": {"key": "services"}})
    picker_options(connection=connection, picker="phone_numbers")
    picker_options(connection=other, picker="phone_numbers")
    picker_options(connection=connection, picker="verify_services")
    assert len(twilio.calls) == 3
    picker_forget(connection=connection)
    picker_options(connection=connection, picker="phone_numbers")
    assert len(twilio.calls) == 4


def test_unknown_picker_is_not_found(twilio, connection):
    with pytest.raises(TwilioFlowError) as caught:
        picker_options(connection=connection, picker="carrier_pigeons")
    assert caught.value.code == errors.NOT_FOUND
    assert len(twilio.calls) == 0


def test_twilio_errors_propagate_and_are_not_cached(twilio, connection):
    twilio.add(responses.GET, NUMBERS, status=500, json={"code": 20500, "message": "oops"})
    twilio.add(responses.GET, NUMBERS, json={"incoming_phone_numbers": [number(1)], "next_page_uri": None})
    with pytest.raises(TwilioFlowError) as caught:
        picker_options(connection=connection, picker="phone_numbers")
    assert caught.value.code == errors.PROVIDER_ERROR
    assert len(picker_options(connection=connection, picker="phone_numbers")) == 1


def test_every_declared_picker_exists():
    from actions.registry import action_list

    used = {f.picker for action in action_list() for f in action.fields if f.picker}
    assert used <= set(PICKERS)
