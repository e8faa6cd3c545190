"""Per endpoint: workspaces, connections (secrets write-only), workflows in the workflow@1
format (validate, enable/disable), triggers (webhook URL), actions (catalogue, run),
events, phone numbers (sync, route, restore as runs), consent."""

from __future__ import annotations

import copy

import pytest

from compliance.models import ConsentEvent
from compliance.selectors import is_opted_out
from connections.models import Connection
from tests.api.conftest import SEND_SMS_DOC
from tests.conftest import ACCOUNT_SID, API, AUTH_TOKEN, account_body, account_url
from triggers.models import PhoneNumber, Trigger, TriggerEvent
from workflows.models import Run, Workflow
from workflows.transfer import workflow_export

pytestmark = pytest.mark.django_db
NEW_TOKEN = "ab12cd34ef56ab12cd34ef56ab12cd34"
NEW_SECRET = "zyxwvutsrqponmlkjihgfedcba987654"


def test_workspaces_are_the_callers(api, workspace):
    body = api.get("/api/v1/workspaces").json()
    assert [w["slug"] for w in body["results"]] == ["acme"]
    assert api.get(f"/api/v1/workspaces/{workspace.pk}").json()["permissions"] == [
        "edit",
        "manage",
        "read",
        "run",
    ]


class TestConnections:
    def test_create_read_update_delete_never_return_a_secret(self, api, workspace):
        created = api.post(
            "/api/v1/connections",
            {"name": "client", "account_sid": ACCOUNT_SID, "auth_token": NEW_TOKEN},
            format="json",
        )
        assert created.status_code == 201, created.content
        pk = created.json()["id"]
        assert Connection.objects.get(pk=pk).auth_token == NEW_TOKEN
        updated = api.put(
            f"/api/v1/connections/{pk}",
            {
                "name": "client2",
                "account_sid": ACCOUNT_SID,
                "kind": "api_key",
                "api_key_sid": "SK" + "1" * 32,
                "api_key_secret": NEW_SECRET,
            },
            format="json",
        )
        assert updated.status_code == 200, updated.content
        connection = Connection.objects.get(pk=pk)
        assert (connection.name, connection.auth_token, connection.api_key_secret) == (
            "client2",
            NEW_TOKEN,
            NEW_SECRET,
        )
        answers = [created, updated, api.get(f"/api/v1/connections/{pk}"), api.get("/api/v1/connections")]
        for response in answers:
            for secret in (NEW_TOKEN, NEW_SECRET, NEW_TOKEN[4:-4], NEW_SECRET[4:-4]):
                assert secret.encode() not in response.content
        assert answers[2].json()["auth_token_masked"] == "••••" + NEW_TOKEN[-4:]
        assert api.delete(f"/api/v1/connections/{pk}").status_code == 204

    def test_invalid_connection_names_every_field(self, api):
        response = api.post("/api/v1/connections", {"name": "", "account_sid": "nope"}, format="json")
        assert response.status_code == 400
        assert {"name", "account_sid"} <= set(response.json()["fields"])

    def test_in_use_is_409(self, api, connection, simple_workflow):
        Trigger.objects.create(
            workspace=connection.workspace,
            workflow=simple_workflow,
            connection=connection,
            name="t",
            kind="twilio/incoming-sms",
        )
        response = api.delete(f"/api/v1/connections/{connection.pk}")
        assert response.status_code == 409 and response.json()["code"] == "CONFLICT"

    def test_verify(self, api, connection, twilio):
        twilio.get(account_url(), json=account_body())
        response = api.post(f"/api/v1/connections/{connection.pk}/verify")
        assert response.json() == {
            "ok": True,
            "message": "Verified: Acme Dental (active).",
            "status": "verified",
        }
        assert AUTH_TOKEN.encode() not in response.content


