"""Reading one signed Twilio request into what we store, without ever raising on its content.

Runs after the signature check and before anything touches the database. A request that
passed its signature is either stored (sanitised where a database cannot hold it, with the
original body kept as text) or refused with a 4xx and a stable code: never a 500, which
Twilio would retry forever while the event is lost.

* **Sanitising.** PostgreSQL rejects NUL in text and `\\u0000` in jsonb, and no database
  driver can encode a lone surrogate (`\\ud800`), so both become U+FFFD in params, payload
  and headers. JSON numbers that do not survive a round trip become strings: NaN/Infinity,
  floats that overflow (`1e400`) and integers outside 64 bits (a 5,000-digit integer makes
  Python's `int()` raise ValueError). JSON nested deeper than `MAX_JSON_DEPTH` is refused
  (400), as Python's parser raises RecursionError long before 100,000 levels.
* **Dedupe keys from signed content only.** The `I-Twilio-Idempotency-Token` header is not
  signed: preferring it let a captured request be replayed with a fresh token. See
  `signed_content_hash` and `dedupe_key_for`.
* **Invalid requests are kept.** A kind's required parameters missing, or a request no kind
  recognises: stored with `match_status=invalid` and a reason, answered 2xx (so Twilio
  stops), nothing started.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from triggers.kinds.base import TriggerKind
from triggers.kinds.registry import detect, json_kind

MAX_JSON_DEPTH = 64
MAX_HEADER_LENGTH = 500
# JSON integers are kept as numbers within 64 bits; beyond, as their digits (a string).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
REPLACEMENT = "\ufffd"
# What no database column (or driver) here can hold: NUL and UTF-16 surrogates (in a Python
# str decoded from UTF-8 or from JSON, a surrogate left over is always a lone one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
RECORDED_HEADERS = ("I-Twilio-Idempotency-Token", "User-Agent", "Content-Type", "X-Home-Region")

# Stable reasons, stored on invalid events (`invalid_code`) or answered with a 400.
MISSING_FIELDS = "MISSING_FIELDS"
UNRECOGNISED = "UNRECOGNISED"
UNSTORABLE = "UNSTORABLE"
NOT_JSON = "NOT_JSON"
JSON_TOO_DEEP = "JSON_TOO_DEEP"
UNRECOGNISED_KIND = "unrecognised"  # TriggerEvent.kind of a request no kind recognises


class PayloadRefused(Exception):
    """The body cannot be read at all: answer 400 VALIDATION_ERROR with this `reason`."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Inbound:
    """A signed request, read and sanitised: everything `event_receive` stores."""

    kind_slug: str
    params: dict[str, list[str]]
    payload: dict[str, Any]
    dedupe_key: str
    signed_hash: str
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str = ""
    raw_body_encoding: str = ""
    invalid_code: str = ""
    invalid_reason: str = ""


# --- sanitising ---------------------------------------------------------------------------
def clean_text(value: str) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD (everything else kept)."""
    return _UNSTORABLE.sub(REPLACEMENT, value)


def _number_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond Python's int-str limit (4,300 digits)
        return f"<integer of {value.bit_length()} bits>"


def clean_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH, _depth: int = 0) -> Any:
    """A JSON value every database and `json.dumps` can hold. Raises PayloadRefused when
    nested deeper than `max_depth` (the recursion here is bounded by that check)."""
    if _depth >= max_depth and isinstance(value, dict | list | tuple):  # "[]" is one level
        raise PayloadRefused(JSON_TOO_DEEP, f"The JSON body is nested deeper than {max_depth} levels.")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else _number_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {
            clean_text(str(k)): clean_json(v, max_depth=max_depth, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [clean_json(v, max_depth=max_depth, _depth=_depth + 1) for v in value]
    return clean_text(str(value))


def _json_int(text: str) -> int | str:
    # Called by the parser with the digits as sent: bound them before int() sees them.
    if len(text) > 20:
        return text
    number = int(text)
    return number if INT64_MIN <= number <= INT64_MAX else text


def _json_float(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text  # "1e400" stays as sent


def json_parse(body: bytes) -> Any:
    """The sanitised JSON value of `body` (empty → None), or PayloadRefused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadRefused(NOT_JSON, "The body is not valid JSON (not UTF-8).") from None
    if not text.strip():
        return None
    try:
        # NaN / Infinity / -Infinity (not JSON, but Python's parser accepts them) stay text.
        value = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=str)
    except RecursionError:
        raise PayloadRefused(
            JSON_TOO_DEEP, f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."
        ) from None
    except ValueError:
        raise PayloadRefused(NOT_JSON, "The body is not valid JSON.") from None
    return clean_json(value)


def clean_params(source) -> dict[str, list[str]]:
    """Form params (a QueryDict or str → list) with every name and value `clean_text`-ed.
    Two names that only differed by an unstorable character are merged."""
    params: dict[str, list[str]] = {}
    for name in source:
        values = source.getlist(name) if hasattr(source, "getlist") else source[name]
        params.setdefault(clean_text(str(name)), []).extend(clean_text(str(v)) for v in values)
    return params


