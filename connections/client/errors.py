"""Failures to stable codes: an HTTP error status (with Twilio's classic or RFC 9457 error
body) or a transport failure becomes a `TwilioFlowError` that says whether it is safe to
retry and whether the request may have taken effect."""

from __future__ import annotations

from typing import Any

import requests

from connections.client.retry import parse_retry_after
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data, redact_text


def _problem_fields(response: requests.Response) -> tuple[int | None, str, str | None, dict[str, Any]]:
    """(twilio code, message, more_info, details) from a classic or an RFC 9457 body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = (response.text or "").strip()[:300]
        return None, text or (response.reason or f"HTTP {response.status_code}"), None, {}
    code = body.get("code")
    code = code if isinstance(code, int) else None
    if {"type", "title", "status"} <= body.keys():  # RFC 9457 problem details
        message = body.get("detail") or body.get("title") or ""
        # "validation" carries Prism's (and newer APIs') per-field reasons.
        details = {k: body[k] for k in ("type", "title", "instance", "errors", "validation") if k in body}
        return code, message, body.get("type"), redact_data(details)
    message = body.get("message") or body.get("detail") or response.reason or ""
    details = redact_data(body.get("details") or {})
    return code, message, body.get("more_info"), details if isinstance(details, dict) else {}


def error_from_response(response: requests.Response, *, idempotent: bool) -> TwilioFlowError:
    status = response.status_code
    twilio_code, message, more_info, details = _problem_fields(response)
    common: dict[str, Any] = dict(
        http_status=status, twilio_code=twilio_code, more_info=more_info, details=details
    )
    message = redact_text(message)
    if status == 400:
        return TwilioFlowError(errors.VALIDATION_ERROR, message, **common)
    if status == 401:
        return TwilioFlowError(errors.AUTH_EXPIRED, message or "Authenticate", **common)
    if status == 404:
        return TwilioFlowError(errors.NOT_FOUND, message, **common)
    if status == 429:
        # Twilio: "a 429 response is never processed and is always safe to retry".
        return TwilioFlowError(
            errors.RATE_LIMITED,
            message or "Too many requests",
            retryable=True,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **common,
        )
    if status >= 500:
        return TwilioFlowError(
            errors.PROVIDER_ERROR,
            message or f"Twilio answered {status}",
            retryable=idempotent,
            outcome_unknown=not idempotent,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **common,
        )
    return TwilioFlowError(errors.UPSTREAM_REQUEST_FAILED, message or f"HTTP {status}", **common)


def _nothing_was_sent(exc: requests.RequestException) -> bool:
    """True when the failure happened before any byte of the request left (connect/DNS/TLS)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        name = type(item).__name__
        if name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError"):
            return True
        if isinstance(item, BaseException):
            stack.extend([item.__cause__, item.__context__, *item.args])
            stack.append(getattr(item, "reason", None))
    return False


def error_from_exception(exc: requests.RequestException, *, idempotent: bool) -> TwilioFlowError:
    if _nothing_was_sent(exc):
        return TwilioFlowError(
            errors.CONNECTION_FAILED,
            "Could not connect to Twilio; nothing was sent.",
            retryable=True,
        )
    if isinstance(exc, requests.Timeout):
        message = "Twilio did not answer in time after the request was sent."
    else:
        message = "The connection to Twilio broke after the request was sent."
    return TwilioFlowError(
        errors.TIMEOUT,
        message + ("" if idempotent else " It may or may not have taken effect."),
        retryable=idempotent,
        outcome_unknown=not idempotent,
    )