class TestWorkflows:
    def test_create_from_the_document_and_read_it_back_exactly(self, api, connection):
        response = api.post("/api/v1/workflows", SEND_SMS_DOC, format="json")
        assert response.status_code == 201, response.content
        workflow = Workflow.objects.get(name="Confirm booking")
        assert workflow_export(workflow) == SEND_SMS_DOC
        read = api.get(f"/api/v1/workflows/{workflow.pk}").json()
        assert {k: v for k, v in read.items() if k in SEND_SMS_DOC} == SEND_SMS_DOC

    def test_put_replaces_and_renames(self, api, connection):
        pk = api.post("/api/v1/workflows", SEND_SMS_DOC, format="json").json()["id"]
        document = copy.deepcopy(SEND_SMS_DOC)
        document["name"] = "Confirm booking v2"
        document["steps"][0]["inputs"]["Body"] = "Changed"
        response = api.put(f"/api/v1/workflows/{pk}", document, format="json")
        assert response.status_code == 200, response.content
        assert workflow_export(Workflow.objects.get(pk=pk)) == document

    def test_validate_returns_every_error_with_its_path_and_saves_nothing(self, api, connection):
        document = copy.deepcopy(SEND_SMS_DOC)
        document["steps"].append(
            {"name": "Bad Name", "kind": "action", "action": "twilio/send-sms", "inputs": {}}
        )
        document["steps"][0]["connection"] = "missing"
        response = api.post("/api/v1/workflows/validate", document, format="json")
        body = response.json()
        assert response.status_code == 200 and body["valid"] is False
        assert "steps.0.connection" in body["errors"] and "steps.1.name" in body["errors"]
        assert not Workflow.objects.exists()
        assert api.post("/api/v1/workflows/validate", SEND_SMS_DOC, format="json").json() == {
            "valid": True,
            "errors": {},
        }
        assert not Workflow.objects.exists()

    def test_type_errors_are_paths_too(self, api):
        document = {**SEND_SMS_DOC, "steps": [{"name": "x", "kind": "nope", "max_retries": "many"}]}
        response = api.post("/api/v1/workflows", document, format="json")
        assert response.status_code == 400
        assert {"steps.0.kind", "steps.0.max_retries"} <= set(response.json()["fields"])

    def test_enable_disable(self, api, simple_workflow):
        assert api.post(f"/api/v1/workflows/{simple_workflow.pk}/disable").json() == {
            "id": simple_workflow.pk,
            "enabled": False,
        }
        simple_workflow.refresh_from_db()
        assert not simple_workflow.enabled
        api.post(f"/api/v1/workflows/{simple_workflow.pk}/enable")
        simple_workflow.refresh_from_db()
        assert simple_workflow.enabled

    def test_delete_with_runs_is_409_without_is_204(self, api, simple_workflow, workspace):
        Run.objects.create(workflow=simple_workflow, workspace=workspace)
        assert api.delete(f"/api/v1/workflows/{simple_workflow.pk}").status_code == 409
        Run.objects.all().delete()
        assert api.delete(f"/api/v1/workflows/{simple_workflow.pk}").status_code == 204


class TestTriggers:
    def test_crud_with_the_webhook_url(self, api, simple_workflow, connection, settings):
        settings.PUBLIC_BASE_URL = "https://flow.example.com"
        body = {
            "workflow": simple_workflow.pk,
            "connection": connection.pk,
            "name": "Inbound",
            "kind": "twilio/incoming-sms",
        }
        created = api.post("/api/v1/triggers", body, format="json")
        assert created.status_code == 201, created.content
        data = created.json()
        assert data["webhook_url"] == f"https://flow.example.com/hooks/twilio/{connection.public_id}/messages"
        pk = data["id"]
        changed = api.put(
            f"/api/v1/triggers/{pk}", {**body, "keywords": "BOOK", "enabled": False}, format="json"
        )
        assert changed.status_code == 200 and Trigger.objects.get(pk=pk).keyword_list() == ["BOOK"]
        assert api.delete(f"/api/v1/triggers/{pk}").status_code == 204

    def test_model_rules_come_back_as_fields(self, api, simple_workflow, connection):
        body = {
            "workflow": simple_workflow.pk,
            "connection": connection.pk,
            "name": "Inbound",
            "kind": "twilio/incoming-sms",
            "from_pattern": "([",
        }
        response = api.post("/api/v1/triggers", body, format="json")
        assert response.status_code == 400 and "from_pattern" in response.json()["fields"]


