"""Raw request: any Twilio REST call the catalogue does not cover yet (Prismatic's "Raw
Request"). The connection's credentials are added by the client, so the caller never handles
them and may not override them; the host is always the product's configured base URL."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from actions.base import Action, ActionContext, FieldErrors
from actions.fields import Field
from connections.client import PRODUCT_BASE_SETTINGS, RetryPolicy, TwilioResponse
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_FILE_BYTES = 5 * 1024 * 1024
FORBIDDEN_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "host", "content-length", "transfer-encoding", "cookie"}
)
SAFE_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Location",
    "Retry-After",
    "ETag",
    "Last-Modified",
    "Twilio-Request-Id",
    "Twilio-Request-Duration",
    "Twilio-Concurrent-Requests",
    "X-Home-Region",
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SCALAR = (str, int, float, bool)


class RawRequest(Action):
    slug = "twilio/raw-request"
    title = "Raw request"
    description = (
        "Send any request to the Twilio REST API with the connection's credentials: choose "
        "the product, the path and the method; get the status, the body and a few headers back."
    )
    group = "Advanced"
    idempotent = False  # a POST may create things; GETs are retried as idempotent by the client
    fields = (
        Field(
            "product",
            "choice",
            label="Product",
            choices=tuple(PRODUCT_BASE_SETTINGS),
            default="api",
            help="Which Twilio host the path is relative to "
            "(api = api.twilio.com, verify = verify.twilio.com, …).",
        ),
        Field(
            "path",
            "string",
            label="Path",
            required=True,
            max_length=2000,
            help="Path on the product's host, starting with /. $TWILIO_ACCOUNT_SID is replaced "
            "by the connection's Account SID. For product api, /Accounts/… is read as "
            "/2010-04-01/Accounts/….",
            example="/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json",
        ),
        Field("method", "choice", label="Method", choices=("GET", "POST", "DELETE"), default="GET"),
        Field(
            "queryParams",
            "json",
            label="Query parameters",
            help='Object of query parameters; a list value repeats the key. {"PageSize": 20}',
            example={"PageSize": 20},
        ),
        Field(
            "formData",
            "json",
            label="Form data",
            help="Object of form fields (Twilio's usual body, POST only); a list value repeats "
            'the key, an object is sent as a JSON string. {"MediaUrl": ["https://…", "https://…"]}',
            example={"To": "+15558675310", "Body": "Hello"},
        ),
        Field(
            "jsonData",
            "json",
            label="JSON body",
            help="Object sent as a JSON body (POST only; the few Twilio APIs that take JSON). "
            "Not together with form data or files.",
        ),
        Field(
            "files",
            "json",
            label="Files",
            help='Multipart files (POST only): {"name": {"filename": "a.png", '
            '"content_base64": "…", "content_type": "image/png"}}; up to 5 MB each.',
        ),
        Field(
            "headers",
            "json",
            label="Headers",
            help="Extra request headers. Authorization is always the connection's and cannot be set here.",
            example={"X-Twilio-Webhook-Enabled": "true"},
        ),
        Field(
            "responseType",
            "choice",
            label="Response type",
            choices=("json", "text", "binary"),
            default="json",
            help="json parses the body (falling back to text when it is not "
            "JSON); binary returns it base64-encoded. Bodies over 5 MB are refused.",
        ),
        Field(
            "timeout",
            "integer",
            label="Timeout (seconds)",
            min_value=1,
            max_value=120,
            help="How long to wait for Twilio; the connection's default when empty.",
        ),
        Field(
            "maxRetries",
            "integer",
            label="Max retries",
            default=0,
            min_value=0,
            max_value=5,
            help="Retries within this step. A 429 or failed connect is always safe to retry; "
            "a POST whose outcome is unknown (5xx, timeout) is never retried.",
        ),
        Field(
            "retryDelay",
            "integer",
            label="Retry delay (seconds)",
            default=1,
            min_value=0,
            max_value=60,
            help="Wait before the first retry (Retry-After wins when Twilio sends it).",
        ),
        Field(
            "exponentialBackoff",
            "boolean",
            label="Exponential backoff",
            default=False,
            help="Double the delay after each retry.",
        ),
        Field(
            "retryOnAllErrors",
            "boolean",
            label="Retry on all errors",
            default=False,
            help="Also retry 4xx answers (not only 429, 5xx on reads and connection failures).",
        ),
    )
    output = ("status", "headers", "data", "content_type", "size")

    def credential_reason(self, inputs: Mapping[str, Any]) -> str | None:
        return credential_path_reason(inputs.get("path"))

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        problems: dict[str, str] = {}
        path = data["path"].strip()
        if "://" in path or path.startswith("//"):
            problems["path"] = "Give a path (/2010-04-01/…), not a URL; choose the host with product."
        elif not path.startswith("/"):
            problems["path"] = "The path must start with /."
        elif re.search(r"[\s\x00-\x1f]", path) or "/../" in path + "/":
            problems["path"] = "The path may not contain spaces, control characters or '..'."
        elif data["product"] == "api" and path.startswith("/Accounts/"):
            path = "/2010-04-01" + path
        data["path"] = path

        if not problems and data["method"] == "POST" and (send := send_path_kind(data["product"], path)):
            # Nothing sends around the send gate (opt-outs, quiet hours, WhatsApp window,
            # sender checks, caps, sandbox): new messages and calls go through their actions.
            problems["path"] = (
                f"Raw requests may not create {send}: use the send-sms, send-mms, send-whatsapp "
                "or make-call action, so that opt-outs, quiet hours and the other send checks apply."
            )

        for name in ("queryParams", "formData"):
            problem = _parameter_problem(data[name])
            if problem:
                problems[name] = problem
        has_body = [name for name in ("formData", "jsonData", "files") if data[name]]
        if has_body and data["method"] != "POST":
            for name in has_body:
                problems.setdefault(name, f"A request body needs method POST, not {data['method']}.")
        if data["jsonData"] and (data["formData"] or data["files"]):
            other = "formData" if data["formData"] else "files"
            problems.setdefault(
                "jsonData",
                f"Send either a JSON body or form data/files, not both ({other} is set).",
            )
        if data["files"]:
            problem = _files_problem(data["files"])
            if problem:
                problems.setdefault("files", problem)
        if data["headers"]:
            problem = _headers_problem(data["headers"])
            if problem:
                problems["headers"] = problem
        if problems:
            raise FieldErrors(problems)
        return data

    def run(self, ctx: ActionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        method = inputs["method"]
        retry = RetryPolicy(
            max_retries=inputs["maxRetries"] or 0,
            delay=float(inputs["retryDelay"] or 0),
            backoff=2.0 if inputs["exponentialBackoff"] else 1.0,
            retry_all=bool(inputs["retryOnAllErrors"]),
        )
        response = ctx.client.request(
            method,
            inputs["path"],
            product=inputs["product"],
            params=inputs["queryParams"] or None,
            data=inputs["formData"] or None,
            json_body=inputs["jsonData"] or None,
            files=_decoded_files(inputs["files"]) if inputs["files"] else None,
            headers={k: str(v) for k, v in (inputs["headers"] or {}).items()} or None,
            idempotent=(method == "GET"),
            retry=retry,
            timeout=float(inputs["timeout"]) if inputs["timeout"] else None,
        )
        content = response.content
        size = len(content)
        content_type = response.headers.get("Content-Type") or None
        if size > MAX_RESPONSE_BYTES:
            raise TwilioFlowError(
                errors.UPSTREAM_REQUEST_FAILED,
                f"The response is {size:,} bytes; raw requests return at most {MAX_RESPONSE_BYTES:,} bytes.",
                http_status=response.status,
            )
        return {
            "status": response.status,
            "headers": {h: response.headers[h] for h in SAFE_RESPONSE_HEADERS if h in response.headers},
            "data": _body(response, inputs["responseType"]),
            "content_type": content_type,
            "size": size,
        }


def _body(response: TwilioResponse, response_type: str) -> Any:
    if response_type == "binary":
        return base64.b64encode(response.content).decode("ascii")
    if response_type == "json":
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            pass  # not JSON after all (TwiML, CSV…): the text is more useful than an error
    return response.text


def _parameter_problem(params: dict[str, Any] | None) -> str | None:
    for key, value in (params or {}).items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None or isinstance(item, _SCALAR):
                continue
            if isinstance(item, dict) and not isinstance(value, list):
                continue  # sent as a JSON string (Attributes, ContentVariables…)
            return f"{key}: values must be text, numbers, booleans or lists of them."
    return None


def _headers_problem(headers: dict[str, Any]) -> str | None:
    for name, value in headers.items():
        if name.lower() in FORBIDDEN_HEADERS:
            if name.lower() == "authorization":
                return "Authorization comes from the connection and cannot be set here."
            return f"{name} is set by the client and cannot be set here."
        if not _HEADER_NAME.match(name):
            return f"{name!r} is not a valid header name."
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return f"{name}: a header value must be text or a number."
        if re.search(r"[\r\n\x00]", str(value)):
            return f"{name}: a header value may not contain line breaks."
    return None


def _files_problem(files: dict[str, Any]) -> str | None:
    for name, spec in files.items():
        if not isinstance(spec, dict):
            return f"{name}: expected an object with filename, content_base64 and content_type."
        unknown = set(spec) - {"filename", "content_base64", "content_type"}
        if unknown:
            return f"{name}: unknown keys {', '.join(sorted(unknown))}."
        for key in ("filename", "content_type"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                return f"{name}: {key} must be text."
        encoded = spec.get("content_base64")
        if not isinstance(encoded, str):
            return f"{name}: content_base64 is required (the file's bytes, base64-encoded)."
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return f"{name}: content_base64 is not valid base64."
        if len(content) > MAX_FILE_BYTES:
            return f"{name}: {len(content):,} bytes; files may be at most {MAX_FILE_BYTES:,} bytes."
    return None


def _decoded_files(files: dict[str, Any]) -> dict[str, tuple[str, bytes, str]]:
    return {
        name: (
            spec.get("filename") or name,
            base64.b64decode(spec["content_base64"]),
            spec.get("content_type") or "application/octet-stream",
        )
        for name, spec in files.items()
    }


# --- credential-bearing endpoints -------------------------------------------------------------
# Path segments whose resources hold or mint credentials: API keys and signing keys (a create
# returns the secret), push/SIP credentials, Auth Tokens, Network Traversal tokens, Verify
# access tokens and TOTP factors (a create returns the seed).
CREDENTIAL_SEGMENTS = {
    "keys": "API keys",
    "signingkeys": "signing keys",
    "credentials": "credentials",
    "credentiallists": "SIP credential lists",
    "authtokens": "Auth Tokens",
    "secondaryauthtoken": "Auth Tokens",
    "tokens": "access tokens",
    "accesstokens": "access tokens",
    "factors": "Verify factors",
    "newfactors": "Verify factors",
}
_SELF = "ac-self"


def path_segments(path: str) -> list[str]:
    """The path as Twilio's routing would see it: decoded (also double-encoded %252F),
    without query or fragment, `\\` read as `/`, empty and `.` segments dropped, `..` applied,
    lower-cased, and without a format suffix (`Keys.json` is `keys`)."""
    text = path.replace("$TWILIO_ACCOUNT_SID", _SELF).replace("{AccountSid}", _SELF)
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    text = re.split(r"[?#]", text, maxsplit=1)[0].replace("\\", "/")
    segments: list[str] = []
    for raw in text.split("/"):
        segment = raw.split(";", 1)[0].strip().lower()
        if segment.startswith(".."):  # also "..json": read the worst way, as going up
            if segments:
                segments.pop()
            continue
        segment = segment.split(".", 1)[0]  # "Keys.json" → "keys"; "." and ".x" → ""
        if segment:
            segments.append(segment)
    return segments


def send_path_kind(product: str, path: str) -> str | None:
    """ "messages" or "calls" when a POST to `path` on `product` creates a message or a call
    (the 2010 API's Messages.json / Calls.json lists), else None. Read like Twilio reads it."""
    segments = path_segments(path)
    if product == "api" and segments and segments[-1] in ("messages", "calls") and "accounts" in segments:
        return segments[-1]
    return None


def credential_path_reason(path: str | None) -> str | None:
    """Why a request to `path` (any product, any method) reads or changes credentials, or None.

    The Account resource and the subaccount list carry Auth Tokens (and a POST suspends,
    closes or creates accounts); the resources in CREDENTIAL_SEGMENTS hold or mint secrets."""
    if not isinstance(path, str):
        return None
    segments = path_segments(path)
    for index, segment in enumerate(segments):
        if segment == "accounts" and len(segments) - index <= 2:
            return "the Account resource and the subaccount list contain Auth Tokens"
        if segment in CREDENTIAL_SEGMENTS:
            return f"it manages {CREDENTIAL_SEGMENTS[segment]}"
    return None
