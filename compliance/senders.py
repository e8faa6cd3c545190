"""Which kind of sender a `From` is, and whether it fits a channel and a destination."""

from __future__ import annotations

import functools
import re

import phonenumbers

from actions.validation import WHATSAPP_PREFIX

MESSAGING_SERVICE_RE = re.compile(r"^MG[0-9a-fA-F]{32}$")
SHORT_CODE_RE = re.compile(r"^[0-9]{5,6}$")
# Twilio: up to 11 characters, A–Z a–z 0–9 and space, at least one letter.
ALPHANUMERIC_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
# Alphanumeric sender IDs are not supported to these countries (Twilio's list, the big ones).
NO_ALPHANUMERIC = frozenset({"US", "CA"})

LONG_CODE = "long_code"
TOLL_FREE = "toll_free"
SHORT_CODE = "short_code"
ALPHANUMERIC = "alphanumeric"
WHATSAPP = "whatsapp"
MESSAGING_SERVICE = "messaging_service"
UNKNOWN = "unknown"


# Pure functions of a string, asked on every send (phonenumbers' parsing was ~10% of an
# engine step in issue 10's profile): remembered for the few thousand addresses in use.
@functools.lru_cache(maxsize=8192)
def sender_kind(sender: str) -> str:
    text = (sender or "").strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        return WHATSAPP if _e164(text[len(WHATSAPP_PREFIX) :]) else UNKNOWN
    if MESSAGING_SERVICE_RE.match(text):
        return MESSAGING_SERVICE
    if text.startswith("+"):
        number = _e164(text)
        if number is None:
            return UNKNOWN
        toll_free = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE
        return TOLL_FREE if toll_free else LONG_CODE
    if SHORT_CODE_RE.match(text):
        return SHORT_CODE
    if ALPHANUMERIC_RE.match(text):
        return ALPHANUMERIC
    return UNKNOWN


def _e164(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


@functools.lru_cache(maxsize=8192)
def region_of(address: str) -> str | None:
    """ "+14155550123" / "whatsapp:+33…" → "US" / "FR"; None when unknown."""
    text = address[len(WHATSAPP_PREFIX) :] if address.lower().startswith(WHATSAPP_PREFIX) else address
    number = _e164(text)
    return phonenumbers.region_code_for_number(number) if number is not None else None


def sender_problem(channel: str, sender: str, to: str) -> str | None:
    """Why `sender` cannot send `channel` ("sms", "mms", "whatsapp", "call") to `to`, or None."""
    kind = sender_kind(sender)
    if kind == UNKNOWN:
        return (
            f"{sender!r} is not a sender: use an E.164 number, a 5–6 digit short code, an "
            "alphanumeric sender ID (1–11 letters/digits, at least one letter), a "
            "whatsapp:+E.164 sender or a Messaging Service SID (MG…)."
        )
    if channel == "whatsapp":
        if kind not in (WHATSAPP, MESSAGING_SERVICE):
            return (
                f"{sender!r} is not a WhatsApp sender; WhatsApp needs whatsapp:+E.164 "
                "(or a Messaging Service)."
            )
        return None
    if kind == WHATSAPP:
        what = "a call" if channel == "call" else "an SMS/MMS"
        return (
            f"{sender!r} is a WhatsApp sender and cannot send {what}; use twilio/send-whatsapp, "
            "or a phone number, short code or Messaging Service here."
        )
    if channel == "call":
        if kind not in (LONG_CODE, TOLL_FREE):
            return f"{sender!r} cannot place calls; calls need an E.164 number."
        return None
    if kind == ALPHANUMERIC:
        if channel == "mms":
            return f"{sender!r}: alphanumeric sender IDs cannot send MMS."
        region = region_of(to)
        if region in NO_ALPHANUMERIC:
            return (
                f"{sender!r}: alphanumeric sender IDs are not supported to {region} numbers; "
                "use a long code, toll-free number, short code or Messaging Service."
            )
    return None
