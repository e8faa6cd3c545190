"""WCAG AA on the staff pages, checked the way the admin's badges are
(`twilioflow.core.admin_display.contrast_ratio`): every text colour of the stylesheet on every
background it is used on (4.5:1), chart colours against the page (3:1 for graphics)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from staff.charts import BACKGROUND, MUTED_TEXT, PALETTE, TEXT
from twilioflow.core.admin_display import contrast_ratio

CSS = Path(__file__).resolve().parents[2] / "staff" / "static" / "staff" / "staff.css"


def variables() -> dict[str, str]:
    return dict(re.findall(r"--tf-([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))


# (text, background) pairs as the stylesheet uses them.
TEXT_PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("text", "in-bg"),
    ("text", "out-bg"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("muted", "in-bg"),
    ("muted", "out-bg"),
    ("link", "bg"),
    ("link", "surface"),
    ("link", "out-bg"),
    ("link", "in-bg"),
    ("header-text", "header-bg"),
    ("accent-text", "accent"),
    ("accent", "bg"),
    ("error", "bg"),
    ("error", "out-bg"),
    ("warning-text", "warning-bg"),
]


@pytest.mark.parametrize(("fg", "bg"), TEXT_PAIRS)
def test_text_colours_pass_aa(fg, bg):
    colours = variables()
    assert contrast_ratio(colours[fg], colours[bg]) >= 4.5, (fg, colours[fg], bg, colours[bg])


def test_literal_colours_in_the_stylesheet_pass_aa():
    colours = variables()
    css = CSS.read_text()
    # White on the danger button and the unread counter; delivered ticks on the sent bubble.
    assert "#ffffff" in css and "#1b5e20" in css
    assert contrast_ratio("#ffffff", colours["danger"]) >= 4.5
    assert contrast_ratio("#ffffff", colours["unread"]) >= 4.5
    assert contrast_ratio("#1b5e20", colours["out-bg"]) >= 4.5


def test_focus_ring_is_visible():
    colours = variables()
    assert contrast_ratio(colours["focus"], colours["bg"]) >= 3.0
    assert contrast_ratio(colours["header-focus"], colours["header-bg"]) >= 3.0


@pytest.mark.parametrize("name", sorted(PALETTE))
def test_chart_colours_stand_out_from_the_page(name):
    assert contrast_ratio(PALETTE[name], BACKGROUND) >= 3.0, name


def test_chart_text_passes_aa():
    assert contrast_ratio(TEXT, BACKGROUND) >= 4.5
    assert contrast_ratio(MUTED_TEXT, BACKGROUND) >= 4.5


PROGRESS_SEGMENTS = ["seg-delivered", "seg-sent", "seg-failed", "seg-opted-out", "seg-skipped", "seg-sending"]


@pytest.mark.parametrize("segment", PROGRESS_SEGMENTS)
def test_campaign_progress_segments_stand_out(segment):
    """Graphics (1.4.11): each segment 3:1 against the bar's track, the page, and the white
    edge that separates it from its neighbour; the track's own border against the page."""
    colours = variables()
    for background in ("track", "bg"):
        assert contrast_ratio(colours[segment], colours[background]) >= 3.0, (segment, background)


def test_every_progress_state_has_a_colour():
    css = CSS.read_text()
    from campaigns.selectors import Progress

    states = [state for state, _ in Progress(*([0] * 9), None, None).parts()]
    for state in states:
        assert f".tf-seg-{state} {{ background: var(--tf-" in css, state
    assert contrast_ratio(variables()["border"], variables()["bg"]) >= 3.0
