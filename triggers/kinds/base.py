"""The trigger-kind contract. One module per kind under `triggers/kinds/`, each a subclass of
`TriggerKind` declaring slug, title, description, the endpoint `purpose` it arrives on and a
realistic `sample`, and implementing `matches`, `parse` and `dedupe_key` as small pure
functions of the request parameters (Zulip's fixture-driven webhook model: every kind has
captured fixtures under `tests/fixtures/twilio/<slug-without-prefix>/`).

`params` is what the endpoint received, Twilio's form parameters with Twilio's own names:
a mapping of str → list[str] (`dict(request.POST.lists())`). A Django `QueryDict` itself
and a plain str → str dict (the `sample`s) are accepted too. Read it through `first()`.

The payload `parse` returns is what a workflow sees as `trigger`. It keeps Twilio's names
(`{{ trigger.From }}`, `{{ trigger.Body }}`) with numbers as ints, plus a few normalised
extras in snake_case (`media`, `keyword`, `from_number`). Keys a workflow is likely to use
are always present (None when Twilio left them out), because an undefined template
variable is an error; the optional extras (geo fields, WhatsApp buttons…) appear only when
Twilio sent a non-empty value, so use `{{ trigger.FromCity|default:"" }}` for those.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from actions.validation import WHATSAPP_PREFIX

# Which of our endpoints a request arrived on. "messages": a number's or Messaging
# Service's inbound message URL; "voice": a number's voice URL; "status": status callbacks
# (messages, calls, recordings); "webhook": the generic signed webhook.
PURPOSES = ("messages", "voice", "status", "webhook", "poll")

GEO_FIELDS = (
    "FromCity", "FromState", "FromZip", "FromCountry",
    "ToCity", "ToState", "ToZip", "ToCountry",
)

Params = Mapping[str, Any]


# --- reading parameters -------------------------------------------------------------------

def values(params: Params, name: str) -> list[str]:
    """Every value sent for `name` (a repeated form key gives several), in order."""
    getlist = getattr(params, "getlist", None)
    if callable(getlist):  # a QueryDict: `.get()` would give only the last value
        return [str(v) for v in getlist(name)]
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def first(params: Params, name: str, default: str | None = None) -> str | None:
    """The first value sent for `name`, or `default` when it was not sent at all."""
    found = values(params, name)
    return found[0] if found else default


def first_of(params: Params, names: Iterable[str], default: str | None = None) -> str | None:
    """The first non-empty value among `names` (a current name, then its legacy aliases)."""
    for name in names:
        value = first(params, name)
        if value:
            return value
    return default


# Numbers from a payload end up in integer columns (StepRun.delivery_error_code) and in
# loops, so they are bounded by what the smallest column holds (PostgreSQL's integer) and,
# for counts, by what Twilio can send. Anything outside is treated as absent (None); the
# original text stays in the event's params and raw body.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
MAX_MEDIA = 10  # Twilio: at most 10 media per message (MediaUrl0..MediaUrl9)
# Twilio refuses bodies over 1600 characters, i.e. at most 24 UCS-2 segments; headroom for
# carriers that split differently.
MAX_SEGMENTS = 100
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
_COUNT = re.compile(r"\+?[0-9]+")


def to_int(value: str | None, *, low: int = INT_MIN, high: int = INT_MAX) -> int | None:
    """"42" → 42; a missing, blank, non-numeric or out-of-range (`low`..`high`) value → None.

    Only ASCII digits (no "1_000", no "٤٢"), and at most 19 of them: `int()` on a 5,000-digit
    string raises (Python's int-str limit) or costs quadratic time before we can bound it."""
    if value is None:
        return None
    text = str(value).strip()
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if low <= number <= high else None


def to_count(value: str | None, maximum: int) -> int | None:
    """A count Twilio sends (NumMedia…): garbage or negative → None, larger than Twilio can
    send (however many digits) → `maximum`."""
    text = str(value).strip() if value is not None else ""
    if not _COUNT.fullmatch(text):
        return None
    return min(int(text), maximum) if len(text) <= 19 else maximum


def present(params: Params, names: Iterable[str], *, numeric: Iterable[str] = ()) -> dict[str, Any]:
    """The named parameters Twilio sent with a non-empty value (the rest left out), those in
    `numeric` as ints. Twilio sends geo fields it cannot resolve as "", so "" is absence."""
    numeric = set(numeric)
    found: dict[str, Any] = {}
    for name in names:
        value = first(params, name)
        if value:
            found[name] = to_int(value) if name in numeric else value
    return found


def strip_channel(address: str | None) -> str | None:
    """"whatsapp:+14155550123" → "+14155550123"; other addresses unchanged."""
    if address and address.lower().startswith(WHATSAPP_PREFIX):
        return address[len(WHATSAPP_PREFIX):]
    return address


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def keyword_of(body: str | None) -> str:
    """The message's first word, upper-cased, for keyword routing ("stop." → "STOP").

    Words are split on any whitespace (so leading spaces and line breaks don't matter);
    punctuation (Unicode category P*) is stripped from both ends of the word, so "Stop.",
    "STOP!", '"stop"' and "¿Dónde" give "STOP", "STOP", "STOP" and "DÓNDE", while inner
    punctuation stays ("opt-in" → "OPT-IN"). A word made only of punctuation ("...", "-") is
    skipped. Symbols and emoji are not punctuation: "👍 yes" → "👍". No words → "".
    """
    for word in (body or "").split():
        start, end = 0, len(word)
        while start < end and _is_punctuation(word[start]):
            start += 1
        while end > start and _is_punctuation(word[end - 1]):
            end -= 1
        if start < end:
            return word[start:end].upper()
    return ""


def media_of(params: Params) -> list[dict[str, str | None]]:
    """[{url, content_type}] from MediaUrl{N}/MediaContentType{N} for N < NumMedia ≤ 10.

    The bound matters: NumMedia=10000000 in a 433-byte request used to cost ~10 s of CPU."""
    media = []
    for index in range(to_count(first(params, "NumMedia"), MAX_MEDIA) or 0):
        url = first(params, f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": first(params, f"MediaContentType{index}")})
    return media


def join_key(*parts: str | None) -> str | None:
    """"SID:status[:more]" from the non-empty parts; None without the leading SID."""
    if not parts or not parts[0]:
        return None
    return ":".join(part.strip() for part in parts if part and part.strip())


# --- the contract -------------------------------------------------------------------------

class TriggerKind:
    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    purpose: ClassVar[str]
    # Form params as Twilio posts them (str → str), for `send_test_webhook` and the docs.
    sample: ClassVar[dict[str, str]] = {}
    # Status kinds: the parameter naming the event and the values Twilio documents for it.
    event_field: ClassVar[str | None] = None
    events: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def matches(cls, params: Params) -> bool:
        """Is this request of this kind, given that it arrived on `cls.purpose`?"""
        return True

    @classmethod
    def parse(cls, params: Params) -> dict[str, Any]:
        """The payload a workflow sees as `trigger`."""
        raise NotImplementedError

    # Parameters Twilio always sends for this kind; a tuple lists aliases (any one will do).
    # A signed request missing one is stored as invalid and starts nothing.
    required: ClassVar[tuple[str | tuple[str, ...], ...]] = ()

    @classmethod
    def dedupe_key(cls, params: Params) -> str | None:
        """The request's identity from its signed content (SID + status…), which makes a
        redelivery or a replay a duplicate. None: the request has no identity, and the
        endpoint keys it by a hash of its signed content instead."""
        return None

    @classmethod
    def missing(cls, params: Params) -> list[str]:
        """The `required` parameters absent or blank in `params` (aliases joined by "/")."""
        absent = []
        for names in cls.required:
            names = (names,) if isinstance(names, str) else names
            if not any((value or "").strip() for value in (first(params, n) for n in names)):
                absent.append("/".join(names))
        return absent

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "slug": cls.slug,
            "title": cls.title,
            "description": cls.description,
            "purpose": cls.purpose,
            "events": list(cls.events),
            "sample_payload": cls.parse(cls.sample),
        }


class InboundMessage(TriggerKind):
    """Shared by the inbound SMS/MMS and WhatsApp kinds (purpose "messages")."""

    purpose = "messages"
    channel: ClassVar[str]  # "sms" | "whatsapp", as the reply waits record it
    required = (("MessageSid", "SmsMessageSid", "SmsSid"), "From", "To")

    @classmethod
    def is_whatsapp(cls, params: Params) -> bool:
        return (first(params, "From") or "").lower().startswith(WHATSAPP_PREFIX)

    @classmethod
    def parse(cls, params: Params) -> dict[str, Any]:
        body = first(params, "Body") or ""
        sender, recipient = first(params, "From"), first(params, "To")
        return {
            "MessageSid": first_of(params, ("MessageSid", "SmsMessageSid", "SmsSid")),
            "AccountSid": first(params, "AccountSid"),
            "MessagingServiceSid": first(params, "MessagingServiceSid"),
            "From": sender,
            "To": recipient,
            "Body": body,
            "NumMedia": to_count(first(params, "NumMedia"), MAX_MEDIA) or 0,
            "NumSegments": to_count(first(params, "NumSegments"), MAX_SEGMENTS) or 1,
            "media": media_of(params),
            "keyword": keyword_of(body),
            "from_number": strip_channel(sender),
            "to_number": strip_channel(recipient),
            # Present only with a Messaging Service using Advanced Opt-Out.
            **present(params, ("OptOutType",)),
            **present(params, GEO_FIELDS),
        }

    @classmethod
    def dedupe_key(cls, params: Params) -> str | None:
        # An inbound message has one delivery event, so its SID alone identifies it.
        return join_key(first_of(params, ("MessageSid", "SmsMessageSid", "SmsSid")))

    @classmethod
    def contact(cls, payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(sender, our number) as plain E.164, without any channel prefix: the pair a
        "wait for reply" step is keyed on. Reply with `From`/`To` swapped, which keep it."""
        return strip_channel(payload.get("From")), strip_channel(payload.get("To"))
