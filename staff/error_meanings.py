"""What an error code on the dashboard means: Twilio's numeric codes most seen on messages
and calls (see /work/shared/reference/twilio-api.md §4.2), and our own stable codes."""

from __future__ import annotations

TWILIO_ERRORS = {
    "20003": "Authentication failed: the Account SID or Auth Token is wrong or was rotated.",
    "20404": "The resource was not found at Twilio.",
    "20429": "Too many concurrent requests to Twilio (retried with backoff).",
    "21211": "Invalid 'To' phone number.",
    "21408": "Sending to this region is not enabled (Messaging Geo Permissions).",
    "21608": "Trial account: the 'To' number is not verified.",
    "21610": "The recipient replied STOP to this sender (unsubscribed).",
    "21614": "'To' is not a mobile number (landline or invalid).",
    "21635": "'To' is a landline.",
    "30001": "Queue overflow: too many messages queued for this sender.",
    "30002": "The account was suspended.",
    "30003": "Unreachable destination handset (off, out of coverage).",
    "30004": "Message blocked (by the recipient or their carrier).",
    "30005": "Unknown destination handset (the number does not exist).",
    "30006": "Landline or unreachable carrier.",
    "30007": "Filtered by the carrier (content or sender registration: A2P 10DLC, toll-free).",
    "30008": "Unknown error from the carrier.",
    "30034": "US A2P 10DLC: sent from an unregistered number.",
    "63016": "WhatsApp: free-form message outside the 24-hour window; use a template.",
}
OUR_ERRORS = {
    "OPTED_OUT": "Not sent: the contact opted out.",
    "QUIET_HOURS": "Held or refused for the recipient's quiet hours.",
    "WHATSAPP_WINDOW_CLOSED": "Not sent: the WhatsApp 24-hour window was closed.",
    "SENDER_INVALID": "Not sent: the sender does not fit the channel or destination.",
    "SEND_CAP_REACHED": "Not sent: segment limit or daily spend cap.",
    "VALIDATION_ERROR": "Invalid input to Twilio or to a step.",
    "AUTH_EXPIRED": "The connection's credentials were refused: reconnect it.",
    "RATE_LIMITED": "Twilio rate limit (retried).",
    "PROVIDER_ERROR": "Twilio answered with a server error.",
    "CONNECTION_FAILED": "Could not reach Twilio.",
    "TIMEOUT": "Twilio did not answer in time.",
    "OUTCOME_UNKNOWN": "The send may or may not have happened: check Twilio, then replay.",
    "CHILD_FAILED": "Child runs failed.",
    "CANCELED": "Canceled by a user.",
}


def error_meaning(code: str) -> str:
    code = str(code or "")
    return TWILIO_ERRORS.get(code) or OUR_ERRORS.get(code) or "See Twilio's error dictionary."
