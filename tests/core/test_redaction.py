"""Secrets never reach log output or exception pages."""

import io
import logging
import sys

import pytest
import responses
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from connections.services import connection_verify
from tests.conftest import AUTH_TOKEN, account_body, account_url
from twilioflow.core.logging import RedactSecretsFilter, RequestIdFilter
from twilioflow.core.redaction import mask_secret, redact_data, redact_text, remember_secret


@pytest.fixture
def log_output():
    """The configured console handler, writing into a buffer we can read."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    handler.setStream(previous)
    root.setLevel(previous_level)


@pytest.mark.parametrize(
    "line",
    [
        f"token is {AUTH_TOKEN}",
        f"Authorization: Basic QUMxMjM6{AUTH_TOKEN}",
        "headers={'Authorization': 'Basic QUMxMjM6c2VjcmV0'}",
        f"https://AC123:{AUTH_TOKEN}@api.twilio.com/2010-04-01",
        f'{{"auth_token": "{AUTH_TOKEN}"}}',
        "api_key_secret=supersecretvalue",
    ],
)
def test_redact_text_masks_every_shape(line):
    redacted = redact_text(line)
    assert AUTH_TOKEN not in redacted
    assert "c2VjcmV0" not in redacted
    assert "supersecretvalue" not in redacted


def test_sids_survive_redaction():
    sid = "AC" + "0123456789abcdef" * 2
    assert redact_text(f"account {sid}") == f"account {sid}"
    process = "Process-" + "0123456789abcdef" * 2  # django-q2's worker names stay readable
    assert redact_text(f"{process} ready for work") == f"{process} ready for work"


def test_remembered_secrets_are_masked_verbatim():
    remember_secret("not-hex-but-secret-XYZ")
    assert "not-hex-but-secret-XYZ" not in redact_text("value=not-hex-but-secret-XYZ!")


def test_redact_data_by_key_name():
    data = {"To": "+1555", "Code": "123456", "nested": [{"AuthToken": "x1", "ok": "y"}]}
    assert redact_data(data) == {
        "To": "+1555",
        "Code": "********",
        "nested": [{"AuthToken": "********", "ok": "y"}],
    }


def test_mask_secret_shows_only_a_short_tail():
    assert mask_secret(AUTH_TOKEN) == "••••" + AUTH_TOKEN[-4:]
    assert mask_secret("short") == "••••"
    assert mask_secret(None) == ""


def test_log_lines_carry_no_secret_and_a_request_id(log_output):
    logger = logging.getLogger("twilioflow.test")
    logger.warning("verifying with %s", AUTH_TOKEN)
    logger.info("header: Authorization: Basic %s", "QUMxMjM6c2VjcmV0dG9rZW4=")
    try:
        raise ValueError(f"boom {AUTH_TOKEN}")
    except ValueError:
        logger.exception("failed")
    output = log_output.getvalue()
    assert "verifying with ********" in output
    assert AUTH_TOKEN not in output
    assert "c2VjcmV0dG9rZW4" not in output
    assert "ValueError: boom ********" in output
    assert "[-]" in output  # request id slot, "-" outside a request


def test_verifying_a_connection_logs_no_secret(connection, twilio, log_output):
    twilio.add(responses.GET, account_url(), status=401, json={"code": 20003, "message": "Authenticate"})
    connection_verify(connection=connection)
    twilio.add(responses.GET, account_url(), json=account_body())
    connection_verify(connection=connection)
    output = log_output.getvalue()
    assert "rejected the credentials" in output  # the security line is there
    assert AUTH_TOKEN not in output


def test_exception_page_hides_secret_locals_and_post_fields(settings):
    settings.DEBUG = True
    request = RequestFactory().post(
        "/admin/connections/connection/add/", {"auth_token": AUTH_TOKEN, "name": "main"}
    )

    def failing_view(auth_token, text):
        raise RuntimeError("kaboom")

    try:
        failing_view(AUTH_TOKEN, f"here: {AUTH_TOKEN}")
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert "kaboom" in html
    assert AUTH_TOKEN not in html


def test_request_id_header_round_trip(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 16
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert "\n" not in hostile and hostile != "bad id\nwith newline"


def test_request_id_filter_uses_the_context():
    from twilioflow.core.logging import request_id_var

    token = request_id_var.set("rid-1")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        RequestIdFilter().filter(record)
        assert record.request_id == "rid-1"
    finally:
        request_id_var.reset(token)


def test_paging_tokens_are_not_secrets():
    from twilioflow.core.redaction import is_secret_name

    assert not is_secret_name("PageToken")
    assert is_secret_name("AuthToken") and is_secret_name("auth_token") and is_secret_name("Code")