def clean_headers(request) -> dict[str, str]:
    return {
        name: clean_text(str(request.headers[name]))[:MAX_HEADER_LENGTH]
        for name in RECORDED_HEADERS
        if name in request.headers
    }


def raw_body_of(request) -> tuple[str, str]:
    """(text, encoding) of what was sent: the body as UTF-8 text when it is storable as such,
    else base64 (encoding "base64"). A GET has no body: its query string is kept instead."""
    body = (
        request.body
        if request.method == "POST"
        else request.META.get("QUERY_STRING", "").encode("latin-1", "replace")
    )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _UNSTORABLE.search(text):
        return text, ""
    return base64.b64encode(body).decode("ascii"), "base64"


# --- dedupe keys ----------------------------------------------------------------------------
def signed_content_hash(request, source=None) -> str:
    """sha256 of exactly what `X-Twilio-Signature` covers, minus scheme, host and port.

    For a form POST that is the path + query followed by every name and value, names sorted
    and each name's distinct values sorted, concatenated without separators (twilio's
    `compute_signature`). Hashing that very string, not our parse of it, matters: the
    signature cannot tell `MessageStatus=delivered&MessagingServiceSid=MG…` from
    `MessageStatus=deliveredMessagingServiceSidMG…` (nor a repeated value from a single
    one), so every variant that verifies under one signature must get one key. Scheme, host
    and port are left out because the SDK accepts the URL with and without its port. For
    JSON the URL carries `bodySHA256`, so path + query + the body's hash identify it; for a
    GET the query is the whole content.
    """
    signed = request.get_full_path()
    if source is not None:
        for name in sorted(set(source)):
            for value in sorted(set(source.getlist(name))):
                signed += name + value
    digest = hashlib.sha256(signed.encode("utf-8", "surrogatepass"))
    if source is None and request.method == "POST":
        digest.update(b"\0" + hashlib.sha256(request.body).digest())
    return digest.hexdigest()


def dedupe_key_for(identity: str | None, signed_hash: str) -> str:
    """`key:<identity>` when the payload has one (the kind's `dedupe_key`: SID + status +
    sequence…, all signed), else `sig:<hash of the signed content>`.

    Never the I-Twilio-Idempotency-Token header: it is not signed, so anyone holding one
    captured request could mint new keys (new runs) by changing it. Twilio's retries repeat
    the same signed content, so they dedupe without it. An identity that is long or not
    plain printable ASCII (SIDs are) is hashed rather than truncated, so two cannot collide.
    """
    if identity:
        if len(identity) <= 150 and identity.isascii() and identity.isprintable():
            return f"key:{identity}"
        return "key#" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sig:{signed_hash}"


# --- one request ----------------------------------------------------------------------------
def inbound_read(request, purpose: str) -> Inbound:
    """Everything to store for a signed request to the `purpose` endpoint ("messages",
    "voice", "status", "events" or "webhook"). Raises PayloadRefused only for a JSON body
    that cannot be parsed (400); everything else is stored, invalid or not."""
    raw_body, raw_encoding = raw_body_of(request)
    headers = clean_headers(request)
    reader = json_kind(purpose) if request.content_type == "application/json" else None
    if reader is not None:
        body = json_parse(request.body)
        signed_hash = signed_content_hash(request)
        return Inbound(
            kind_slug=reader.slug,
            params={},
            payload=reader.parse_json(body),
            dedupe_key=dedupe_key_for(None, signed_hash),
            signed_hash=signed_hash,
            headers=headers,
            raw_body=raw_body,
            raw_body_encoding=raw_encoding,
        )

    source = request.POST if request.method == "POST" else request.GET
    signed_hash = signed_content_hash(request, source if request.method == "POST" else None)
    params = clean_params(source)
    kind: type[TriggerKind] | None = detect(purpose, params)
    if kind is None:
        # Signed by Twilio but nothing we know: kept (a signed request is never dropped
        # silently) and answered 2xx so that Twilio does not retry it forever.
        return Inbound(
            kind_slug=UNRECOGNISED_KIND,
            params=params,
            payload={},
            dedupe_key=dedupe_key_for(None, signed_hash),
            signed_hash=signed_hash,
            invalid_code=UNRECOGNISED,
            invalid_reason=f"No trigger kind recognises this {purpose} request.",
            headers=headers,
            raw_body=raw_body,
            raw_body_encoding=raw_encoding,
        )
    identity = kind.dedupe_key(params)
    inbound = Inbound(
        kind_slug=kind.slug,
        params=params,
        payload=kind.parse(params),
        dedupe_key=dedupe_key_for(identity, signed_hash),
        signed_hash=signed_hash,
        headers=headers,
        raw_body=raw_body,
        raw_body_encoding=raw_encoding,
    )
    missing = kind.missing(params)
    if missing:
        inbound.invalid_code = MISSING_FIELDS
        inbound.invalid_reason = f"Missing {', '.join(missing)}."
    return inbound
