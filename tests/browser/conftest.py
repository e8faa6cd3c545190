"""Browser tests: a real headless Chromium (Debian's `chromium`, driven by Playwright for
Python through `executable_path`; `playwright install` is never used) against `live_server`,
with Twilio played by the local fake (tests/integration/fake_twilio.py). No internet.

Without Playwright or Chromium these tests skip, except in CI (`CI=true`), where that is a
failure: `make test` installs Chromium when it is missing. Screenshots go to
var/screenshots/ (gitignored); the README's come from there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
# This machine's agreed ports for the live server and the fake (see the Makefile).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1:8211")
FAKE_TWILIO_PORT = int(os.environ.get("FAKE_TWILIO_PORT", "8212"))
REFUSED_NUMBER = "+14155550666"  # the fake Twilio refuses sends to it (400, code 21211)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
        pytest.skip(f"Browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def fake_twilio(settings):
    numbers = [{"sid": "PN" + "a" * 32, "phone_number": "+15017122661", "friendly_name": "Shop line"}]
    with FakeTwilio(
        port=FAKE_TWILIO_PORT, block_sends=False, numbers=numbers, refuse_to=frozenset({REFUSED_NUMBER})
    ) as fake:
        for name in (
            "TWILIO_API_BASE",
            "TWILIO_LOOKUPS_BASE",
            "TWILIO_VERIFY_BASE",
            "TWILIO_CONVERSATIONS_BASE",
            "TWILIO_MESSAGING_BASE",
        ):
            setattr(settings, name, fake.url)
        yield fake


@pytest.fixture
def shoot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True, element: str | None = None) -> Path:
        """The whole page, or only `element` (a selector), as var/screenshots/<name>.png."""
        path = SCREENSHOTS / f"{name}.png"
        if element is not None:
            page.locator(element).screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


FROM = "+15017122661"


@pytest.fixture
def admin_world(transactional_db, django_user_model, settings, live_server):
    """An empty admin: a superuser, one workspace and its connection with one synced number."""
    from connections.services import connection_create
    from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
    from triggers.models import PhoneNumber
    from workspaces.models import Workspace

    settings.PUBLIC_BASE_URL = live_server.url
    django_user_model.objects.create_superuser("ada", password="a-long-test-password")
    workspace = Workspace.objects.create(name="Acme Outdoor", slug="acme", default_country="US")
    connection = connection_create(
        workspace=workspace, name="main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    PhoneNumber.objects.create(
        connection=connection, sid="PN" + "a" * 32, phone_number=FROM, friendly_name="Shop line"
    )
    return workspace, connection


def drain_runs(limit: int = 40) -> None:
    """What the worker does: execute every run that can go on, until none can."""
    from workflows.engine.loop import run_execute
    from workflows.models import Run, RunStatus

    for _ in range(limit):
        ready = list(
            Run.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).values_list("pk", flat=True)
        )
        if not ready:
            return
        for pk in ready:
            run_execute(pk)
    raise AssertionError("runs did not settle")


def log_in(page) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
