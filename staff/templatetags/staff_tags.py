"""Small display helpers for the staff templates (badges share the admin's tested palette)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import template
from django.utils.safestring import SafeString

from twilioflow.core.admin_display import format_duration_ms, status_badge
from twilioflow.core.redaction import redact_data

register = template.Library()


@register.filter
def badge(status: str, label: str = "") -> SafeString:
    return status_badge(str(status or ""), label or None)


@register.filter
def duration_ms(value: int | None) -> str:
    return format_duration_ms(value)


@register.filter
def as_json(value: Any) -> str:
    """Pretty JSON, redacted again on display."""
    return json.dumps(redact_data(value), indent=2, ensure_ascii=False, default=str)


@register.filter
def rate(value: Any) -> str:
    return "—" if value is None else f"{value:.1f} %"


@register.filter
def money(value: Any) -> str:
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return "—"


@register.simple_tag(takes_context=True)
def query_with(context: Any, **changes: Any) -> str:
    """The current query string with `changes` applied (empty values removed)."""
    request = context["request"]
    params = {k: v for k, v in request.GET.items()}
    params.update({k: str(v) for k, v in changes.items()})
    return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})
