"""Issue 15's campaigns pages in a real browser: an operator opens the campaigns list, sees a
running campaign's progress bar, opens it, watches the bar move without reloading as
recipients are delivered, follows a recipient to its run, filters the results, pauses the
campaign after confirming (from the keyboard), and every page fits a phone's width.
Screenshots: var/screenshots/staff-campaign-*.png (README's is a copy)."""

from __future__ import annotations

import re

import pytest

from campaigns.models import CampaignRecipient, CampaignStatus, RecipientState
from tests.browser.test_staff_pages import PASSWORD, staff_page  # noqa: F401 (a fixture)
from tests.staff.conftest import make_campaign, outbound
from workspaces.models import Membership, Role

pytestmark = pytest.mark.browser


@pytest.fixture
def campaign_world(admin_world, django_user_model):
    workspace, connection = admin_world
    olga = django_user_model.objects.create_user("olga", password=PASSWORD)
    Membership.objects.create(user=olga, workspace=workspace, role=Role.OPERATOR)
    seed = [("delivered", 5), ("sent", 3), ("failed", 1), ("opted_out", 1), ("skipped", 1), ("pending", 9)]
    campaign = make_campaign(
        workspace,
        connection,
        name="Winter sale",
        seed=seed,
        rate=1.0,
        rate_source="sender: long code",
        body="Hi {{ first_name }}, 30% off this week.",
    )
    first = campaign.recipients.get(phone="+14155550001")
    step = outbound(connection, contact=first.phone, body="Hi P1, 30% off.", source="campaign")
    CampaignRecipient.objects.filter(pk=first.pk).update(run=step.run)
    return campaign


def log_in_as_olga(page) -> None:
    page.goto("/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Dashboard')")


def test_an_operator_follows_and_pauses_a_campaign(staff_page, campaign_world, shoot):  # noqa: F811
    page, campaign = staff_page, campaign_world
    log_in_as_olga(page)
    page.click("nav.tf-nav a:has-text('Campaigns')")
    page.wait_for_selector("h1:has-text('Campaigns')")
    card = page.locator(".tf-campaign", has_text="Winter sale")
    assert card.locator("[role=progressbar]").get_attribute("aria-valuenow") == "11"
    assert "11 / 20 done (55%) · ETA 9s" in " ".join(card.inner_text().split())

    card.locator("h2 a").click()
    page.wait_for_selector("h1:has-text('Winter sale')")
    bar = page.locator("#tf-campaign [role=progressbar]")
    assert bar.get_attribute("aria-valuetext") == "11 of 20 recipients done (55%)"
    assert bar.locator(".tf-seg").count() == 5  # delivered, sent, failed, opted out, skipped
    widths = bar.evaluate("b => [...b.children].map(s => s.getBoundingClientRect().width)")
    assert widths[0] == pytest.approx(bar.bounding_box()["width"] * 5 / 20, abs=2)
    assert page.locator("table.tf-recipients tbody tr").count() == 20

    # Recipients are delivered meanwhile: the bar moves without a reload (htmx polling).
    page.evaluate("window.tfMarker = 1")
    pending = campaign.recipients.filter(state=RecipientState.PENDING).order_by("id")[:4]
    CampaignRecipient.objects.filter(pk__in=[r.pk for r in pending]).update(state=RecipientState.DELIVERED)
    page.wait_for_selector(
        "#tf-campaign [role=progressbar][aria-valuenow='15']", state="attached", timeout=20_000
    )
    assert page.evaluate("window.tfMarker") == 1  # the same document: not reloaded
    assert "Delivered 9" in " ".join(page.inner_text(".tf-progress-legend").split())
    shoot(page, "staff-campaign-1-page", full_page=False)

    # Filter the results, follow a recipient to its run.
    page.select_option("select[name=state]", "failed")
    page.click("form[aria-label=Recipients] button")
    page.wait_for_url(re.compile(r"state=failed"))
    assert page.locator("table.tf-recipients tbody tr").count() == 1
    assert "TWILIO_30003" in page.inner_text("table.tf-recipients")
    page.goto(f"/campaigns/{campaign.pk}/?q=555-0001")
    page.locator("table.tf-recipients tbody th a", has_text="+14155550001").click()
    run_id = campaign.recipients.get(phone="+14155550001").run_id
    page.wait_for_selector(f"h1:has-text('Run #{run_id}')")
    assert "(campaign)" in page.inner_text("h1") and "Twilio SID" in page.inner_text("main")

    # Pause from the keyboard, after confirming.
    page.goto(f"/campaigns/{campaign.pk}/")
    page.locator("a:has-text('Pause…')").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Pause')")
    assert "Resume carries on where it stopped" in page.inner_text("main")
    page.locator("button:has-text('Yes, pause')").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".tf-messages:has-text('Winter sale: paused.')")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert page.locator("a:has-text('Resume…')").count() == 1

    # A phone's width: nothing overflows sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/campaigns/", f"/campaigns/{campaign.pk}/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
    shoot(page, "staff-campaign-2-phone")
