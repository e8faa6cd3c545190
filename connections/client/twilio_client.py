"""`TwilioClient`: one connection's credentials and the request loop. Each attempt is sent
once, recorded as a redacted `Exchange`, mapped to a `TwilioFlowError` on failure, and
retried only when the `RetryPolicy` says it is safe."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from connections.client import paging
from connections.client.encoding import encode_form
from connections.client.errors import error_from_exception, error_from_response
from connections.client.exchange import (
    UNPARSED,
    Exchange,
    parse_json,
    recorded_request_body,
    recorded_response_headers,
    redact_headers,
    redact_url,
)
from connections.client.response import TwilioResponse
from connections.client.retry import NO_RETRY, RetryPolicy
from connections.client.session import IDEMPOTENT_METHODS, base_url, default_timeout, session_for
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_text, remember_secret

logger = logging.getLogger("connections.client")


class TwilioClient:
    def __init__(
        self,
        *,
        account_sid: str,
        username: str,
        password: str,
        pool_key: Hashable = None,
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
        self.timeout = timeout or default_timeout()
        self.sleep = sleep
        self.exchanges: list[Exchange] = []

    # URLs
    @staticmethod
    def base_url(product: str) -> str:
        return base_url(product)

    def url(self, path: str, product: str = "api") -> str:
        """Absolute URL on the configured base. Absolute input (a v1/v2 `next_page_url`) is
        re-based, so paging never leaves the host we were configured with."""
        path = path.replace("{AccountSid}", self.account_sid).replace("$TWILIO_ACCOUNT_SID", self.account_sid)
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            path = urlunsplit(("", "", parts.path, parts.query, ""))
        if not path.startswith("/"):
            path = "/" + path
        return base_url(product) + path

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
        secret_names = frozenset(secret_fields)
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
                    secret_fields=secret_names,
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

    def get(self, path: str, **kwargs: Any) -> TwilioResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TwilioResponse:
        return self.request("POST", path, **kwargs)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        json_body: Any,
        files: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        timeout: float | tuple[float, float] | None,
        secret_fields: frozenset[str],
    ) -> TwilioResponse:
        query = encode_form(params)
        form = encode_form(data) if data is not None else None
        request_headers = {"Accept": "application/json", **(headers or {})}
        exchange = Exchange(
            method=method,
            url=redact_url(url + (("?" + urlencode(query)) if query else ""), secret_fields),
            request_headers=redact_headers(request_headers),
            request_body=recorded_request_body(form, json_body, files, secret_fields),
        )
        self.exchanges.append(exchange)
        started = time.monotonic()
        try:
            response = session_for(self._pool_key).request(
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
            exchange.error = redact_text(f"{error.code}: {error.message}")
            raise error from None  # the requests exception text may carry the URL with auth
        exchange.duration_ms = int((time.monotonic() - started) * 1000)
        exchange.status = response.status_code
        exchange.response_headers = recorded_response_headers(response)
        content = response.content
        content_type = response.headers.get("Content-Type", "")
        parsed = parse_json(content) if "json" in content_type else UNPARSED
        exchange.record_response_body(content, content_type, secret_fields)
        if response.status_code >= 400:
            error = error_from_response(response, idempotent=idempotent)
            exchange.error = redact_text(f"{error.code}: {error.message}")
            if error.code == errors.AUTH_EXPIRED and self.on_auth_failure is not None:
                self.on_auth_failure(error)
            raise error
        twilio_response = TwilioResponse(
            status=response.status_code, headers=response.headers, content=content, exchange=exchange
        )
        if parsed is not UNPARSED:
            twilio_response._parsed = parsed  # parsed once, here
        return twilio_response

    # Pagination
    def iter_pages(
        self,
        path: str,
        *,
        product: str = "api",
        params: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
        **kwargs: Any,
    ) -> Iterator[TwilioResponse]:
        """Yield each page: follows `next_page_uri` (2010 API, relative) and
        `meta.next_page_url` (v1/v2 APIs, absolute, re-based onto our configured host)."""
        return paging.iter_pages(
            self.get, path, product=product, params=params, max_pages=max_pages, **kwargs
        )

    def list_records(
        self,
        path: str,
        key: str | None = None,
        *,
        limit: int | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """All records across pages (up to `limit`). `key` defaults to v1/v2 `meta.key`."""
        return paging.collect_records(self.iter_pages(path, **kwargs), key, limit=limit)
