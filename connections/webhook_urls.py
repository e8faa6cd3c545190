"""A connection's public webhook addresses: what Twilio must be told to call.

They belong to the connection (one URL per purpose, keyed by its unguessable public id), so
the connection page can show them without reaching up into the triggers app that serves them.
"""

from __future__ import annotations

from django.conf import settings

from connections.models import Connection
from twilioflow.core.errors import VALIDATION_ERROR, TwilioFlowError

# Webhook purposes a number's configuration can send to us.
NUMBER_PURPOSES = ("messages", "voice", "status")
PURPOSE_LABELS = {
    "messages": "Incoming messages",
    "voice": "Incoming calls",
    "status": "Status callbacks",
    "events": "Generic signed webhook",
}
NO_BASE_URL = (
    "Set PUBLIC_BASE_URL (e.g. https://flow.example.com) to the public address Twilio reaches "
    "this server at: Twilio cannot call a private or local URL, and webhook signatures are "
    "checked against it."
)


def public_base_url(base_url: str | None = None) -> str:
    """The base Twilio must call (no trailing slash); VALIDATION_ERROR when not configured."""
    base = (base_url if base_url is not None else getattr(settings, "PUBLIC_BASE_URL", "")) or ""
    base = base.strip().rstrip("/")
    if not base:
        raise TwilioFlowError(VALIDATION_ERROR, NO_BASE_URL)
    return base


def webhook_urls(*, connection: Connection, base_url: str | None = None) -> dict[str, str]:
    """The connection's endpoint for each purpose a number can be configured with, plus the
    generic signed webhook ("events"). `base_url` defaults to settings.PUBLIC_BASE_URL."""
    base = public_base_url(base_url)
    return {
        purpose: f"{base}/hooks/twilio/{connection.public_id}/{purpose}"
        for purpose in (*NUMBER_PURPOSES, "events")
    }
