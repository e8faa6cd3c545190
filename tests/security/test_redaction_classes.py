"""Redaction classes, unit level: by key (nested anywhere), by value (a known secret in any
encoding, inside Basic/Bearer credentials), what is *not* a secret, and idempotence."""

import base64
import json
from urllib.parse import quote

import pytest

from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import (
    MASK,
    RedactedTaskError,
    is_secret_name,
    redact_data,
    redact_error,
    redact_text,
    redacted_task,
    remember_secret,
)

USER = "SK" + "9" * 32
SECRET = 'Xy7"secret/with+odd&chars\\ok'  # needs URL and JSON escaping
PLAIN = "plainSecretValueNotHex42"


@pytest.fixture(autouse=True)
def _known():
    remember_secret(SECRET, username=USER)
    remember_secret(PLAIN, username="AC" + "1" * 32)


def b64(text: str, *, urlsafe=False, pad=True) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    out = encode(text.encode()).decode()
    return out if pad else out.rstrip("=")


@pytest.mark.parametrize(
    "data",
    [
        {"auth_token": "abc123def"},
        {"accounts": [{"sid": "AC1", "auth_token": "abc123def"}, {"auth_token": "zzz999yyy"}]},
        {"a": [[{"b": {"client_secret": "abc123def"}}]]},
        {"Password": "abc123def", "API-Key-Secret": "abc123def"},
        {"data": '{"accounts": [{"auth_token": "abc123def"}]}'},  # a raw JSON text body
        {"data": json.dumps(json.dumps({"secret": "abc123def"}))},  # JSON escaped into JSON
        {"data": "auth_token=abc123def&Friendly=x"},  # a form body
    ],
)
def test_secret_named_keys_are_masked_at_any_depth_and_in_raw_bodies(data):
    out = json.dumps(redact_data(data))
    assert "abc123def" not in out and "zzz999yyy" not in out


@pytest.mark.parametrize(
    "form",
    [
        f"Basic {b64(f'{USER}:{SECRET}')}",
        f"Basic {b64(f'{USER}:{SECRET}', pad=False)}",
        f"basic {b64(f'{USER}:{SECRET}', urlsafe=True)}",
        f"Basic {b64(f'someone-else:{PLAIN}')}",  # any user, a known secret
        f"Basic {b64('x:' + PLAIN, pad=False)}",
        b64(f"AC{'1' * 32}:{PLAIN}"),  # the bare base64, no scheme
        f"Bearer {PLAIN}",
        f"Bearer {b64(PLAIN)}",
        quote(SECRET, safe=""),
        json.dumps(SECRET)[1:-1],
        f"Authorization: Basic {b64('ACx:' + PLAIN)}",
        f"https://{USER}:{quote(SECRET, safe='')}@api.twilio.com/",
    ],
)
def test_known_secrets_are_masked_in_every_encoding(form):
    for wrapped in (form, f'{{"message": "echo: {form} end"}}', f"prefix {form} suffix"):
        out = redact_text(wrapped)
        assert PLAIN not in out and SECRET not in out
        for candidate in (f"{USER}:{SECRET}", f"someone-else:{PLAIN}", f"AC{'1' * 32}:{PLAIN}"):
            assert b64(candidate) not in out and b64(candidate, pad=False) not in out
        assert redact_text(out) == out  # idempotent: safety nets may redact again


def test_any_basic_credential_is_masked_even_for_unknown_secrets():
    token = b64("ACunknown:someone-elses-password")
    assert token not in redact_text(f"Basic {token}")
    assert redact_text("Basic authentication failed") == "Basic authentication failed"


def test_secret_in_an_error_is_redacted_everywhere():
    basic = b64(f"{USER}:{SECRET}")
    error = TwilioFlowError(
        "UPSTREAM_REQUEST_FAILED",
        f"Rejected header Authorization: Basic {basic}",
        details={"echo": [f"Basic {basic}", {"token": PLAIN}]},
        fields={"x": [PLAIN]},
    )
    out = json.dumps(redact_error(error).as_dict())
    assert basic not in out and PLAIN not in out and SECRET not in out
    assert redact_error(error).code == "UPSTREAM_REQUEST_FAILED"


def test_error_codes_and_paging_tokens_are_not_secrets():
    data = {
        "code": "VALIDATION_ERROR",
        "error": {"code": 20003, "message": "Authenticate"},
        "PageToken": "PAabc",
        "next_page_token": "PAdef",
        "Code": "123456",
    }
    out = redact_data(data)
    assert out["code"] == "VALIDATION_ERROR" and out["error"]["code"] == 20003
    assert out["PageToken"] == "PAabc" and out["next_page_token"] == "PAdef"
    assert out["Code"] == MASK  # Twilio's Verify parameter
    assert redact_data({"code": "123456"}, extra_names={"code"}) == {"code": MASK}
    assert not is_secret_name("code") and is_secret_name("Code")
    text = '{"code": "VALIDATION_ERROR", "more_info": "x?PageToken=PA1"}'
    assert redact_text(text) == text


def test_task_failures_are_redacted():
    @redacted_task
    def leaky():
        raise ValueError(f"boom with {PLAIN}")

    with pytest.raises(RedactedTaskError) as caught:
        leaky()
    assert PLAIN not in str(caught.value) and "boom with" in str(caught.value)
    assert redacted_task(lambda: {"auth_token": PLAIN})() == {"auth_token": MASK}
