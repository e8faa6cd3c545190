"""Input cleaners, one per field type. Each returns the cleaned value or raises `Invalid`
with a message a person can act on. Nothing here touches the network."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.dateparse import parse_date, parse_datetime

if TYPE_CHECKING:
    from actions.fields import Field


class Invalid(ValueError):
    """A field value is unusable; the message says why."""


_url_validator = URLValidator(schemes=["http", "https"])
_email_validator = EmailValidator()
WHATSAPP_PREFIX = "whatsapp:"


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def sid_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"^(" + "|".join(prefixes) + r")[0-9a-fA-F]{32}$")


# --- cleaners: clean_<type>(value, field, *, default_country) ---------------------------------
def clean_raw(value: Any, field: Field, **_: Any) -> Any:
    return value


def clean_string(value: Any, field: Field, **_: Any) -> Any:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise Invalid("Expected text.")
    text = str(value)
    if field.max_length is not None and len(text) > field.max_length:
        raise Invalid(f"At most {field.max_length} characters (this is {len(text)}).")
    return text


clean_text = clean_string


def clean_integer(value: Any, field: Field, **_: Any) -> Any:
    if isinstance(value, bool):
        raise Invalid("Expected a whole number.")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise Invalid(f"Expected a whole number, got {value!r}.") from None
    if field.min_value is not None and number < field.min_value:
        raise Invalid(f"Must be at least {field.min_value}.")
    if field.max_value is not None and number > field.max_value:
        raise Invalid(f"Must be at most {field.max_value}.")
    return number


def clean_boolean(value: Any, field: Field, **_: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise Invalid("Expected true or false.")


def clean_choice(value: Any, field: Field, **_: Any) -> Any:
    text = str(value).strip()
    if text not in field.choices:
        raise Invalid(f"Must be one of: {', '.join(field.choices)}.")
    return text


def e164(value: str, default_country: str | None = None) -> str:
    """Parse a phone number to E.164; national numbers use `default_country`."""
    text = str(value).strip()
    region = None if text.startswith("+") else (default_country or None)
    result, problem = _e164(text, region, bool(default_country))
    if problem is not None:
        raise Invalid(problem)
    return result


# Every send validates its To and From: parsing with phonenumbers was ~5% of an engine step
# (issue 10's profile), so the answer for each (text, region) is remembered.
@functools.lru_cache(maxsize=8192)
def _e164(text: str, region: str | None, default_country: bool) -> tuple[str, str | None]:
    """(E.164, None) or ("", the problem)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        hint = (
            ""
            if text.startswith("+") or default_country
            else (" Use +<country code>… or set the workspace's default country.")
        )
        return "", f"{text!r} is not a phone number.{hint}"
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        return "", f"{text!r} is not a valid phone number."
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def clean_phone(value: Any, field: Field, *, default_country: str | None = None) -> Any:
    return e164(value, default_country)


def clean_whatsapp(value: Any, field: Field, *, default_country: str | None = None) -> Any:
    text = str(value).strip()
    number = text[len(WHATSAPP_PREFIX) :] if text.lower().startswith(WHATSAPP_PREFIX) else text
    return WHATSAPP_PREFIX + e164(number, default_country)


_SHORT_CODE = re.compile(r"^[0-9]{5,6}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def clean_sender(value: Any, field: Field, *, default_country: str | None = None) -> Any:
    """A sending number (E.164), a short code (5–6 digits), an alphanumeric sender ID (1–11
    letters, digits or spaces, at least one letter), a `whatsapp:` sender (kept as given, so
    that the send gate can refuse it on a channel other than WhatsApp instead of silently
    sending an SMS) or a Messaging Service SID (MG…)."""
    text = str(value).strip()
    if text[:2].upper() == "MG":
        if not sid_pattern(("MG",)).match(text):
            raise Invalid("A Messaging Service SID is MG followed by 32 hexadecimal characters.")
        return text
    if text.lower().startswith(WHATSAPP_PREFIX):
        return WHATSAPP_PREFIX + e164(text[len(WHATSAPP_PREFIX) :], default_country)
    if _SHORT_CODE.match(text):
        return text
    if _ALPHANUMERIC_SENDER.match(text):
        return text
    return e164(text, default_country)


def clean_address(value: Any, field: Field, *, default_country: str | None = None) -> Any:
    """A phone number, or an e-mail address (Verify's email channel)."""
    text = str(value).strip()
    if "@" in text:
        try:
            _email_validator(text)
        except ValidationError:
            raise Invalid(f"{text!r} is not a valid e-mail address.") from None
        return text
    return e164(text, default_country)


def clean_url(value: Any, field: Field, **_: Any) -> Any:
    text = str(value).strip()
    try:
        _url_validator(text)
    except ValidationError:
        raise Invalid(f"{text!r} is not an absolute http(s) URL.") from None
    if "_" in (urlsplit(text).hostname or ""):
        raise Invalid("Twilio rejects host names with underscores.")
    return text


def clean_sid(value: Any, field: Field, **_: Any) -> Any:
    text = str(value).strip()
    if not sid_pattern(field.sid_prefixes).match(text):
        kinds = " or ".join(field.sid_prefixes)
        raise Invalid(f"Expected a {kinds} SID: {kinds} followed by 32 hexadecimal characters.")
    return text


def clean_list(value: Any, field: Field, *, default_country: str | None = None) -> Any:
    if isinstance(value, str):
        items = [part.strip() for part in re.split(r"[\n,]", value) if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise Invalid("Expected a list.")
    if field.max_items is not None and len(items) > field.max_items:
        raise Invalid(f"At most {field.max_items} items (got {len(items)}).")
    from actions.fields import Field as FieldType

    item_field = FieldType(name=field.name, type=field.item_type)
    cleaned = []
    for index, item in enumerate(items, start=1):
        try:
            cleaned.append(item_field.clean(item, default_country=default_country))
        except Invalid as exc:
            raise Invalid(f"Item {index}: {exc}") from None
    return cleaned


def clean_json(value: Any, field: Field, **_: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise Invalid(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    if not isinstance(value, dict):
        raise Invalid("Expected a JSON object.")
    return value


def clean_twiml(value: Any, field: Field, **_: Any) -> Any:
    text = str(value).strip()
    if field.max_length is not None and len(text) > field.max_length:
        raise Invalid(f"TwiML may be at most {field.max_length} characters (this is {len(text)}).")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - our own user's TwiML, no entities resolved
    except ElementTree.ParseError as exc:
        raise Invalid(f"TwiML is not well-formed XML: {exc}.") from None
    if root.tag != "Response":
        raise Invalid(f"TwiML must have <Response> as its root, not <{root.tag}>.")
    return text


def clean_datetime(value: Any, field: Field, **_: Any) -> Any:
    moment = value if isinstance(value, datetime) else parse_datetime(str(value).strip())
    if moment is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value).strip()
    if parse_date(text) is not None:
        return f"{text}T00:00:00Z"
    raise Invalid("Expected an ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:00:00Z).")


# --- message text ------------------------------------------------------------------------
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
