"""Twilio webhook signatures (`X-Twilio-Signature`), checked with the official SDK.

Twilio signs the exact URL it requested (scheme, host, optional port, path and query string,
percent-encoding included) plus, for form POSTs, every POST parameter; JSON webhooks instead
carry `bodySHA256=<hex>` in the URL and the body is hashed. `twilio.request_validator`
implements the algorithm (sorted keys and values, with/without-port variants); this module
only decides *which URL* and *which params* to hand it, which is where integrations break:

* The URL is `PUBLIC_BASE_URL` + `request.get_full_path()` when that setting is configured,
  otherwise scheme + host from the request. The request-derived form honours
  X-Forwarded-Proto/Host/Port only when `TRUST_PROXY_HEADERS` turned on Django's proxy
  settings, so a client cannot choose the URL its signature is checked against.
* Form POSTs pass the `QueryDict` itself (repeated keys survive via `getlist`); GETs pass no
  params (they are already in the URL's query); JSON passes the raw body as `str`.
* A body the signature would not cover (JSON without `bodySHA256`, multipart, a body on a
  non-POST or of any other type) is rejected rather than accepted unauthenticated.
* Malformed input never raises; it fails closed with `False`.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils.encoding import escape_uri_path
from twilio.request_validator import RequestValidator

from twilioflow.core.middleware import forwarded_headers_normalise

__all__ = ["SIGNATURE_HEADER", "public_url", "verify"]

SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

security_log = logging.getLogger("twilioflow.security")


def _script_prefix(request: HttpRequest) -> str:
    """The part of `request.path` that is SCRIPT_NAME / FORCE_SCRIPT_NAME (usually "")."""
    path, path_info = request.path, request.path_info
    if path_info and path.endswith(path_info):
        return path[: len(path) - len(path_info)]
    return ""


def public_url(request: HttpRequest) -> str:
    """The exact URL Twilio requested, query string included and never re-encoded.

    With `PUBLIC_BASE_URL` (e.g. ``https://flow.example.com`` or ``https://example.com/tf``) the
    result is that base + `request.get_full_path()`: behind a proxy that strips ``/tf`` Django
    sees ``/hooks/x`` and the prefix is kept. If Django itself is mounted under the same prefix
    (SCRIPT_NAME/FORCE_SCRIPT_NAME, so `get_full_path()` already starts with it), the prefix is
    not doubled.

    Without it, scheme and host come from the request (`build_absolute_uri()` semantics, minus
    its dot-segment normalisation): X-Forwarded-* count only if TRUST_PROXY_HEADERS switched on
    SECURE_PROXY_SSL_HEADER / USE_X_FORWARDED_HOST / USE_X_FORWARDED_PORT. Then the first
    value of a proxy chain counts and X-Forwarded-Port is honoured even with a Host header
    (`forwarded_headers_normalise`, also run by the middleware; it is idempotent, and run here
    too so that a request that bypassed the middleware is judged the same way). May raise
    `DisallowedHost` for a Host outside ALLOWED_HOSTS.
    """
    full_path = request.get_full_path()
    base = (getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    if base:
        prefix = escape_uri_path(_script_prefix(request)).rstrip("/")
        if prefix and urlsplit(base).path.endswith(prefix) and full_path.startswith(prefix + "/"):
            full_path = full_path[len(prefix) :]
        return base + full_path
    if getattr(settings, "TRUST_PROXY_HEADERS", False):
        forwarded_headers_normalise(request)
    return f"{request.scheme}://{request.get_host()}{full_path}"


def _params_for(request: HttpRequest, url: str):
    """What the SDK must sign besides the URL, or None when the request cannot be verified."""
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
        return request.POST  # the QueryDict: repeated keys reach the SDK through getlist()
    # The SDK's own test for a JSON webhook; without it a str body would make it raise.
    if "bodySHA256" in parse_qs(urlsplit(url).query):
        return request.body.decode("utf-8")  # strict: not UTF-8 -> UnicodeDecodeError -> False
    if request.body:
        # JSON without bodySHA256, multipart, a form body on PUT, text/plain...: the signature
        # would cover the URL only, leaving the body unauthenticated. Twilio never sends these.
        return None
    return {}  # GET (or an empty body): the parameters are already in the URL's query


def verify(request: HttpRequest, auth_token: str) -> bool:
    """True only if `X-Twilio-Signature` is Twilio's signature of this request under `auth_token`.

    `auth_token` is the account's primary Auth Token (a subaccount signs with its own). A
    missing header, an empty token or any malformed input (bad Host, oversized or undecodable
    body, unparseable URL...) returns False; nothing is raised.
    """
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature or not auth_token:
        return False
    try:
        url = public_url(request)
        params = _params_for(request, url)
        if params is None:
            return False
        return bool(RequestValidator(auth_token).validate(url, params, signature))
    except Exception as exc:  # fail closed: DisallowedHost, RequestDataTooBig, ValueError...
        security_log.warning("Unverifiable Twilio webhook request: %s", type(exc).__name__)
        return False
