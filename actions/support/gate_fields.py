"""Fields every sending action carries for the send gate (compliance/gate.py). They are
read by the gate and never sent to Twilio (each action names the parameters it sends)."""

from __future__ import annotations

from actions.fields import Field

TRANSACTIONAL = Field(
    "transactional",
    "boolean",
    label="Transactional",
    default=False,
    help="A one-time code, an order update, a reply the person asked for: not held by quiet "
    "hours. Consent, the WhatsApp window, the sender and the caps still apply.",
)
QUIET_HOURS = Field(
    "quiet_hours",
    "choice",
    label="Inside quiet hours",
    choices=("wait", "fail"),
    default="wait",
    help="wait (default): the step waits until the recipient's quiet hours end; fail: the "
    "step fails with QUIET_HOURS.",
)
SHORTEN_URLS = Field(
    "ShortenUrls",
    "boolean",
    label="Shorten links",
    help="Twilio shortens the links in the Body (needs a Messaging Service as the sender). "
    "The workspace's send policy can turn it on for every message.",
)
GATE_FIELDS = (TRANSACTIONAL, QUIET_HOURS)
