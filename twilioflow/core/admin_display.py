"""Small HTML pieces every admin page shares (status badges, JSON blocks, durations, links to
runs and records, copy boxes, warnings), so that each admin module only says *what* to show.
All escaping goes through `format_html`. Links are reversed by URL name: this module imports
no app (it sits in the lowest layer)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from twilioflow.core.redaction import redact_data

# Status values of runs, step runs, connections and trigger events, and their badge colours:
# white text on each passes WCAG AA (contrast ≥ 4.5:1; tests/core/test_admin_display.py).
BADGE_TEXT_COLOUR = "#ffffff"
DEFAULT_BADGE_COLOUR = "#757575"
STATUS_COLOURS: dict[str, str] = {
    "succeeded": "#2e7d32",
    "verified": "#2e7d32",
    "failed": "#c62828",
    "auth_failed": "#c62828",
    "canceled": "#6d4c41",
    "running": "#1565c0",
    "dispatching": "#1565c0",
    "waiting": "#6a1b9a",
    "pending": "#757575",
    "skipped": "#616161",
    "unknown": "#b23c00",
    "unverified": "#8d6e63",
    # trigger events
    "matched": "#2e7d32",
    "resumed": "#1565c0",
    "tracked": "#1565c0",
    "no_match": "#b23c00",
    "disabled": "#616161",
    "invalid": "#c62828",
    # campaigns and their recipients
    "draft": "#757575",
    "scheduled": "#6a1b9a",
    "paused": "#b23c00",
    "completed": "#2e7d32",
    "cancelled": "#6d4c41",
    "sending": "#1565c0",
    "sent": "#1565c0",
    "delivered": "#2e7d32",
    "opted_out": "#6d4c41",
}


def copy_box(value: str) -> SafeString:
    """A read-only input with a Copy button (the URL is selectable too)."""
    return format_html(
        '<input type="text" readonly value="{}" size="90" class="vTextField" '
        'style="font-family:monospace" onfocus="this.select()"> '
        '<button type="button" class="button" '
        'onclick="navigator.clipboard.writeText(this.previousElementSibling.value);'
        "this.textContent='Copied'\">Copy</button>",
        value,
    )


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def pre_text(text: str) -> SafeString:
    """Preformatted text (a response body, TwiML), escaped."""
    return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', text)


def pretty_json_html(value: Any) -> SafeString:
    return pre_text(pretty_json(value))


def redacted_json_html(value: Any) -> SafeString:
    """A JSON block, redacted again on display: records stored before a redaction rule
    existed stay safe."""
    return format_html('<pre class="tf-json">{}</pre>', pretty_json(redact_data(value)))


def warning(text: str) -> SafeString:
    return format_html('<p class="tf-warning">{}</p>', text)


def status_badge(status: str, label: str | None = None) -> SafeString:
    """A coloured badge; its look is in the admin stylesheet, its colour here (contrast-tested)."""
    return format_html(
        '<span class="tf-badge tf-badge-{}" style="background:{};color:{}">{}</span>',
        status,
        STATUS_COLOURS.get(status, DEFAULT_BADGE_COLOUR),
        BADGE_TEXT_COLOUR,
        label or status,
    )


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two `#rrggbb` colours (1 to 21)."""

    def luminance(colour: str) -> float:
        value = colour.lstrip("#")
        channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def format_duration_ms(ms: int | None) -> str:
    return format_duration(ms / 1000 if ms is not None else None)


def admin_link(url_name: str, obj: Any, label: Any = None) -> SafeString | str:
    """A link to `obj`'s admin page (`url_name` such as "admin:triggers_trigger_change"), or
    its text when that page does not exist."""
    try:
        url = reverse(url_name, args=[obj.pk])
    except NoReverseMatch:
        return str(label or obj)
    return format_html('<a href="{}">{}</a>', url, label or obj)


def run_url(run_id: int) -> str:
    return reverse("admin:workflows_run_change", args=[run_id])


def run_link(run_id: int, text: str | None = None) -> SafeString:
    return format_html('<a href="{}">{}</a>', run_url(run_id), text or f"Run {run_id}")


def run_links(runs: Iterable[Any]) -> SafeString:
    return format_html_join(", ", '<a href="{}">{}</a>', ((run_url(r.pk), f"run {r.pk}") for r in runs))


def exchange_table(rows: Iterable[tuple[Any, ...]]) -> SafeString:
    """A table of logged requests: (at, purpose, request, status, duration, error, request
    excerpt, response excerpt) each. The caller passes redacted text; it is escaped here."""
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>"
        '<td><details><summary>bodies</summary><pre class="tf-json" style="white-space:pre-wrap">'
        "{}\n\n{}</pre></details></td></tr>",
        (
            (
                localtime(at).strftime("%Y-%m-%d %H:%M:%S") if hasattr(at, "strftime") else at,
                purpose,
                request,
                status if status is not None else "—",
                duration,
                error or "—",
                request_excerpt or "(no request body)",
                response_excerpt or "(no response body)",
            )
            for at, purpose, request, status, duration, error, request_excerpt, response_excerpt in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>At</th><th>Purpose</th><th>Request</th><th>Status</th>"
        "<th>Duration</th><th>Error</th><th></th></tr></thead><tbody>{}</tbody></table>",
        body,
    )
