"""The staff pages' campaigns: the list's and the page's progress numbers, the per-recipient
table (state filter, search, pages, run links), pause / resume / cancel with confirmation
(refused to viewers), the CSV export, and workspace walls."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from campaigns.models import CampaignRecipient, CampaignStatus, RecipientState
from campaigns.selectors import campaign_progress, campaigns_progress
from tests.staff.conftest import make_campaign, outbound
from workspaces.models import Role

pytestmark = pytest.mark.django_db
# (state, how many) of the seeded campaign: 2 delivered, 3 sent, 1 failed, 1 opted out,
# 1 skipped, 4 pending.
SEED = [
    (RecipientState.DELIVERED, 2),
    (RecipientState.SENT, 3),
    (RecipientState.FAILED, 1),
    (RecipientState.OPTED_OUT, 1),
    (RecipientState.SKIPPED, 1),
    (RecipientState.PENDING, 4),
]


@pytest.fixture
def campaign(workspace, connection):
    return make_campaign(workspace, connection, seed=SEED)


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_grouped_progress_equals_the_single_campaign_progress(workspace, connection, campaign):
    other = make_campaign(workspace, connection, name="Other", seed=[(RecipientState.SENDING, 2)])
    empty = make_campaign(workspace, connection, name="Empty", seed=[])
    many = campaigns_progress([campaign, other, empty])
    for c in (campaign, other, empty):
        assert many[c.pk] == campaign_progress(c)
    progress = many[campaign.pk]
    assert (progress.total, progress.done, progress.pending) == (12, 8, 4)
    assert (progress.delivered, progress.sent, progress.failed, progress.opted_out, progress.skipped) == (
        2,
        3,
        1,
        1,
        1,
    )
    assert progress.eta_seconds == 2.0  # 4 left at 2 msg/s
    assert many[other.pk].sending == 2 and many[empty.pk].total == 0


def test_the_list_shows_each_campaigns_progress(seat_client, workspace, connection, campaign):
    make_campaign(
        workspace, connection, name="Done deal", status=CampaignStatus.COMPLETED, seed=[("delivered", 3)]
    )
    client = seat_client(Role.VIEWER)
    response = client.get(reverse("staff:campaigns"))
    assert response.status_code == 200
    html = response.content.decode()
    page = text(response)
    assert "Spring sale" in page and "Done deal" in page
    assert "8 / 12 done (66%) · ETA 2s" in page
    assert "3 / 3 done (100%)" in page
    assert 'aria-valuenow="8"' in html and 'aria-valuemax="12"' in html
    # Segment widths: 2 delivered of 12.
    assert re.search(r'tf-seg-delivered" style="width:16.67%"', html)
    # A running campaign on the page: it refreshes itself.
    assert 'hx-trigger="every 5s"' in html
    assert 'href="/campaigns/"' in html and 'aria-current="page">Campaigns' in html


def test_the_list_needs_few_queries(seat_client, workspace, connection, django_assert_max_num_queries):
    for n in range(6):
        make_campaign(workspace, connection, name=f"C{n}", seed=[("sent", 2), ("pending", 1)])
    client = seat_client()
    client.get(reverse("staff:campaigns"))
    with django_assert_max_num_queries(10):
        response = client.get(reverse("staff:campaigns"))
    assert text(response).count("2 / 3 done") == 6


def test_empty_state_points_to_the_admin(seat_client):
    response = seat_client().get(reverse("staff:campaigns"))
    page = text(response)
    assert "No campaigns yet — create one in the admin" in page
    assert reverse("admin:campaigns_campaign_add") in response.content.decode()
    assert 'hx-trigger="every' not in response.content.decode()


def test_campaign_page_progress_table_filter_search_and_run_links(
    seat_client, workspace, connection, campaign
):
    step = outbound(connection, contact="+14155550001", source="campaign")
    first = campaign.recipients.order_by("id").first()
    CampaignRecipient.objects.filter(pk=first.pk).update(run=step.run, message_sid=step.twilio_sid)
    client = seat_client(Role.VIEWER)
    url = reverse("staff:campaign", kwargs={"campaign_id": campaign.pk})
    response = client.get(url)
    assert response.status_code == 200
    page = text(response)
    assert "8 / 12 done (66%)" in page
    assert "Delivered 2" in page and "Sent 3" in page and "Failed 1" in page and "Pending 4" in page
    assert f'href="/runs/{step.run.pk}/"' in response.content.decode()
    assert page.count("+1415555") == 12
    # The state filter, with counts.
    assert "Failed (1)" in page
    failed = text(client.get(url, {"state": "failed"}))
    assert "+14155550006" in failed and "TWILIO_30003" in failed and "+14155550001" not in failed
    # Search a number as people type it, an error code, a reason.
    assert "+14155550003" in text(client.get(url, {"q": "(415) 555-0003"}))
    assert text(client.get(url, {"q": "415 555 0003"})).count("+1415555") == 1
    assert "+14155550006" in text(client.get(url, {"q": "twilio_30003"}))
    nothing = text(client.get(url, {"q": "+19999", "state": "failed"}))
    assert "No recipient matches" in nothing
    # An unknown state is ignored, not an error.
    assert client.get(url, {"state": "bogus", "page": "x"}).status_code == 200


def test_recipient_pages(seat_client, workspace, connection):
    big = make_campaign(workspace, connection, name="Big", seed=[("pending", 55)])
    client = seat_client()
    url = reverse("staff:campaign", kwargs={"campaign_id": big.pk})
    first = text(client.get(url))
    assert first.count("+1415555") == 50 and "Next →" in first and "Previous" not in first
    second = text(client.get(url, {"page": 2}))
    assert second.count("+1415555") == 5 and "← Previous" in second and "Next" not in second
    assert "+14155550051" in second and "+14155550051" not in first


def test_viewer_sees_no_buttons_and_cannot_pause(seat_client, campaign):
    client = seat_client(Role.VIEWER)
    page = client.get(reverse("staff:campaign", kwargs={"campaign_id": campaign.pk})).content.decode()
    assert "Pause…" not in page and "Cancel campaign" not in page
    assert "Export CSV" in page  # reading the results is reading
    for operation in ("pause", "resume", "cancel"):
        url = reverse("staff:campaign_operate", kwargs={"campaign_id": campaign.pk, "operation": operation})
        assert client.get(url).status_code == 403
        assert client.post(url, {"confirm": "yes"}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.recipients.filter(state="pending").count() == 4


def test_operator_pauses_resumes_and_cancels_with_confirmation(seat_client, campaign):
    client = seat_client(Role.OPERATOR)
    detail = reverse("staff:campaign", kwargs={"campaign_id": campaign.pk})
    page = client.get(detail).content.decode()
    assert "Pause…" in page and "Cancel campaign…" in page and "Resume…" not in page

    def operate(name):
        return reverse("staff:campaign_operate", kwargs={"campaign_id": campaign.pk, "operation": name})

    # GET asks; nothing changes until confirmed.
    ask = client.get(operate("pause"))
    assert ask.status_code == 200 and "Yes, pause" in ask.content.decode()
    assert client.post(operate("pause")).status_code == 200  # no confirm: asks again
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING

    done = client.post(operate("pause"), {"confirm": "yes"}, follow=True)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and "by user-operator on the staff pages" in campaign.note
    assert "Spring sale: paused." in text(done) and "Resume…" in done.content.decode()

    client.post(operate("resume"), {"confirm": "yes"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING

    warning = client.get(operate("cancel")).content.decode()
    assert "cannot be undone" in warning and "4 not yet sent" in text(client.get(operate("cancel")))
    client.post(operate("cancel"), {"confirm": "yes"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert campaign.recipients.filter(state="pending").count() == 0
    assert campaign.recipients.filter(state="skipped", reason_code="CANCELLED").count() == 4

    # Nothing to do on a cancelled campaign: a message, no change, no button.
    again = client.post(operate("pause"), {"confirm": "yes"}, follow=True)
    assert "is cancelled: nothing to pause" in text(again)
    assert "Pause…" not in again.content.decode()
    assert client.get(operate("explode")).status_code == 404


def test_export_is_the_results_csv(seat_client, campaign):
    campaign.import_report = [
        {"row": 40, "phone": "12", "code": "INVALID_NUMBER", "message": "Not a number."}
    ]
    campaign.save()
    response = seat_client(Role.VIEWER).get(
        reverse("staff:campaign_export", kwargs={"campaign_id": campaign.pk})
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="campaign-{campaign.pk}-results.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 13
    assert rows[0]["phone"] == "+14155550001" and rows[0]["state"] == "delivered"
    assert rows[0]["first_name"] == "P1"
    failed = next(r for r in rows if r["state"] == "failed")
    assert failed["reason_code"] == "TWILIO_30003"
    assert rows[-1]["state"] == "not_imported" and rows[-1]["reason_code"] == "INVALID_NUMBER"


def test_another_workspaces_campaign_is_a_404(seat_client, other_workspace, make_connection, campaign):
    theirs = make_campaign(
        other_workspace, make_connection(workspace=other_workspace, name="theirs"), name="Their secret sale"
    )
    client = seat_client(Role.OWNER)
    assert "Their secret sale" not in client.get(reverse("staff:campaigns")).content.decode()
    kwargs = {"campaign_id": theirs.pk}
    assert client.get(reverse("staff:campaign", kwargs=kwargs)).status_code == 404
    assert client.get(reverse("staff:campaign_export", kwargs=kwargs)).status_code == 404
    pause = reverse("staff:campaign_operate", kwargs={**kwargs, "operation": "pause"})
    assert client.post(pause, {"confirm": "yes"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == CampaignStatus.RUNNING
    # Mine still works.
    assert client.get(reverse("staff:campaign", kwargs={"campaign_id": campaign.pk})).status_code == 200


def test_campaign_pages_need_a_login(client, campaign):
    for url in (
        reverse("staff:campaigns"),
        reverse("staff:campaign", kwargs={"campaign_id": campaign.pk}),
        reverse("staff:campaign_export", kwargs={"campaign_id": campaign.pk}),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
