"""A connection's public webhook addresses: what Twilio must be told to call.

They belong to the connection (one URL per purpose, keyed by its unguessable public id), so
the connection page can show them without reaching up into the triggers app that serves them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from twilioflow.core.errors import VALIDATION_ERROR, TwilioFlowError

if TYPE_CHECKING:  # no model import at run time: the trigger kinds read the purposes early
    from connections.models import Connection

# The endpoint purposes, defined here once: the last segment of a webhook URL. Everything
# else (the views' accepted purposes, the trigger kinds' `endpoints`) derives from these.
MESSAGES, VOICE, STATUS, EVENTS, WEBHOOK = "messages", "voice", "status", "events", "webhook"
# What a number's configuration can send to us (SmsUrl, VoiceUrl, StatusCallback).
NUMBER_PURPOSES = (MESSAGES, VOICE, STATUS)
# The connection-wide endpoints, /hooks/twilio/<connection id>/<purpose>.
CONNECTION_PURPOSES = (*NUMBER_PURPOSES, EVENTS)
# Every endpoint: plus a trigger's own generic webhook, /hooks/twilio/<id>/webhook/<trigger id>.
ENDPOINT_PURPOSES = (*CONNECTION_PURPOSES, WEBHOOK)
PURPOSE_LABELS = {
    MESSAGES: "Incoming messages",
    VOICE: "Incoming calls",
    STATUS: "Status callbacks",
    EVENTS: "Generic signed webhook",
}
NO_BASE_URL = (
    "Set PUBLIC_BASE_URL (e.g. https://flow.example.com) to the public address Twilio reaches "
    "this server at: Twilio cannot call a private or local URL, and webhook signatures are "
    "checked against it."
)


UNREACHABLE_HELP = (
    "Twilio calls webhooks from the internet, so PUBLIC_BASE_URL must be a public https "
    "address (e.g. https://flow.example.com). While developing, run a tunnel such as "
    "`ngrok http 8000` or `cloudflared tunnel --url http://127.0.0.1:8000`, set PUBLIC_BASE_URL "
    "to the https URL it prints (and add its host to ALLOWED_HOSTS), then restart `make run`."
)


def address_problem(address: str) -> str | None:
    """Why an IP address is not on the public internet (loopback, private, link-local,
    multicast, reserved, unspecified, an IPv4-mapped one of these), or None."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return f"{address} is a local or private address"
    return None


def unreachable_reason(base_url: str, *, allow_http: bool = False) -> str | None:
    """Why a server on the internet (Twilio; a run-end webhook's sender) cannot or must not
    call `base_url` (plain http, localhost, a private, link-local, multicast or reserved
    address, a name without a domain), or None when it looks public. No DNS lookup: only
    what the URL itself says (`address_problem` checks what a name resolves to)."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return f"{base_url!r} is not a URL"
    if not host or parts.scheme not in ("http", "https"):
        return f"{base_url!r} is not a URL"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        is_address = True
    except ValueError:
        is_address = False
    if is_address:
        problem = address_problem(host)
        if problem:
            return problem
    elif host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan", ".home.arpa")):
        return f"{host} is a local name"
    elif "." not in host:
        return f"{host} is not a public domain name"
    if parts.scheme != "https" and not allow_http:
        return "it is plain http (Twilio's signatures and your users' data need https)"
    return None


def public_base_url(base_url: str | None = None) -> str:
    """The base Twilio must call (no trailing slash); VALIDATION_ERROR when not configured."""
    base = (base_url if base_url is not None else getattr(settings, "PUBLIC_BASE_URL", "")) or ""
    base = base.strip().rstrip("/")
    if not base:
        raise TwilioFlowError(VALIDATION_ERROR, NO_BASE_URL)
    return base


def endpoint_url(base: str, connection: Connection, purpose: str) -> str:
    """`<base>/hooks/twilio/<connection id>/<purpose>`; `base` as given (may be "")."""
    return f"{base}/hooks/twilio/{connection.public_id}/{purpose}"


def webhook_urls(*, connection: Connection, base_url: str | None = None) -> dict[str, str]:
    """The connection's endpoint for each purpose a number can be configured with, plus the
    generic signed webhook ("events"). `base_url` defaults to settings.PUBLIC_BASE_URL."""
    base = public_base_url(base_url)
    return {purpose: endpoint_url(base, connection, purpose) for purpose in CONNECTION_PURPOSES}
