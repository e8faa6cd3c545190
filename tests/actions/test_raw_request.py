import base64
import json
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

API = "https://api.twilio.com"
MESSAGES_PATH = "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json"
MESSAGES = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
# A create that is not a send (raw POSTs to Messages.json / Calls.json are refused).
QUEUES_PATH = "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Queues.json"
QUEUES = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Queues.json"
PAGE = {"messages": [{"sid": "SM" + "1" * 32}], "next_page_uri": None}


def query_of(call) -> dict:
    return parse_qs(urlsplit(call.request.url).query)


def test_get_substitutes_the_account_sid_and_maps_output(twilio, run):
    twilio.add(
        responses.GET,
        MESSAGES,
        json=PAGE,
        headers={"Twilio-Request-Id": "RQ123", "Set-Cookie": "session=abc"},
    )
    result = run(
        "twilio/raw-request",
        path=MESSAGES_PATH,
        queryParams={"PageSize": 20, "To": "+14155552671"},
        timeout=7,
    )
    assert result.ok, result.error
    call = twilio.calls[0]
    assert call.request.method == "GET"
    assert call.request.url.split("?")[0] == MESSAGES
    assert query_of(call) == {"PageSize": ["20"], "To": ["+14155552671"]}
    assert call.request.headers["Authorization"].startswith("Basic ")
    assert call.request.req_kwargs["timeout"] == 7.0
    body = json.dumps(PAGE).encode()
    assert result.output == {
        "status": 200,
        "headers": {"Content-Type": "application/json", "Twilio-Request-Id": "RQ123"},
        "data": PAGE,
        "content_type": "application/json",
        "size": len(body),
    }


def test_prismatic_style_account_path_gets_the_api_version(twilio, run):
    twilio.add(responses.GET, MESSAGES, json=PAGE)
    result = run("twilio/raw-request", path="/Accounts/$TWILIO_ACCOUNT_SID/Messages.json")
    assert result.ok, result.error
    assert twilio.calls[0].request.url == MESSAGES


def test_post_form_repeats_keys_and_passes_headers(twilio, run):
    twilio.add(responses.POST, QUEUES, status=201, json={"sid": "QU" + "2" * 32})
    result = run(
        "twilio/raw-request",
        method="POST",
        path=QUEUES_PATH,
        formData={
            "To": "+14155552671",
            "From": "+15017122661",
            "MediaUrl": ["https://e.com/a.jpg", "https://e.com/b.jpg"],
            "SendAsMms": True,
        },
        headers={"X-Twilio-Webhook-Enabled": "true"},
    )
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["X-Twilio-Webhook-Enabled"] == "true"
    assert parse_qsl(request.body) == [
        ("To", "+14155552671"),
        ("From", "+15017122661"),
        ("MediaUrl", "https://e.com/a.jpg"),
        ("MediaUrl", "https://e.com/b.jpg"),
        ("SendAsMms", "true"),
    ]
    assert result.output["status"] == 201


def test_repeated_query_keys(twilio, run):
    url = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    twilio.add(responses.GET, url, json={"calls": []})
    result = run(
        "twilio/raw-request",
        path="/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Calls.json",
        queryParams={"Status": ["busy", "failed"]},
    )
    assert result.ok, result.error
    assert query_of(twilio.calls[0]) == {"Status": ["busy", "failed"]}


def test_json_body_on_another_product(twilio, run):
    url = "https://verify.twilio.com/v2/Services"
    twilio.add(responses.POST, url, status=201, json={"sid": "VA" + "3" * 32})
    result = run(
        "twilio/raw-request",
        product="verify",
        method="POST",
        path="/v2/Services",
        jsonData={"FriendlyName": "Acme", "CodeLength": 6},
    )
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.url == url
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"FriendlyName": "Acme", "CodeLength": 6}


def test_files_go_multipart_with_form_fields(twilio, run):
    url = "https://conversations.twilio.com/v1/Services/IS123/Media"
    twilio.add(responses.POST, url, status=201, json={"sid": "ME1"})
    content = b"\x89PNG fake image"
    result = run(
        "twilio/raw-request",
        product="conversations",
        method="POST",
        path="/v1/Services/IS123/Media",
        formData={"Author": "bot"},
        files={
            "Media": {
                "filename": "a.png",
                "content_type": "image/png",
                "content_base64": base64.b64encode(content).decode(),
            }
        },
    )
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="Author"\r\n\r\nbot' in request.body
    assert b'name="Media"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' + content in request.body
    assert result.exchanges[0].request_body["files"] == {
        "Media": {"filename": "a.png", "size": len(content), "content_type": "image/png"}
    }


