from urllib.parse import parse_qsl

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core import errors

PN = "PN" + "7" * 32
NUMBER_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{PN}.json"
UPDATED = {
    "sid": PN,
    "phone_number": "+15017122661",
    "friendly_name": "Front desk",
    "sms_url": "https://flow.example.com/hooks/sms",
    "sms_method": "POST",
    "voice_url": "https://flow.example.com/hooks/voice",
    "voice_method": "GET",
    "status_callback": "https://flow.example.com/hooks/status",
    "account_sid": ACCOUNT_SID,
}


def test_posts_only_the_given_settings_and_maps_output(twilio, run):
    twilio.add(responses.POST, NUMBER_URL, json=UPDATED)
    result = run(
        "twilio/configure-phone-number-webhooks",
        phoneNumberSid=PN,
        SmsUrl="https://flow.example.com/hooks/sms",
        SmsMethod="POST",
        VoiceUrl="https://flow.example.com/hooks/voice",
        VoiceMethod="GET",
        StatusCallback="https://flow.example.com/hooks/status",
        StatusCallbackMethod="POST",
    )
    assert result.ok, result.error
    request = twilio.calls[0].request
    assert request.method == "POST"
    assert request.url == NUMBER_URL
    assert parse_qsl(request.body) == [
        ("SmsUrl", "https://flow.example.com/hooks/sms"),
        ("SmsMethod", "POST"),
        ("VoiceUrl", "https://flow.example.com/hooks/voice"),
        ("VoiceMethod", "GET"),
        ("StatusCallback", "https://flow.example.com/hooks/status"),
        ("StatusCallbackMethod", "POST"),
    ]
    assert result.output == {
        "sid": PN,
        "phone_number": "+15017122661",
        "friendly_name": "Front desk",
        "sms_url": "https://flow.example.com/hooks/sms",
        "voice_url": "https://flow.example.com/hooks/voice",
        "status_callback": "https://flow.example.com/hooks/status",
    }


def test_one_setting_is_enough(twilio, run):
    twilio.add(responses.POST, NUMBER_URL, json=UPDATED)
    result = run(
        "twilio/configure-phone-number-webhooks",
        phoneNumberSid=PN,
        VoiceUrl="https://flow.example.com/hooks/voice",
    )
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body) == [
        ("VoiceUrl", "https://flow.example.com/hooks/voice"),
    ]


def test_clear_sends_an_explicit_empty_value(twilio, run):
    twilio.add(responses.POST, NUMBER_URL, json={**UPDATED, "status_callback": "", "voice_url": ""})
    result = run(
        "twilio/configure-phone-number-webhooks",
        phoneNumberSid=PN,
        SmsUrl="https://flow.example.com/hooks/sms",
        StatusCallbackMethod="POST",
        clear=["StatusCallback", "VoiceUrl"],
    )
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body, keep_blank_values=True) == [
        ("SmsUrl", "https://flow.example.com/hooks/sms"),
        ("VoiceUrl", ""),
        ("StatusCallback", ""),
        ("StatusCallbackMethod", "POST"),
    ]


def test_clearing_alone_is_a_change(twilio, run):
    twilio.add(responses.POST, NUMBER_URL, json=UPDATED)
    result = run("twilio/configure-phone-number-webhooks", phoneNumberSid=PN, clear="StatusCallback")
    assert result.ok, result.error
    assert parse_qsl(twilio.calls[0].request.body, keep_blank_values=True) == [("StatusCallback", "")]


def test_the_update_is_declared_idempotent():
    from actions.registry import action_get

    assert action_get("twilio/configure-phone-number-webhooks").idempotent is True


def test_a_server_error_on_the_update_is_retryable(twilio, run):
    twilio.add(
        responses.POST,
        NUMBER_URL,
        status=500,
        json={"code": 20500, "message": "Internal error", "status": 500},
    )
    result = run(
        "twilio/configure-phone-number-webhooks",
        phoneNumberSid=PN,
        SmsUrl="https://flow.example.com/hooks/sms",
    )
    assert result.error.code == errors.PROVIDER_ERROR
    assert result.error.retryable is True
    assert result.error.outcome_unknown is False


@pytest.mark.parametrize(
    ("inputs", "bad_field"),
    [
        ({"phoneNumberSid": PN}, "__all__"),
        ({"phoneNumberSid": "PN1", "SmsUrl": "https://a.example.com/"}, "phoneNumberSid"),
        ({"SmsUrl": "https://a.example.com/"}, "phoneNumberSid"),
        ({"phoneNumberSid": PN, "SmsUrl": "https://a.example.com/", "SmsMethod": "PUT"}, "SmsMethod"),
        ({"phoneNumberSid": PN, "VoiceUrl": "https://bad_host.example.com/"}, "VoiceUrl"),
        ({"phoneNumberSid": PN, "StatusCallback": "ftp://a.example.com/"}, "StatusCallback"),
        ({"phoneNumberSid": PN, "clear": ["SmsMethod"]}, "clear"),
        ({"phoneNumberSid": PN, "SmsUrl": "https://a.example.com/", "clear": ["SmsUrl"]}, "clear"),
    ],
)
def test_invalid_input_names_the_field_and_sends_nothing(twilio, run, inputs, bad_field):
    result = run("twilio/configure-phone-number-webhooks", **inputs)
    assert result.error.code == errors.VALIDATION_ERROR
    assert bad_field in result.error.fields
    assert len(twilio.calls) == 0
