"""Small HTML pieces every admin page shares (copy boxes, JSON blocks, warnings), so that each
admin module only says *what* to show. All escaping goes through `format_html`."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString


def copy_box(value: str) -> SafeString:
    """A read-only input with a Copy button (the URL is selectable too)."""
    return format_html(
        '<input type="text" readonly value="{}" size="90" class="vTextField" '
        'style="font-family:monospace" onfocus="this.select()"> '
        '<button type="button" class="button" '
        "onclick=\"navigator.clipboard.writeText(this.previousElementSibling.value);"
        "this.textContent='Copied'\">Copy</button>",
        value,
    )


def pretty_json_html(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space:pre-wrap;margin:0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, default=str),
    )


def warning(text: str) -> SafeString:
    return format_html('<p style="color:#c62828;font-weight:bold">{}</p>', text)
