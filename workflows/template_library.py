"""The only tags and filters a workflow template may use.

The templating engine is built with `default_builtins = []`, so this `register` library is
the whole vocabulary: a hand-picked subset of Django's default tags and filters (no
include/extends/load/url/csrf_token/debug — nothing that touches files, the database or
settings) plus our own filters `e164`, `truncate`, `json` and a `date`/`time` that also read
ISO 8601 and RFC 2822 strings (Twilio's `Thu, 24 Aug 2023 05:01:45 +0000`).

Filters signal a bad value by raising `TemplateValueError`; the renderer turns it into a
TEMPLATE_ERROR that names the step and field.
"""

from __future__ import annotations

import json as _json
from contextvars import ContextVar
from datetime import date as _date
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.template import Library, defaultfilters, defaulttags
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from actions.validation import Invalid
from actions.validation import e164 as _e164

register = Library()

ALLOWED_TAGS = (
    "if",
    "for",
    "with",
    "firstof",
    "now",
    "comment",
    "verbatim",
    "templatetag",
    "spaceless",
)
ALLOWED_DJANGO_FILTERS = (
    "default",
    "default_if_none",
    "upper",
    "lower",
    "title",
    "capfirst",
    "length",
    "join",
    "first",
    "last",
    "slice",
    "cut",
    "add",
    "floatformat",
    "yesno",
    "pluralize",
    "truncatechars",
    "truncatewords",
    "urlencode",
    "stringformat",
)

for _name in ALLOWED_TAGS:
    register.tags[_name] = defaulttags.register.tags[_name]
for _name in ALLOWED_DJANGO_FILTERS:
    # The functions themselves carry is_safe/expects_localtime, so copying them keeps behaviour.
    register.filters[_name] = defaultfilters.register.filters[_name]

# Filters that turn an undefined variable into a value instead of an error.
DEFAULTING_FILTERS = frozenset({defaultfilters.default, defaultfilters.default_if_none})

# Set by the renderer for the duration of one render: the workspace's default country, read by
# `e164` when no country argument is given.
default_country: ContextVar[str | None] = ContextVar("twilioflow_template_default_country", default=None)


class TemplateValueError(Exception):
    """A template could not produce a value; `variable` names the culprit when known."""

    def __init__(self, message: str, *, variable: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.variable = variable


class UndefinedVariableError(TemplateValueError):
    def __init__(self, variable: str) -> None:
        super().__init__(f'undefined variable "{variable}"', variable=variable)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register.filter(name="e164", is_safe=False)
def e164_filter(value: Any, country: str | None = None) -> str:
    """`{{ trigger.From|e164 }}` or `{{ vars.phone|e164:"GB" }}` → `+447700900123`."""
    if value is None or isinstance(value, bool) or not str(value).strip():
        raise TemplateValueError(f"e164: {_short(value)} is not a phone number.")
    try:
        return _e164(str(value), country or default_country.get())
    except Invalid as exc:
        raise TemplateValueError(f"e164: {exc}") from None


@register.filter(is_safe=False)
def truncate(value: Any, length: Any) -> str:
    """The first `length` characters, followed by "…" when anything was cut."""
    try:
        limit = int(length)
    except (TypeError, ValueError):
        raise TemplateValueError(f"truncate: {_short(length)} is not a whole number.") from None
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: max(limit, 0)] + "…"


@register.filter(name="json", is_safe=False)
def json_filter(value: Any) -> str:
    """JSON text for a value (unicode kept as is; dates and decimals as strings)."""
    return _json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder)


def parse_datetime_text(text: str) -> datetime | _date | None:
    """A datetime or date from ISO 8601 or RFC 2822 text; None when it is neither."""
    text = text.strip()
    try:
        parsed = parse_datetime(text)
        if parsed is not None:
            return parsed
        parsed_date = parse_date(text)
        if parsed_date is not None:
            return parsed_date
    except ValueError:  # well-formed but impossible, e.g. 2023-02-30
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _as_datetime(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    parsed = parse_datetime_text(value)
    if parsed is None:
        raise TemplateValueError(f"{name}: {_short(value)} is not a date (expected ISO 8601 or RFC 2822).")
    if isinstance(parsed, datetime) and timezone.is_aware(parsed):
        # Same treatment Django gives a datetime value: shown in the current time zone.
        parsed = timezone.template_localtime(parsed)  # type: ignore[attr-defined]  # not in django-stubs
    return parsed


@register.filter(name="date", expects_localtime=True, is_safe=False)
def date_filter(value: Any, arg: str | None = None) -> str:
    """Django's `date`, also accepting ISO 8601 and RFC 2822 strings."""
    if value in (None, ""):
        return ""
    return defaultfilters.date(_as_datetime(value, "date"), arg)


@register.filter(name="time", expects_localtime=True, is_safe=False)
def time_filter(value: Any, arg: str | None = None) -> str:
    """Django's `time`, also accepting ISO 8601 and RFC 2822 strings."""
    if value in (None, ""):
        return ""
    return defaultfilters.time(_as_datetime(value, "time"), arg)