def test_delete_with_empty_answer(twilio, run):
    url = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/SM{'4' * 32}.json"
    twilio.add(responses.DELETE, url, status=204, body=b"")
    result = run(
        "twilio/raw-request",
        method="DELETE",
        path=f"/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages/SM{'4' * 32}.json",
    )
    assert result.ok, result.error
    assert twilio.calls[0].request.method == "DELETE"
    assert result.output["status"] == 204
    assert result.output["data"] is None
    assert result.output["size"] == 0


def test_binary_response_is_base64(twilio, run):
    url = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'5' * 32}.mp3"
    audio = bytes(range(256)) * 4
    twilio.add(responses.GET, url, body=audio, content_type="audio/mpeg")
    result = run(
        "twilio/raw-request",
        responseType="binary",
        path=f"/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Recordings/RE{'5' * 32}.mp3",
    )
    assert result.ok, result.error
    assert base64.b64decode(result.output["data"]) == audio
    assert result.output["content_type"] == "audio/mpeg"
    assert result.output["size"] == len(audio)


def test_text_response_and_json_fallback_to_text(twilio, run):
    twiml = "<Response><Say>Hi</Say></Response>"
    twilio.add(responses.GET, f"{API}/twiml", body=twiml, content_type="application/xml")
    twilio.add(responses.GET, f"{API}/twiml", body=twiml, content_type="application/xml")
    as_text = run("twilio/raw-request", path="/twiml", responseType="text")
    as_json = run("twilio/raw-request", path="/twiml")
    assert as_text.output["data"] == twiml
    assert as_json.output["data"] == twiml


def test_oversized_response_is_refused(twilio, run):
    twilio.add(
        responses.GET,
        f"{API}/big",
        body=b"0" * (5 * 1024 * 1024 + 1),
        content_type="application/octet-stream",
    )
    result = run("twilio/raw-request", path="/big", responseType="binary")
    assert result.error.code == errors.UPSTREAM_REQUEST_FAILED
    assert result.output is None


def test_retry_policy_retries_a_429(twilio, run):
    twilio.add(responses.GET, MESSAGES, status=429, json={"code": 20429, "message": "Too many"})
    twilio.add(responses.GET, MESSAGES, json=PAGE)
    result = run(
        "twilio/raw-request", path=MESSAGES_PATH, maxRetries=2, retryDelay=0, exponentialBackoff=True
    )
    assert result.ok, result.error
    assert len(twilio.calls) == 2
    assert [e.status for e in result.exchanges] == [429, 200]


def test_without_retries_a_429_is_returned(twilio, run):
    twilio.add(responses.GET, MESSAGES, status=429, json={"code": 20429, "message": "Too many"})
    result = run("twilio/raw-request", path=MESSAGES_PATH)
    assert result.error.code == errors.RATE_LIMITED
    assert len(twilio.calls) == 1


def test_a_400_is_not_retried_by_default(twilio, run):
    twilio.add(responses.GET, MESSAGES, status=400, json={"code": 20001, "message": "Bad"})
    twilio.add(responses.GET, MESSAGES, json=PAGE)
    result = run("twilio/raw-request", path=MESSAGES_PATH, maxRetries=1, retryDelay=0)
    assert result.error.code == errors.VALIDATION_ERROR
    assert len(twilio.calls) == 1


def test_retry_on_all_errors_retries_a_400(twilio, run):
    twilio.add(responses.GET, MESSAGES, status=400, json={"code": 20001, "message": "Bad"})
    twilio.add(responses.GET, MESSAGES, json=PAGE)
    result = run("twilio/raw-request", path=MESSAGES_PATH, maxRetries=1, retryDelay=0, retryOnAllErrors=True)
    assert result.ok, result.error
    assert len(twilio.calls) == 2