class TestActions:
    def test_catalogue_has_a_json_schema_per_action(self, api):
        actions = api.get("/api/v1/actions").json()
        sms = next(a for a in actions if a["slug"] == "twilio/send-sms")
        assert sms["input_schema"]["type"] == "object" and "To" in sms["input_schema"]["required"]
        assert api.get("/api/v1/actions/twilio/send-sms").json() == sms
        assert api.get("/api/v1/actions/twilio/nope").status_code == 404

    def test_invalid_inputs_are_400_and_no_run(self, api, connection):
        response = api.post(
            "/api/v1/actions/twilio/send-sms/run",
            {"connection": connection.pk, "inputs": {"To": "nope"}},
            format="json",
        )
        assert response.status_code == 400 and "To" in response.json()["fields"]
        assert not Run.objects.exists()

    def test_run_is_an_audited_adhoc_run_through_the_gate(self, api, connection, twilio):
        PhoneNumber.objects.create(connection=connection, sid="PN" + "1" * 32, phone_number="+14155550100")
        twilio.post(
            f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            json={"sid": "SM" + "2" * 32, "status": "queued", "to": "+14155550123", "from": "+14155550100"},
            status=201,
        )
        inputs = {"To": "+14155550123", "From": "+14155550100", "Body": "Hello"}
        response = api.post(
            "/api/v1/actions/twilio/send-sms/run",
            {"connection": connection.pk, "inputs": inputs},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "succeeded" and body["source"] == "api"
        assert body["steps"][0]["twilio_sid"] == "SM" + "2" * 32
        assert AUTH_TOKEN.encode() not in response.content
        # The gate applies: an opted-out recipient is refused before any request.
        api.post("/api/v1/consent", {"contact": "+14155550123", "kind": "opt_out"}, format="json")
        refused = api.post(
            "/api/v1/actions/twilio/send-sms/run",
            {"connection": connection.pk, "inputs": inputs},
            format="json",
        )
        assert refused.json()["status"] == "failed" and refused.json()["error_code"] == "OPTED_OUT"
        assert len([c for c in twilio.calls if c.request.method == "POST"]) == 1


class TestEventsAndNumbers:
    def test_events(self, api, connection):
        event = TriggerEvent.objects.create(
            connection=connection,
            purpose="messages",
            kind="twilio/incoming-sms",
            dedupe_key="SM1",
            match_status="no_match",
            payload={"From": "+14155550123", "Body": "hi"},
        )
        listed = api.get("/api/v1/events").json()["results"]
        assert [e["id"] for e in listed] == [event.pk]
        assert api.get(f"/api/v1/events/{event.pk}").json()["payload"]["Body"] == "hi"

    def test_sync_route_restore(self, api, connection, twilio, settings):
        settings.PUBLIC_BASE_URL = "https://flow.example.com"
        numbers = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
        twilio.get(
            numbers,
            json={
                "incoming_phone_numbers": [{"sid": "PN" + "3" * 32, "phone_number": "+14155550100"}],
                "next_page_uri": None,
            },
        )
        synced = api.post("/api/v1/phone-numbers/sync", {"connection": connection.pk}, format="json")
        assert synced.status_code == 200 and synced.json()["created"] == 1
        number = PhoneNumber.objects.get()
        routed = api.post(f"/api/v1/phone-numbers/{number.pk}/route")
        assert routed.status_code == 202
        run = Run.objects.get(pk=routed.json()["id"])
        assert (
            run.source == "api" and run.adhoc_steps[0]["action"] == "twilio/configure-phone-number-webhooks"
        )
        refused = api.post(f"/api/v1/phone-numbers/{number.pk}/restore")
        assert refused.status_code == 400 and "nothing to restore" in refused.json()["message"]


class TestConsent:
    def test_opt_out_then_in(self, api, workspace):
        response = api.post(
            "/api/v1/consent", {"contact": "(415) 555-0123", "kind": "opt_out"}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["contact"] == "+14155550123" and response.json()["source"] == "api"
        assert is_opted_out(workspace_id=workspace.pk, contact="+14155550123", channel="sms")
        api.post("/api/v1/consent", {"contact": "+14155550123", "kind": "opt_in"}, format="json")
        assert not is_opted_out(workspace_id=workspace.pk, contact="+14155550123", channel="sms")
        assert ConsentEvent.objects.count() == 2
        listed = api.get("/api/v1/consent", {"contact": "+14155550123"}).json()["results"]
        assert [e["kind"] for e in listed] == ["opt_in", "opt_out"]

    def test_bad_contact_is_400(self, api):
        response = api.post("/api/v1/consent", {"contact": "not a number", "kind": "opt_out"}, format="json")
        assert response.status_code == 400 and "contact" in response.json()["fields"]


def test_pickers_offer_the_accounts_numbers(api, connection, twilio):
    twilio.get(
        f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json",
        json={"incoming_phone_numbers": [{"phone_number": "+14155550100", "friendly_name": "Front desk"}]},
    )
    response = api.get(f"/api/v1/connections/{connection.pk}/pickers/phone_numbers")
    assert response.json() == [{"value": "+14155550100", "label": "Front desk (+14155550100)"}]
    assert api.get(f"/api/v1/connections/{connection.pk}/pickers/nope").status_code == 404
