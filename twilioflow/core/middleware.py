import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from twilioflow.core.logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Tags the request and every log line it causes with one id (X-Request-ID in and out).

    Twilio's own `I-Twilio-Idempotency-Token` is not used here: it repeats on retries, and
    a request id should tell two deliveries apart.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
        request.request_id = request_id  # type: ignore[attr-defined]  # our own attribute on the request
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def forwarded_headers_normalise(request: HttpRequest) -> None:
    """Make X-Forwarded-Host/Port/Proto mean what the client-facing proxy saw. Idempotent.

    Only called when TRUST_PROXY_HEADERS is on (the headers are then set by our proxy).
    Two gaps in Django's own handling, both of which break Twilio signatures:

    * A chain of proxies appends: ``X-Forwarded-Host: flow.example.com, 10.0.0.5``. Django
      validates the whole string as one host (400 DisallowedHost); the first value is the
      one the client (Twilio) used.
    * USE_X_FORWARDED_PORT only feeds `get_port()`, which `get_host()` consults only when
      there is no Host header at all, i.e. never behind a real proxy. Twilio signs
      ``https://flow.example.com:8443/...``, so the forwarded port is folded into the
      forwarded host here (unless that host already names a port, or the port is the
      scheme's default, which Twilio leaves out of the URL).
    """
    meta = request.META
    for name in ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PROTO"):
        if name in meta:
            value = str(meta[name]).split(",", 1)[0].strip()
            if value:
                meta[name] = value
            else:
                del meta[name]  # an empty value is no value: fall back to Host / the socket
    port = meta.get("HTTP_X_FORWARDED_PORT")
    if port is None:
        return
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        del meta["HTTP_X_FORWARDED_PORT"]  # garbage from a misconfigured proxy: ignore it
        return
    host = meta.get("HTTP_X_FORWARDED_HOST") or meta.get("HTTP_HOST")
    if not host:
        return  # no Host at all: Django itself builds SERVER_NAME + get_port()
    from django.http.request import split_domain_port

    domain, existing_port = split_domain_port(host)
    if not domain or existing_port:
        return
    if port != ("443" if request.is_secure() else "80"):
        host = f"{host}:{port}"
    meta["HTTP_X_FORWARDED_HOST"] = host


class ForwardedHeadersMiddleware:
    """With TRUST_PROXY_HEADERS, normalise the proxy's X-Forwarded-* headers before anything
    (SecurityMiddleware, CommonMiddleware, signature checks) calls `request.get_host()`.
    Without it the headers are left alone, and Django ignores them (they are forgeable)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from django.conf import settings

        if getattr(settings, "TRUST_PROXY_HEADERS", False):
            forwarded_headers_normalise(request)
        return self.get_response(request)
