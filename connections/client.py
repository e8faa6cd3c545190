"""The single place that speaks HTTP to Twilio.

Built on pooled `requests.Session`s, with Basic auth, one configurable base URL per product,
(connect, read) timeouts, Twilio's form encoding, error mapping to stable codes, an
in-process retry policy for what is known to be safe, pagination for both page styles, and
a redacted record of every request/response pair for the audit log.

Retrying is deliberately conservative: a 429 and a failed connect never reached Twilio and
are always safe; a 5xx, a read timeout or a dropped connection on a create may already have
sent the SMS, so those raise with `outcome_unknown=True` and the engine reconciles.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import (
    MASK,
    is_secret_name,
    redact_data,
    redact_text,
    remember_secret,
)

logger = logging.getLogger(__name__)

PRODUCT_BASE_SETTINGS = {
    "api": "TWILIO_API_BASE",
    "lookups": "TWILIO_LOOKUPS_BASE",
    "verify": "TWILIO_VERIFY_BASE",
    "conversations": "TWILIO_CONVERSATIONS_BASE",
    "messaging": "TWILIO_MESSAGING_BASE",
}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USER_AGENT = "TwilioFlow/0.1 (+requests)"
MAX_RECORDED_BODY = 16_000
# Form/query parameters that are secret in Twilio's own API (Verify codes, credentials).
SECRET_PARAMS = frozenset({"Code", "CustomCode", "AuthToken", "Secret", "Password", "Token"})


# --- Audit record -------------------------------------------------------------------------
@dataclass
class Exchange:
    """One HTTP request/response pair, already stripped of secrets. Safe to store."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Any = None
    duration_ms: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_RECORDED_RESPONSE_HEADERS = (
    "Content-Type",
    "Retry-After",
    "Twilio-Request-Id",
    "Twilio-Request-Duration",
    "Twilio-Concurrent-Requests",
    "X-Home-Region",
)


def _redact_pairs(pairs: Iterable[tuple[str, Any]], secret_fields: frozenset[str]) -> list:
    return [
        [
            key,
            MASK
            if (key in SECRET_PARAMS or key in secret_fields or is_secret_name(key))
            else redact_text(str(value)),
        ]
        for key, value in pairs
    ]


def _redact_url(url: str, secret_fields: frozenset[str]) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never keep user:pass@
    pairs = _redact_pairs(parse_qsl(parts.query, keep_blank_values=True), secret_fields)
    query = urlencode([tuple(pair) for pair in pairs])
    return urlunsplit((parts.scheme, netloc, redact_text(parts.path), query, ""))


def _recorded_body(response: requests.Response, secret_fields: frozenset[str]) -> Any:
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            return redact_data(response.json(), secret_fields)
        except ValueError:
            pass
    if content_type.startswith(("text/", "application/xml")) or "json" in content_type or not content_type:
        return redact_text(response.text[:MAX_RECORDED_BODY])
    return f"<{len(response.content)} bytes of {content_type}>"


