"""/api/docs/ (Swagger UI) and /api/redoc/ in headless Chromium: the operations render and
every request the page makes goes to this server (no CDN, no web fonts)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def requests_seen(page):
    """URLs the browser actually sent: a request the page's Content-Security-Policy blocked
    (Redoc's "powered by" image) never leaves the browser and is left out."""
    seen: list[str] = []
    page.on("requestfinished", lambda request: seen.append(request.url))
    page.on(
        "requestfailed",
        lambda request: (
            None
            if (request.failure or "").lower() in ("csp", "net::err_blocked_by_csp")
            else seen.append(request.url)
        ),
    )
    return seen


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_every_operation_offline(page, live_server, requests_seen, shoot):
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()
    operations = page.locator(".opblock").count()
    assert operations >= 35
    assert page.locator(".opblock-summary-path", has_text="/api/v1/workflows/{id}/runs").count() >= 1
    shoot(page, "api-docs", full_page=False)
    outside = [
        url
        for url in requests_seen
        if not url.startswith(live_server.url) and not url.startswith(("data:", "blob:"))
    ]
    assert outside == []


@pytest.mark.django_db(transaction=True)
def test_redoc_renders_offline(page, live_server, requests_seen):
    page.goto("/api/redoc/")
    page.locator("h1", has_text="TwilioFlow API").first.wait_for()
    assert page.get_by_text("Start a run").count() >= 1
    outside = [
        url
        for url in requests_seen
        if not url.startswith(live_server.url) and not url.startswith(("data:", "blob:"))
    ]
    assert outside == []
