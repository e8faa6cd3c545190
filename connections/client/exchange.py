"""The audit record: one request/response pair, stripped of secrets before it is kept.

Secrets are masked by name (Twilio's secret parameters, the action's `secret_fields`, and
anything that looks like a credential) and by value (every secret the process has seen).
Files are recorded by name, type and size, never by content; bodies are capped."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from twilioflow.core.redaction import MASK, is_secret_name, redact_data, redact_text

MAX_RECORDED_BODY = 16_000
# Form/query parameters that are secret in Twilio's own API (Verify codes, credentials).
SECRET_PARAMS = frozenset({"Code", "CustomCode", "AuthToken", "Secret", "Password", "Token"})
RECORDED_RESPONSE_HEADERS = (
    "Content-Type",
    "Retry-After",
    "Twilio-Request-Id",
    "Twilio-Request-Duration",
    "Twilio-Concurrent-Requests",
    "X-Home-Region",
)


@dataclass
class Exchange:
    """One HTTP request/response pair, stripped of secrets. Safe to store: every field is
    redacted when it is set (`as_dict` needs no second pass; the engine stores it as is).

    The response body is redacted when it is first read (`response_body`, `as_dict`), not
    when it arrives: a poll that pages through 10,000 messages never stores its exchanges,
    so it never pays for redacting them. Whatever reads it gets the redacted body."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    duration_ms: int | None = None
    error: str | None = None
    _body: Any = field(default=None, repr=False)
    # (raw content, content type, secret field names) until first read: the raw bytes are
    # the response's own (no copy), and no parsed structure is kept alive for the record.
    _unredacted: tuple[bytes, str, frozenset[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def response_body(self) -> Any:
        if self._unredacted is not None:
            self._body = _recorded_body(*self._unredacted)
            self._unredacted = None
        return self._body

    @response_body.setter
    def response_body(self, value: Any) -> None:
        self._body, self._unredacted = redact_data(value), None

    def record_response_body(self, content: bytes, content_type: str, secret_fields: frozenset[str]) -> None:
        """Keep the raw body (shared with the response, not copied) to redact on first read."""
        self._body, self._unredacted = None, (content, content_type, secret_fields)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "request_headers": dict(self.request_headers),
            "request_body": self.request_body,
            "status": self.status,
            "response_headers": dict(self.response_headers),
            "response_body": self.response_body,
            "duration_ms": self.duration_ms,
            "error": self.error,
        }


def redact_pairs(pairs: Iterable[tuple[str, Any]], secret_fields: frozenset[str]) -> list[list[str]]:
    return [
        [
            key,
            MASK
            if (key in SECRET_PARAMS or key in secret_fields or is_secret_name(key))
            else redact_text(str(value)),
        ]
        for key, value in pairs
    ]


def redact_url(url: str, secret_fields: frozenset[str]) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never keep user:pass@
    pairs = redact_pairs(parse_qsl(parts.query, keep_blank_values=True), secret_fields)
    query = urlencode([(key, value) for key, value in pairs])
    return urlunsplit((parts.scheme, netloc, redact_text(parts.path), query, ""))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_name(k) else redact_text(str(v))) for k, v in headers.items()}


def recorded_request_body(
    form: list[tuple[str, str]] | None,
    json_body: Any,
    files: Mapping[str, Any] | None,
    secret_fields: frozenset[str],
) -> Any:
    body: dict[str, Any] = {}
    if form:
        body["form"] = redact_pairs(form, secret_fields)
    if json_body is not None:
        body["json"] = redact_data(json_body, secret_fields)
    if files:
        body["files"] = {name: describe_file(value) for name, value in files.items()}
    return body or None


def recorded_response_headers(response: requests.Response) -> dict[str, str]:
    return {h: redact_text(response.headers[h]) for h in RECORDED_RESPONSE_HEADERS if h in response.headers}


UNPARSED = object()


def parse_json(content: bytes) -> Any:
    """The body as JSON, or UNPARSED."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return UNPARSED


def recorded_response_body(response: requests.Response, secret_fields: frozenset[str]) -> Any:
    content_type = response.headers.get("Content-Type", "")
    return _recorded_body(response.content, content_type, secret_fields)


def _recorded_body(content: bytes, content_type: str, secret_fields: frozenset[str]) -> Any:
    parsed = parse_json(content) if "json" in content_type and content else UNPARSED
    if parsed is not UNPARSED:
        return redact_data(parsed, secret_fields)
    if content_type.startswith(("text/", "application/xml")) or "json" in content_type or not content_type:
        text = content[: MAX_RECORDED_BODY * 4].decode("utf-8", errors="replace")
        return redact_text(text[:MAX_RECORDED_BODY])
    return f"<{len(content)} bytes of {content_type}>"


def describe_file(value: Any) -> dict[str, Any]:
    """Files are recorded by name, type and size, never by content."""
    if isinstance(value, tuple | list):
        name, content, *rest = [*value, None][:3]
        size = len(content) if isinstance(content, bytes | str) else None
        return {"filename": name, "size": size, "content_type": rest[0] if rest else None}
    return {"filename": getattr(value, "name", None)}
