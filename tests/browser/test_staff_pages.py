"""Issue 15 in a real browser: an operator logs in to the staff pages, reads the dashboard,
opens the conversation a signed inbound SMS started, replies (a one-step `inbox` run through
the send gate, sent to the local fake Twilio), sees the delivery tick once the signed status
callback arrives (without reloading), follows the run, switches workspace, and the pages fit
a phone's width. Screenshots: var/screenshots/staff-*.png (the README's are copies)."""

from __future__ import annotations

import re

import pytest
import requests
from twilio.request_validator import RequestValidator

from connections.webhook_urls import webhook_urls
from tests.browser.conftest import FROM, drain_runs
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.staff.conftest import at, inbound, outbound
from workflows.models import Run, RunStatus
from workspaces.models import Membership, Role, Workspace

pytestmark = pytest.mark.browser
CUSTOMER = "+14155550142"
PASSWORD = "a-long-operator-password"
ZONE = "America/New_York"


@pytest.fixture
def staff_world(admin_world, django_user_model):
    """Acme (operator) with some history for the dashboard, and Bistro (viewer)."""
    workspace, connection = admin_world
    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=olga, workspace=workspace, role=Role.OPERATOR)
    bistro = Workspace.objects.create(name="Bistro Nord", slug="bistro")
    Membership.objects.create(user=olga, workspace=bistro, role=Role.VIEWER)
    for days_ago, delivery in (
        (5, "delivered"),
        (4, "delivered"),
        (3, "undelivered"),
        (2, "delivered"),
        (1, "sent"),
    ):
        inbound(connection, contact="+14155550111", body=f"question {days_ago}", when=at(days_ago, 14))
        outbound(
            connection,
            contact="+14155550111",
            body=f"answer {days_ago}",
            when=at(days_ago, 15),
            delivery=delivery,
            delivery_error=30003 if delivery == "undelivered" else None,
            source="trigger",
        )
    return workspace, connection


@pytest.fixture
def staff_page(browser, live_server):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=live_server.url, timezone_id=ZONE
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def post_signed(url: str, params: dict[str, str]) -> requests.Response:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def test_an_operators_day_on_the_staff_pages(staff_page, staff_world, fake_twilio, shoot):
    page = staff_page
    _, connection = staff_world
    urls = webhook_urls(connection=connection)

    # Log in (a member who is not admin staff), land on the dashboard.
    page.goto("/inbox/")
    assert "/login/" in page.url
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/inbox/$"))
    page.goto("/?period=7d")
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert f"times in {ZONE}" in page.inner_text("header")  # the viewer's zone, from the browser
    assert page.locator("svg.tf-chart").count() == 4
    kpis = " ".join(page.inner_text(".tf-kpis").split())
    assert "5 messages received" in kpis and "5 messages sent" in kpis
    assert "30003" in page.inner_text("#c-errors + table")
    shoot(page, "staff-1-dashboard")
    # The error links to the runs it affected.
    page.click("#c-errors + table a:has-text('30003')")
    page.wait_for_url(re.compile(r"/runs/\?.*error=30003"))
    assert page.locator("table.tf-runs tbody tr").count() == 1

    # A customer writes: a signed inbound SMS to the connection's webhook.
    answer = post_signed(
        urls["messages"],
        {
            "MessageSid": "SM" + "1" * 32,
            "AccountSid": ACCOUNT_SID,
            "From": CUSTOMER,
            "To": FROM,
            "Body": "Do you ship to Canada?",
            "NumMedia": "0",
        },
    )
    assert answer.status_code == 200
    page.goto("/inbox/")
    row = page.locator(".tf-conversation", has_text=CUSTOMER)
    assert row.locator(".tf-unread-count").inner_text() == "1"
    assert "needs reply" in row.inner_text()
    shoot(page, "staff-2-inbox")
    row.locator("a").click()
    page.wait_for_selector(f"h1:has-text('{CUSTOMER}')")
    assert "Do you ship to Canada?" in page.inner_text(".tf-thread")

    # Reply: segments and cost while typing, then a one-step inbox run through the gate.
    page.fill("#reply-body", "Yes, we ship to Canada in 3-5 days.")
    page.wait_for_selector("#tf-estimate:has-text('1 segment (GSM-7)')")
    page.click("button:has-text('Send reply')")
    page.wait_for_selector(".tf-messages:has-text('Reply sent')")
    run = Run.objects.get(source="inbox")
    assert run.status == RunStatus.SUCCEEDED
    assert [s.first("Body") for s in fake_twilio.sends] == ["Yes, we ship to Canada in 3-5 days."]
    mine = page.locator(".tf-bubble.tf-out", has_text="Yes, we ship")
    assert "queued" in mine.inner_text()

    # Twilio reports delivery: the tick changes without a reload (htmx polling).
    callback = post_signed(
        urls["status"],
        {
            "MessageSid": fake_twilio.message_sid,
            "MessageStatus": "delivered",
            "AccountSid": ACCOUNT_SID,
            "From": FROM,
            "To": CUSTOMER,
        },
    )
    assert callback.status_code == 200
    page.wait_for_selector(".tf-bubble.tf-out .tf-delivery-delivered", timeout=20_000)
    assert "✓✓ delivered" in page.locator(".tf-bubble.tf-out", has_text="Yes, we ship").inner_text()
    shoot(page, "staff-3-conversation")

    # Follow the run: its timeline with the delivery.
    page.locator(".tf-bubble.tf-out", has_text="Yes, we ship").locator("a:has-text('run')").click()
    page.wait_for_selector(f"h1:has-text('Run #{run.pk}')")
    assert "delivered" in page.inner_text(".tf-timeline")
    assert page.locator("a:has-text('Replay')").count() == 1
    shoot(page, "staff-4-run")

    # Switch workspace: Bistro, where Olga is a viewer and nothing happened yet.
    page.select_option("#tf-workspace", label="Bistro Nord")
    page.click(".tf-switcher button")
    page.wait_for_selector("header:has-text('olga · viewer')")
    # From a run page of Acme the switch lands on Bistro's runs list, not on Acme's run.
    assert page.url.endswith("/runs/") and "No runs yet" in page.inner_text("main")
    page.goto("/")
    assert "Nothing happened in this period" in page.inner_text("main")
    page.goto("/inbox/")
    assert "No conversations yet" in page.inner_text("main")
    assert CUSTOMER not in page.content()
    page.goto(f"/inbox/{FROM}/{CUSTOMER}/")  # Acme's conversation, seen from Bistro
    assert "Not Found" in page.content() or page.locator("h1").count() == 0


def test_phone_width_and_keyboard(staff_page, staff_world, shoot):
    page = staff_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Dashboard')")
    for path in ("/", "/inbox/", "/runs/", f"/inbox/{FROM}/+14155550111/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
    shoot(page, "staff-5-phone-conversation")
    page.goto("/")
    shoot(page, "staff-6-phone-dashboard")
    # The first Tab reaches the skip link, which leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every chart bar is a keyboard-reachable link.
    assert page.locator("svg.tf-chart a[href]").count() >= 7
    drain_runs()
