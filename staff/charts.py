"""Charts drawn as SVG on the server: no script, no third-party asset. Each bar is a link to
the list behind it (keyboard-focusable, with a <title> read by screen readers), and every
chart also ships its numbers as a table (`staff/chart.html`).

Colours come from `PALETTE`, whose contrast against the page background is tested (WCAG AA
for graphics, 3:1, and 4.5:1 for the text colours)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

BACKGROUND = "#ffffff"
TEXT = "#1f2328"
MUTED_TEXT = "#57606a"
PALETTE = {
    "in": "#1565c0",
    "out": "#2e7d32",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "canceled": "#6d4c41",
    "running": "#1565c0",
    "waiting": "#6a1b9a",
    "pending": "#616161",
    "sms": "#1565c0",
    "whatsapp": "#1b5e20",
    "opt_out": "#b23c00",
    "spend": "#4527a0",
    "default": "#37474f",
}

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 44, 28, 12


@dataclass
class Series:
    key: str
    label: str
    colour: str


def _f(value: float) -> str:
    return f"{value:.1f}"


def _number(value: Decimal | int | float, money: bool) -> str:
    if money:
        return f"{Decimal(value):.2f}"
    return f"{int(value):,}"


def bar_chart(
    *,
    title: str,
    rows: Sequence[dict[str, Any]],
    series: Sequence[Series],
    money: bool = False,
) -> SafeString:
    """Stacked bars, one per row: `rows` are {"label", "values": {key: n}, "href"}."""
    peak = max(
        (sum((Decimal(r["values"].get(s.key, 0)) for s in series), Decimal(0)) for r in rows), default=0
    )
    peak = peak or Decimal(1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(rows), 1)
    bar_w = max(min(slot * 0.7, 48), 2)
    parts = [
        format_html(
            '<svg class="tf-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
            'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
            WIDTH,
            HEIGHT,
            title,
        ),
        format_html("<title>{}</title>", title),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>',
            LEFT,
            TOP + plot_h,
            WIDTH - 8,
            TOP + plot_h,
            MUTED_TEXT,
        ),
        format_html(
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="{}">{}</text>',
            LEFT - 6,
            TOP + 10,
            MUTED_TEXT,
            _number(peak, money),
        ),
        format_html(
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="{}">0</text>',
            LEFT - 6,
            TOP + plot_h,
            MUTED_TEXT,
        ),
    ]
    label_every = max(1, len(rows) // 10)
    for index, row in enumerate(rows):
        x = LEFT + index * slot + (slot - bar_w) / 2
        y = float(TOP + plot_h)
        pieces = []
        for s in series:
            value = Decimal(row["values"].get(s.key, 0))
            if not value:
                continue
            height = float(value / peak) * plot_h
            y -= height
            pieces.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                    _f(x),
                    _f(y),
                    _f(bar_w),
                    _f(max(height, 1)),
                    s.colour,
                )
            )
        total = sum((Decimal(row["values"].get(s.key, 0)) for s in series), Decimal(0))
        detail = ", ".join(f"{s.label} {_number(row['values'].get(s.key, 0), money)}" for s in series)
        tip = f"{row['label']}: {detail}" if total else f"{row['label']}: none"
        hit = format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="transparent"/>',
            _f(LEFT + index * slot),
            TOP,
            _f(slot),
            plot_h,
        )
        inner = mark_safe("".join([hit, *pieces]))  # noqa: S308 - built from format_html pieces
        if row.get("href"):
            parts.append(
                format_html(
                    '<a href="{}" aria-label="{}"><title>{}</title>{}</a>', row["href"], tip, tip, inner
                )
            )
        else:
            parts.append(format_html("<g><title>{}</title>{}</g>", tip, inner))
        if index % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="{}">{}</text>',
                    _f(LEFT + index * slot + slot / 2),
                    HEIGHT - 10,
                    MUTED_TEXT,
                    row.get("short", row["label"]),
                )
            )
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(p) for p in parts))  # noqa: S308 - every piece escaped above


def legend(series: Sequence[Series]) -> SafeString:
    item = '<span class="tf-legend-item"><span class="tf-swatch" style="background:{}"></span>{}</span>'
    return mark_safe("".join(format_html(item, s.colour, s.label) for s in series))  # noqa: S308 - escaped
