from urllib.parse import parse_qsl

import pytest
import responses

from twilioflow.core import errors

CH = "CH" + "7" * 32
IM = "IM" + "8" * 32
URL = f"https://conversations.twilio.com/v1/Conversations/{CH}/Messages"
CREATED = {
    "sid": IM,
    "conversation_sid": CH,
    "body": "Thanks, we are on it.",
    "author": "agent-7",
    "date_created": "2015-12-16T22:18:37Z",
    "index": 0,
    "attributes": "{}",
}


def test_posts_to_conversations_and_maps_output(twilio, run):
    twilio.add(responses.POST, URL, status=201, json=CREATED)
    result = run(
        "twilio/send-conversation-message", conversationSid=CH, Body="Thanks, we are on it.", Author="agent-7"
    )
    assert result.ok, result.error
    call = twilio.calls[0]
    assert (call.request.method, call.request.url) == ("POST", URL)
    assert parse_qsl(call.request.body) == [("Body", "Thanks, we are on it."), ("Author", "agent-7")]
    assert result.output == {
        "sid": IM,
        "conversation_sid": CH,
        "body": "Thanks, we are on it.",
        "author": "agent-7",
        "date_created": "2015-12-16T22:18:37Z",
    }


def test_author_is_optional(twilio, run):
    twilio.add(responses.POST, URL, status=201, json={**CREATED, "author": "system"})
    result = run("twilio/send-conversation-message", conversationSid=CH, Body="hi")
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body) == [("Body", "hi")]
    assert result.output["author"] == "system"


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"conversationSid": CH}, "Body"),
        ({"conversationSid": "CH123", "Body": "hi"}, "conversationSid"),
        ({"conversationSid": "SM" + "7" * 32, "Body": "hi"}, "conversationSid"),
        ({"Body": "hi"}, "conversationSid"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/send-conversation-message", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0


def test_rate_limit_is_retryable(twilio, run):
    twilio.add(responses.POST, URL, status=429, json={"code": 20429, "message": "Too many"})
    result = run("twilio/send-conversation-message", conversationSid=CH, Body="hi")
    assert result.error.code == errors.RATE_LIMITED
    assert result.error.retryable is True
    assert len(twilio.calls) == 1