def test_post_with_unknown_outcome_is_never_retried(twilio, run):
    twilio.add(responses.POST, QUEUES, status=502, json={"code": 20500, "message": "Bad gateway"})
    twilio.add(responses.POST, QUEUES, status=201, json={"sid": "QU1"})
    result = run(
        "twilio/raw-request",
        method="POST",
        path=QUEUES_PATH,
        formData={"To": "+14155552671"},
        maxRetries=3,
        retryDelay=0,
        retryOnAllErrors=True,
    )
    assert result.error.code == errors.PROVIDER_ERROR
    assert result.error.outcome_unknown is True
    assert len(twilio.calls) == 1


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"path": MESSAGES_PATH, "headers": {"Authorization": "Basic Zm9vOmJhcg=="}}, "headers"),
        ({"path": MESSAGES_PATH, "headers": {"authorization": "Bearer x"}}, "headers"),
        ({"path": MESSAGES_PATH, "headers": {"X-Evil": "a\r\nInjected: 1"}}, "headers"),
        (
            {"path": MESSAGES_PATH, "method": "POST", "formData": {"To": "+1"}, "jsonData": {"To": "+1"}},
            "jsonData",
        ),
        (
            {
                "path": MESSAGES_PATH,
                "method": "POST",
                "jsonData": {"a": 1},
                "files": {"f": {"content_base64": "aGk="}},
            },
            "jsonData",
        ),
        ({"path": MESSAGES_PATH, "formData": {"To": "+1"}}, "formData"),
        (
            {"path": MESSAGES_PATH, "method": "POST", "files": {"f": {"content_base64": "not base64!"}}},
            "files",
        ),
        ({"path": MESSAGES_PATH, "method": "POST", "files": {"f": "hello"}}, "files"),
        ({"path": MESSAGES_PATH, "queryParams": {"To": [["nested"]]}}, "queryParams"),
        ({"path": MESSAGES_PATH, "queryParams": "[1, 2]"}, "queryParams"),
        ({"path": "2010-04-01/Accounts"}, "path"),
        ({"path": "https://evil.example.com/steal"}, "path"),
        ({"path": "/a/../b"}, "path"),
        ({}, "path"),
        ({"path": "/x", "product": "studio"}, "product"),
        ({"path": "/x", "method": "PATCH"}, "method"),
        ({"path": "/x", "responseType": "xml"}, "responseType"),
        ({"path": "/x", "timeout": 0}, "timeout"),
        ({"path": "/x", "timeout": 121}, "timeout"),
        ({"path": "/x", "maxRetries": 6}, "maxRetries"),
        ({"path": "/x", "retryDelay": -1}, "retryDelay"),
        ({"path": "/x", "exponentialBackoff": "maybe"}, "exponentialBackoff"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/raw-request", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields, result.error.fields
    assert len(twilio.calls) == 0


def test_authorization_is_always_the_connections(twilio, run):
    result = run("twilio/raw-request", path=MESSAGES_PATH, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert "Authorization" in result.error.message
    assert len(twilio.calls) == 0


def test_not_found_is_mapped(twilio, run):
    twilio.add(
        responses.GET, f"{API}/2010-04-01/Nope.json", status=404, json={"code": 20404, "message": "not found"}
    )
    result = run("twilio/raw-request", path="/2010-04-01/Nope.json")
    assert result.error.code == errors.NOT_FOUND
    assert result.error.twilio_code == 20404


@pytest.mark.parametrize(
    "path",
    [
        "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json",
        "/Accounts/$TWILIO_ACCOUNT_SID/Calls.json",
        "/2010-04-01/Accounts/AC00000000000000000000000000000000/messages",
        "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Foo/../Messages.json",
        "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages%2Ejson",
    ],
)
def test_raw_requests_may_not_create_messages_or_calls_around_the_send_gate(path):
    from actions.registry import action_get
    from twilioflow.core.errors import TwilioFlowError

    with pytest.raises(TwilioFlowError) as caught:
        action_get("twilio/raw-request").validate(
            {"path": path, "method": "POST", "formData": {"To": "+14155550123", "Body": "hi"}},
            default_country="US",
        )
    assert "path" in caught.value.fields


def test_raw_requests_may_still_read_messages_and_change_a_live_call():
    from actions.registry import action_get

    action = action_get("twilio/raw-request")
    action.validate({"path": "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json"}, default_country="US")
    action.validate(
        {
            "path": "/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Calls/CA" + "0" * 32 + ".json",
            "method": "POST",
            "formData": {"Twiml": "<Response/>"},
        },
        default_country="US",
    )