# --- Form encoding --------------------------------------------------------------------------
def encode_form(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Twilio's wire format: lists repeat the key, booleans are lower case, objects are JSON
    strings (ContentVariables, Attributes…), and None means "leave it out"."""
    pairs: list[tuple[str, str]] = []
    for key, value in (data or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, dict):
                item = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            pairs.append((key, str(item)))
    return pairs


# --- Errors ---------------------------------------------------------------------------------
def parse_retry_after(value: str | None) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or HTTP-date); None when absent or garbage."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _problem_fields(response: requests.Response) -> tuple[int | None, str, str | None, dict]:
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
    common = dict(http_status=status, twilio_code=twilio_code, more_info=more_info, details=details)
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


# --- Retry policy ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """In-call retries. Default: none, the engine retries durably. `retry_all` widens retries to
    every HTTP error status, but an unknown outcome on a non-idempotent request never retries."""

    max_retries: int = 0
    delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 30.0
    retry_all: bool = False
    jitter: bool = True

    def should_retry(self, error: TwilioFlowError, attempt: int) -> bool:
        if attempt > self.max_retries or error.outcome_unknown:
            return False
        if error.code == errors.AUTH_EXPIRED:
            return False
        return error.retryable or self.retry_all

    def wait_for(self, error: TwilioFlowError, attempt: int) -> float | None:
        """Seconds to wait before retry number `attempt`; None means "too long, give up here"."""
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_delay else None
        wait = min(self.max_delay, self.delay * (self.backoff ** (attempt - 1)))
        if self.jitter:
            wait = random.uniform(wait / 2, wait)  # noqa: S311 - jitter, not cryptography
        return wait


NO_RETRY = RetryPolicy()


# --- Responses ------------------------------------------------------------------------------
@dataclass
class TwilioResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    exchange: Exchange

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content) if self.content else None


# --- Session pool -----------------------------------------------------------------------------
_POOL_SIZE = 64
_sessions: OrderedDict[Any, requests.Session] = OrderedDict()
_sessions_lock = threading.Lock()


def _session_for(key: Any) -> requests.Session:
    """One pooled session per connection, so keep-alive survives between steps."""
    with _sessions_lock:
        session = _sessions.get(key)
        if session is not None:
            _sessions.move_to_end(key)
            return session
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.trust_env = False  # never route credentials through an ambient proxy
        _sessions[key] = session
        while len(_sessions) > _POOL_SIZE:
            _, old = _sessions.popitem(last=False)
            old.close()
        return session


# --- Client -----------------------------------------------------------------------------------
class TwilioClient:
    def __init__(
        self,
        *,
        account_sid: str,
        username: str,
        password: str,
        pool_key: Any = None,
        on_auth_failure: Callable[[TwilioFlowError], None] | None = None,
        timeout: tuple[float, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_sid = account_sid
        self._auth = (username, password)
        # The username too: an upstream error may echo our `Basic base64(user:password)`.
        remember_secret(password, username=username)
        self._pool_key = pool_key if pool_key is not None else ("account", account_sid, username)
        self.on_auth_failure = on_auth_failure
        self.timeout = timeout or (settings.TWILIO_CONNECT_TIMEOUT, settings.TWILIO_READ_TIMEOUT)
        self.sleep = sleep
        self.exchanges: list[Exchange] = []

    # URLs
    @staticmethod
    def base_url(product: str) -> str:
        try:
            return getattr(settings, PRODUCT_BASE_SETTINGS[product]).rstrip("/")
        except KeyError:
            raise TwilioFlowError(
                errors.CONFIGURATION_ERROR,
                f"Unknown Twilio product {product!r}; one of {', '.join(PRODUCT_BASE_SETTINGS)}.",
            ) from None

    def url(self, path: str, product: str = "api") -> str:
        """Absolute URL on the configured base. Absolute input (a v1/v2 `next_page_url`) is
        re-based, so paging never leaves the host we were configured with."""
        path = path.replace("{AccountSid}", self.account_sid).replace("$TWILIO_ACCOUNT_SID", self.account_sid)
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            path = urlunsplit(("", "", parts.path, parts.query, ""))
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url(product) + path

    def account_path(self, resource: str) -> str:
        """`/2010-04-01/Accounts/AC…/<resource>`: the Account SID stays in 2010 paths, even
        when we authenticate with an API key."""
        return f"/2010-04-01/Accounts/{self.account_sid}/{resource.lstrip('/')}"

    # Requests
    def request(
        self,
        method: str,
        path: str,
        *,
        product: str = "api",
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        retry: RetryPolicy = NO_RETRY,
        timeout: float | tuple[float, float] | None = None,
        secret_fields: Iterable[str] = (),
    ) -> TwilioResponse:
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        secret_fields = frozenset(secret_fields)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(
                    method,
                    self.url(path, product),
                    params=params,
                    data=data,
                    json_body=json_body,
                    files=files,
                    headers=headers,
                    idempotent=idempotent,
                    timeout=timeout,
                    secret_fields=secret_fields,
                )
            except TwilioFlowError as error:
                if not retry.should_retry(error, attempt):
                    raise
                wait = retry.wait_for(error, attempt)
                if wait is None:
                    raise
                logger.info(
                    "Retrying %s %s after %s (attempt %d, waiting %.1fs)",
                    method,
                    path,
                    error.code,
                    attempt,
                    wait,
                )
                self.sleep(wait)

    def get(self, path: str, **kwargs) -> TwilioResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> TwilioResponse:
        return self.request("POST", path, **kwargs)

    def _send_once(
        self,
        method,
        url,
        *,
        params,
        data,
        json_body,
        files,
        headers,
        idempotent,
        timeout,
        secret_fields,
    ) -> TwilioResponse:
        query = encode_form(params)
        form = encode_form(data) if data is not None else None
        request_headers = {"Accept": "application/json", **(headers or {})}
        exchange = Exchange(
            method=method,
            url=_redact_url(url + (("?" + urlencode(query)) if query else ""), secret_fields),
            request_headers={
                k: (MASK if is_secret_name(k) else redact_text(str(v))) for k, v in request_headers.items()
            },
            request_body=self._recorded_request_body(form, json_body, files, secret_fields),
        )
        self.exchanges.append(exchange)
        started = time.monotonic()
        try:
            response = _session_for(self._pool_key).request(
                method,
                url,
                params=query or None,
                data=form,
                json=json_body,
                files=files,
                headers=request_headers,
                auth=self._auth,
                timeout=timeout or self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            exchange.duration_ms = int((time.monotonic() - started) * 1000)
            error = error_from_exception(exc, idempotent=idempotent)
            exchange.error = f"{error.code}: {error.message}"
            raise error from None  # the requests exception text may carry the URL with auth
        exchange.duration_ms = int((time.monotonic() - started) * 1000)
        exchange.status = response.status_code
        exchange.response_headers = {
            h: response.headers[h] for h in _RECORDED_RESPONSE_HEADERS if h in response.headers
        }
        exchange.response_body = _recorded_body(response, secret_fields)
        if response.status_code >= 400:
            error = error_from_response(response, idempotent=idempotent)
            exchange.error = f"{error.code}: {error.message}"
            if error.code == errors.AUTH_EXPIRED and self.on_auth_failure is not None:
                self.on_auth_failure(error)
            raise error
        return TwilioResponse(
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            exchange=exchange,
        )

    @staticmethod
    def _recorded_request_body(form, json_body, files, secret_fields) -> Any:
        body: dict[str, Any] = {}
        if form:
            body["form"] = _redact_pairs(form, secret_fields)
        if json_body is not None:
            body["json"] = redact_data(json_body, secret_fields)
        if files:
            body["files"] = {name: _describe_file(value) for name, value in files.items()}
        return body or None

    # Pagination
    def iter_pages(
        self,
        path: str,
        *,
        product: str = "api",
        params: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
        **kwargs,
    ) -> Iterator[TwilioResponse]:
        """Yield each page: follows `next_page_uri` (2010 API, relative) and
        `meta.next_page_url` (v1/v2 APIs, absolute, re-based onto our configured host)."""
        page_path: str | None = path
        page_params = params
        pages = 0
        while page_path:
            response = self.get(page_path, product=product, params=page_params, **kwargs)
            pages += 1
            yield response
            if max_pages is not None and pages >= max_pages:
                return
            page_path = next_page_of(response.json())
            page_params = None  # the next-page link carries the query, PageToken included

    def list_records(
        self,
        path: str,
        key: str | None = None,
        *,
        limit: int | None = None,
        **kwargs,
    ) -> list[dict[str, Any]]:
        """All records across pages (up to `limit`). `key` defaults to v1/v2 `meta.key`."""
        records: list[dict[str, Any]] = []
        for page in self.iter_pages(path, **kwargs):
            body = page.json() or {}
            page_key = key or (body.get("meta") or {}).get("key")
            records.extend(body.get(page_key) or [])
            if limit is not None and len(records) >= limit:
                return records[:limit]
        return records


def next_page_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if body.get("next_page_uri"):
        return body["next_page_uri"]
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("next_page_url"):
        return meta["next_page_url"]
    return None


def _describe_file(value: Any) -> dict[str, Any]:
    """Files are recorded by name, type and size, never by content."""
    if isinstance(value, tuple | list):
        name, content, *rest = [*value, None][:3]
        size = len(content) if isinstance(content, bytes | str) else None
        return {"filename": name, "size": size, "content_type": rest[0] if rest else None}
    return {"filename": getattr(value, "name", None)}
