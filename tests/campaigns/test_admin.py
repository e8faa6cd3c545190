"""A campaign from a CSV in the admin: the add form maps the columns and reports every row not
taken, the change page shows the progress bar and the controls, the list its progress, and
the export action returns the per-recipient CSV. Another workspace's campaign is a 404."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from campaigns.services import campaign_advance, campaign_recipients_add_list
from connections.services import connection_create
from tests.campaigns.conftest import FROM, numbers
from workspaces.models import Role, Workspace

ADD = reverse("admin:campaigns_campaign_add")


def _post(workspace, connection, **extra):
    data = {
        "workspace": workspace.pk,
        "name": "Spring sale",
        "connection": connection.pk,
        "channel": "sms",
        "body": "Hi {{ first_name }}!",
        "content_variables": "{}",
        "sender": FROM,
        "mps": "1000",
        "workers": "1",
        "recipients-TOTAL_FORMS": "0",
        "recipients-INITIAL_FORMS": "0",
        "recipients-MIN_NUM_FORMS": "0",
        "recipients-MAX_NUM_FORMS": "0",
    }
    data.update(extra)
    return data


@pytest.fixture
def operator(client, make_staff, workspace):
    user = make_staff("ops", workspace, Role.OPERATOR)
    client.force_login(user)
    return user


def test_add_a_campaign_from_a_csv_with_a_per_row_report(client, operator, workspace, connection):
    upload = SimpleUploadedFile(
        "audience.csv",
        b"First,Mobile\nAda,+14155550101\nBob,nope\nCy,+14155550101\n",
        content_type="text/csv",
    )
    response = client.post(
        ADD,
        _post(workspace, connection, audience_file=upload, variable_columns="first_name=First"),
        follow=True,
    )
    assert response.status_code == 200, response.content[:2000]
    html = response.content.decode()
    assert "1 recipients added" in html and "2 rows not taken" in html
    campaign = Campaign.objects.get()
    assert list(campaign.recipients.values_list("phone", "variables")) == [
        ("+14155550101", {"first_name": "Ada"})
    ]
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "INVALID_NUMBER" in page and "DUPLICATE" in page and "tf-progress" in page
    assert 'name="_campaign_start"' in page


def test_a_bad_csv_is_a_form_error_not_a_500(client, operator, workspace, connection):
    upload = SimpleUploadedFile("audience.csv", b"\xff\xfe\x00garbage", content_type="text/csv")
    response = client.post(ADD, _post(workspace, connection, audience_file=upload, phone_column="phone"))
    assert response.status_code == 200
    assert "No column" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_bad_sender_is_a_field_error(client, operator, workspace, connection):
    response = client.post(ADD, _post(workspace, connection, sender="!!"))
    assert response.status_code == 200 and "is not a sender" in response.content.decode()


def test_start_pause_cancel_from_the_change_page_and_export(
    client, operator, workspace, connection, fake_messages
):
    client.post(ADD, _post(workspace, connection, body="Hello"))
    campaign = Campaign.objects.get()
    campaign_recipients_add_list(campaign=campaign, items=numbers(3, start=3000))
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    response = client.post(
        url, {**_post(workspace, connection, body="Hello"), "_campaign_start": "Start now"}
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    campaign_advance(campaign, limit=1)
    page = client.get(url).content.decode()
    assert "1/3 done" in page and 'http-equiv="refresh"' in page and 'name="_campaign_pause"' in page
    changelist = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert "1/3 (33%)" in changelist
    client.post(url, {**_post(workspace, connection, body="Hello"), "_campaign_pause": "Pause"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    client.post(url, {**_post(workspace, connection, body="Hello"), "_campaign_cancel": "Cancel"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert CampaignRecipient.objects.filter(state=RecipientState.SKIPPED).count() == 2
    export = client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "export_results", "_selected_action": [campaign.pk]},
    )
    assert export["Content-Type"].startswith("text/csv")
    lines = export.content.decode().splitlines()
    assert lines[0].startswith("row,phone,state") and len(lines) == 4


def test_another_workspaces_campaign_is_not_found(client, operator, db):
    other = Workspace.objects.create(name="Quokkaville", slug="quokka")
    conn = connection_create(workspace=other, name="q", account_sid="AC" + "9" * 32, auth_token="9" * 32)
    campaign = Campaign.objects.create(
        workspace=other, name="Quokka promo", connection=conn, sender=FROM, body="x"
    )
    response = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert response.status_code in (302, 404)
    assert "Quokka promo" not in client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
