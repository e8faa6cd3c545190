"""/api/v1/campaigns: create a draft, add recipients with a per-row report, start, pause,
resume, cancel, progress, per-recipient results and the CSV export, within one workspace."""

from __future__ import annotations

import csv
import io

import pytest

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus
from connections.services import connection_create
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from workflows.models import Workflow

pytestmark = pytest.mark.django_db
FROM = "+15017122661"


@pytest.fixture
def draft(api, connection):
    response = api.post(
        "/api/v1/campaigns",
        {"name": "Spring promo", "connection": connection.pk, "sender": FROM, "body": "Hi {{ first_name }}"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def add(api, campaign_id, items):
    return api.post(f"/api/v1/campaigns/{campaign_id}/recipients", items, format="json")


def test_create_read_list_and_the_url(api, draft, workspace):
    assert draft["status"] == "draft" and draft["workspace"] == workspace.pk
    assert draft["url"].endswith(f"/api/v1/campaigns/{draft['id']}")
    assert api.get(f"/api/v1/campaigns/{draft['id']}").json()["name"] == "Spring promo"
    assert [c["id"] for c in api.get("/api/v1/campaigns").json()["results"]] == [draft["id"]]


def test_an_unsendable_definition_is_a_field_error(api, connection):
    response = api.post(
        "/api/v1/campaigns",
        {"name": "x", "connection": connection.pk, "sender": FROM, "channel": "sms", "content_sid": "HX1"},
        format="json",
    )
    body = response.json()
    assert response.status_code == 400 and body["code"] == "VALIDATION_ERROR"
    assert "content_sid" in body["fields"]


def test_recipients_report_every_item_not_taken(api, draft):
    response = add(
        api,
        draft["id"],
        [
            {"phone": "+14155550101", "variables": {"first_name": "Ann"}},
            "+1 415 555 0102",
            {"phone": "not a number"},
            {"phone": "+14155550101"},
        ],
    )
    assert response.status_code == 200, response.content
    report = response.json()
    assert (report["added"], report["rejected"]) == (2, 2)
    assert [(p["row"], p["code"]) for p in report["problems"]] == [(3, "INVALID_NUMBER"), (4, "DUPLICATE")]
    again = add(api, draft["id"], {"recipients": ["+14155550102"]}).json()
    assert (again["added"], again["already"]) == (0, 1)
    rows = api.get(f"/api/v1/campaigns/{draft['id']}/recipients").json()["results"]
    assert [(r["phone"], r["variables"]) for r in rows] == [
        ("+14155550101", {"first_name": "Ann"}),
        ("+14155550102", {}),
    ]


def test_a_body_that_is_not_a_list_is_a_400(api, draft):
    response = add(api, draft["id"], {"recipients": "+14155550101"})
    assert response.status_code == 400 and "recipients" in response.json()["fields"]


def test_lifecycle_progress_results_and_export(api, draft, monkeypatch):
    monkeypatch.setattr("campaigns.services.lanes_enqueue", lambda campaign, **kw: 0)  # no worker here
    add(api, draft["id"], [{"phone": "+14155550101", "first_name": "=cmd()"}, "+14155550102"])
    base = f"/api/v1/campaigns/{draft['id']}"
    started = api.post(f"{base}/start")
    assert started.status_code == 200 and started.json()["status"] == "running", started.content
    assert api.put(base, {**draft, "name": "late"}, format="json").status_code == 409
    assert api.delete(base).status_code == 409
    assert api.post(f"{base}/resume").status_code == 409
    assert api.post(f"{base}/pause").json()["status"] == "paused"
    assert api.post(f"{base}/resume").json()["status"] == "running"
    CampaignRecipient.objects.filter(phone="+14155550101").update(state="delivered", message_sid="SM1")
    progress = api.get(f"{base}/progress").json()
    assert (progress["status"], progress["total"], progress["delivered"], progress["pending"]) == (
        "running",
        2,
        1,
        1,
    )
    assert progress["percent"] == 50.0
    delivered = api.get(f"{base}/recipients", {"state": "delivered"}).json()["results"]
    assert [r["phone"] for r in delivered] == ["+14155550101"]
    assert api.get(f"{base}/recipients", {"state": "nonsense"}).status_code == 400
    cancelled = api.post(f"{base}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert api.post(f"{base}/cancel").status_code == 409
    assert api.post(f"{base}/start").status_code == 409
    export = api.get(f"{base}/export", HTTP_ACCEPT="text/csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [(r["phone"], r["state"]) for r in rows] == [
        ("+14155550101", "delivered"),
        ("+14155550102", "skipped"),
    ]
    assert rows[0]["first_name"] == "'=cmd()"  # a formula never runs in a spreadsheet


def test_start_without_recipients_is_a_field_error(api, draft):
    response = api.post(f"/api/v1/campaigns/{draft['id']}/start")
    assert response.status_code == 400 and "audience" in response.json()["fields"]
    assert Campaign.objects.get(pk=draft["id"]).status == CampaignStatus.DRAFT


def test_update_and_delete_a_draft(api, draft):
    base = f"/api/v1/campaigns/{draft['id']}"
    changed = api.patch(base, {"body": "Hello {{ first_name }}", "workers": 2}, format="json")
    assert changed.status_code == 200 and changed.json()["workers"] == 2, changed.content
    bad = api.patch(base, {"body": "Other", "content_sid": "HX1"}, format="json")
    assert bad.status_code == 400 and "content_sid" in bad.json()["fields"]
    assert Campaign.objects.get(pk=draft["id"]).body == "Hello {{ first_name }}"
    assert api.delete(base).status_code == 204
    assert not Campaign.objects.filter(pk=draft["id"]).exists()


def test_scopes(api_as, workspace, draft):
    reader, runner = api_as(workspace, "read"), api_as(workspace, "run")
    base = f"/api/v1/campaigns/{draft['id']}"
    assert reader.get(f"{base}/progress").status_code == 200
    assert reader.get(f"{base}/recipients").status_code == 200
    assert reader.post(f"{base}/pause").status_code == 403
    assert runner.post(f"{base}/recipients", ["+14155550101"], format="json").status_code == 403
    assert runner.patch(base, {"name": "x"}, format="json").status_code == 403
    assert runner.post(f"{base}/cancel").status_code == 200


def test_another_workspaces_connection_or_workflow_is_a_field_error_naming_nothing(
    api, connection, other_workspace
):
    theirs = connection_create(
        workspace=other_workspace, name="bistro main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    flow = Workflow.objects.create(workspace=other_workspace, name="Bistro secret flow")
    for field, value in (("connection", theirs.pk), ("workflow", flow.pk)):
        body = {"name": "x", "connection": connection.pk, "sender": FROM, "body": "", field: value}
        response = api.post("/api/v1/campaigns", body, format="json")
        assert response.status_code == 400 and field in response.json()["fields"], field
        assert b"istro" not in response.content
    assert not Campaign.objects.exists()


def test_another_workspaces_campaign_is_a_404_for_every_operation(api, other_workspace, connection):
    theirs = connection_create(
        workspace=other_workspace, name="bistro main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    campaign = Campaign.objects.create(
        workspace=other_workspace, name="Bistro", connection=theirs, sender=FROM, body="x"
    )
    base = f"/api/v1/campaigns/{campaign.pk}"
    for method, suffix in [
        ("get", ""), ("get", "/recipients"), ("get", "/progress"), ("get", "/export"),
        ("put", ""), ("patch", ""), ("delete", ""), ("post", "/recipients"), ("post", "/start"),
        ("post", "/pause"), ("post", "/resume"), ("post", "/cancel"),
    ]:  # fmt: skip
        response = getattr(api, method)(
            base + suffix, ["+14155550101"] if method == "post" else {}, format="json"
        )
        assert response.status_code == 404, (method, suffix)
    campaign.refresh_from_db()
    assert campaign.status == "draft" and not campaign.recipients.exists()
