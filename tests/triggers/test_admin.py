"""Triggers, trigger events and phone numbers in the admin: the webhook URL per kind, the
read-only event log, the number operations (owners yes, viewers no) and workspace scoping."""

import json
from urllib.parse import parse_qsl

import pytest
import responses
from django.urls import reverse

from tests.conftest import ACCOUNT_SID, API, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN
from triggers.kinds.registry import trigger_kinds
from triggers.models import MatchStatus, PhoneNumber, Trigger, TriggerEvent
from triggers.numbers import webhook_urls
from workflows.models import Run, StepRun, Workflow
from workflows.services import run_execute_inline
from workspaces.models import Role

BASE = "https://flow.example.com"
NUMBERS = reverse("admin:triggers_phonenumber_changelist")
EVENTS = reverse("admin:triggers_triggerevent_changelist")
TRIGGERS = reverse("admin:triggers_trigger_changelist")
SYNC = reverse("admin:triggers_phonenumber_sync")
PN1, PN2 = "PN" + "1" * 32, "PN" + "2" * 32
LIST_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
API_KEY_WARNING = "This API-key connection has no Auth Token."


def number_url(sid):
    return f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{sid}.json"


def change_url(obj):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def text(response) -> str:
    return response.content.decode()


@pytest.fixture(autouse=True)
def _public_base(settings):
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def login(client, make_staff, workspace):
    def as_role(role=Role.OWNER, target=None):
        user = make_staff(f"user-{role}-{(target or workspace).slug}", target or workspace, role)
        client.force_login(user)
        return client

    return as_role


@pytest.fixture
def workflow(workspace):
    return Workflow.objects.create(workspace=workspace, name="Front desk")


@pytest.fixture
def make_trigger(workspace, workflow, connection):
    def make(kind="twilio/incoming-sms", **values):
        values = {
            "workspace": workspace,
            "workflow": workflow,
            "connection": connection,
            "name": f"{kind} {Trigger.objects.count()}",
            "kind": kind,
            **values,
        }
        return Trigger.objects.create(**values)

    return make


@pytest.fixture
def number(connection):
    return PhoneNumber.objects.create(
        connection=connection,
        sid=PN1,
        phone_number="+15017122661",
        friendly_name="Front desk",
        sms_url="https://old.example.com/sms",
        sms_method="POST",
        voice_url="",
        voice_method="POST",
    )


def event(connection, **values):
    values = {
        "connection": connection,
        "purpose": "messages",
        "kind": "twilio/incoming-sms",
        "dedupe_key": f"key:{TriggerEvent.objects.count()}",
        "sid": "SM" + "a" * 32,
        "from_number": "+14155550123",
        "to_number": "+15017122661",
        "match_status": MatchStatus.MATCHED,
        "runs_started": 1,
        "payload": {"Body": "Hours today?", "From": "+14155550123"},
        "response_body": "<Response><Message>We open at 9</Message></Response>",
        "response_content_type": "application/xml",
        **values,
    }
    return TriggerEvent.objects.create(**values)


# --- triggers ---------------------------------------------------------------------------------------
class TestTriggerAdmin:
    @pytest.mark.parametrize(
        ("kind", "purpose"),
        [
            ("twilio/incoming-sms", "messages"),
            ("twilio/incoming-whatsapp", "messages"),
            ("twilio/incoming-call", "voice"),
            ("twilio/message-status", "status"),
            ("twilio/call-status", "status"),
            ("twilio/recording-status", "status"),
        ],
    )
    def test_shows_the_url_for_the_kinds_purpose(self, login, make_trigger, connection, kind, purpose):
        trigger = make_trigger(kind)
        page = text(login().get(change_url(trigger)))
        url = webhook_urls(connection=connection)[purpose]
        assert f'readonly value="{url}"' in page
        assert "navigator.clipboard.writeText" in page
        assert AUTH_TOKEN not in page

    def test_a_generic_webhook_shows_its_own_url(self, login, make_trigger, connection):
        trigger = make_trigger("twilio/webhook")
        page = text(login().get(change_url(trigger)))
        assert (
            f'readonly value="{BASE}/hooks/twilio/{connection.public_id}/webhook/{trigger.public_id}"' in page
        )

    def test_a_polled_kind_says_how_often(self, login, make_trigger):
        polled = [slug for slug, kind in trigger_kinds().items() if kind.purpose == "poll"]
        if not polled:
            pytest.skip("no polled trigger kind registered")
        trigger = make_trigger(polled[0], poll_interval_minutes=7)
        page = text(login().get(change_url(trigger)))
        assert "polled every 7 minutes" in page

    def test_without_public_base_url_it_says_what_to_set(self, login, make_trigger, settings):
        settings.PUBLIC_BASE_URL = ""
        page = text(login().get(change_url(make_trigger())))
        assert "Set PUBLIC_BASE_URL" in page

    def test_warns_when_the_connection_cannot_check_signatures(self, login, make_trigger, make_connection):
        api_key = make_connection(
            name="key",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        page = text(login().get(change_url(make_trigger(connection=api_key))))
        assert API_KEY_WARNING in page
        assert API_KEY_SECRET not in page

    def test_add_through_the_admin(self, login, workspace, workflow, connection):
        response = login().post(
            reverse("admin:triggers_trigger_add"),
            {
                "workspace": workspace.pk,
                "name": "Hours",
                "kind": "twilio/incoming-sms",
                "workflow": workflow.pk,
                "connection": connection.pk,
                "enabled": "on",
                "numbers": '["+15017122661"]',
                "from_pattern": "",
                "keywords": "HOURS",
                "reply_message": "",
                "voice_answer": "{}",
                "poll_interval_minutes": "5",
                "poll_from": "",
                "poll_to": "",
            },
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
        trigger = Trigger.objects.get()
        assert (trigger.numbers, trigger.keywords) == (["+15017122661"], "HOURS")

    def test_add_refuses_an_api_key_connection_with_the_clear_message(
        self, login, workspace, workflow, make_connection
    ):
        api_key = make_connection(
            name="key",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        response = login().post(
            reverse("admin:triggers_trigger_add"),
            {
                "workspace": workspace.pk,
                "name": "Hours",
                "kind": "twilio/incoming-sms",
                "workflow": workflow.pk,
                "connection": api_key.pk,
                "enabled": "on",
                "numbers": "[]",
                "voice_answer": "{}",
                "poll_interval_minutes": "5",
            },
        )
        assert response.status_code == 200
        assert API_KEY_WARNING in text(response)
        assert not Trigger.objects.exists()


# --- events ---------------------------------------------------------------------------------------
class TestTriggerEventAdmin:
    def test_read_only_for_everyone(self, admin_client, connection):
        stored = event(connection)
        assert admin_client.get(reverse("admin:triggers_triggerevent_add")).status_code == 403
        response = admin_client.post(change_url(stored), {"kind": "twilio/incoming-call"})
        assert response.status_code == 403
        delete = reverse("admin:triggers_triggerevent_delete", args=[stored.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
        assert TriggerEvent.objects.get(pk=stored.pk).kind == "twilio/incoming-sms"
        changelist = text(admin_client.get(EVENTS))
        assert "delete_selected" not in changelist

    def test_list_columns_and_search(self, login, connection):
        event(connection)
        event(connection, sid="SM" + "b" * 32, from_number="+4915112345678")
        client = login(Role.VIEWER)
        page = text(client.get(EVENTS))
        assert "+14155550123" in page and "+4915112345678" in page and "Started runs" in page
        found = text(client.get(EVENTS, {"q": "+49151"}))
        assert "+4915112345678" in found and "+14155550123" not in found

    def test_change_page_shows_payload_answer_and_runs(self, login, connection, workflow):
        stored = event(connection)
        run = Run.objects.create(
            workflow=workflow, workspace=workflow.workspace, trigger_event=stored, source="trigger"
        )
        page = text(login(Role.VIEWER).get(change_url(stored)))
        assert (
            json.dumps({"Body": "Hours today?", "From": "+14155550123"}, indent=2).replace('"', "&quot;")
            in page
        )
        assert "&lt;Message&gt;We open at 9&lt;/Message&gt;" in page
        assert f'href="{reverse("admin:workflows_run_change", args=[run.pk])}"' in page


# --- phone numbers ----------------------------------------------------------------------------------
class TestPhoneNumberAdmin:
    def test_list_shows_routing_and_listening_triggers(self, login, number, make_trigger):
        make_trigger()
        make_trigger(numbers=["+15550000000"])
        response = login(Role.VIEWER).get(NUMBERS)
        page = text(response)
        assert "+15017122661" in page and "https://old.example.com/sms" in page
        row = response.context["cl"].result_list[0]
        listening = response.context["cl"].list_display[-1]
        assert listening(row) == 1

    def test_detail_shows_previous_webhooks_urls_and_listeners(self, login, number, make_trigger, connection):
        trigger = make_trigger(name="Hours")
        PhoneNumber.objects.filter(pk=number.pk).update(
            previous_webhooks={"sms_url": "https://prev.example.com/x"}
        )
        page = text(login(Role.VIEWER).get(change_url(number)))
        assert "https://prev.example.com/x" in page
        assert webhook_urls(connection=connection)["messages"] in page
        assert f'href="{change_url(trigger)}"' in page

    def test_no_one_adds_or_edits_numbers_by_hand(self, admin_client, number):
        assert admin_client.get(reverse("admin:triggers_phonenumber_add")).status_code == 403
        assert admin_client.post(change_url(number), {"sms_url": "https://x.example.com"}).status_code == 403

    # Route and restore are audited runs in the worker (they used to call Twilio inside the
    # request): the action creates an ad-hoc run, one step per number, enqueues it and goes
    # to the run's page. These tests then execute the run as the worker would.
    def test_owner_routes_numbers_through_an_enqueued_run(
        self, login, number, connection, twilio, django_capture_on_commit_callbacks, monkeypatch
    ):
        second = PhoneNumber.objects.create(connection=connection, sid=PN2, phone_number="+15017122662")
        enqueued = []
        monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: enqueued.append(a))
        client = login(Role.OWNER)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                NUMBERS, {"action": "route_numbers", "_selected_action": [number.pk, second.pk]}
            )
        assert len(twilio.calls) == 0  # nothing sent in the request
        run = Run.objects.get()
        assert response.status_code == 302 and response["Location"] == change_url(run)
        assert (run.workflow, run.source, run.status) == (None, "admin", "pending")
        assert [s["name"] for s in run.adhoc_steps] == ["route +15017122661", "route +15017122662"]
        assert {s["action"] for s in run.adhoc_steps} == {"twilio/configure-phone-number-webhooks"}
        assert enqueued == [("workflows.tasks.run_execute_task", run.pk)]

        urls = webhook_urls(connection=connection)
        twilio.add(
            responses.GET,
            number_url(PN1),
            json={
                "sid": PN1,
                "sms_url": "https://old.example.com/sms",
                "sms_method": "POST",
                "voice_url": "",
            },
        )
        twilio.add(
            responses.POST,
            number_url(PN1),
            json={
                "sid": PN1,
                "phone_number": "+15017122661",
                "sms_url": urls["messages"],
                "voice_url": urls["voice"],
                "status_callback": urls["status"],
            },
        )
        twilio.add(responses.GET, number_url(PN2), json={"sid": PN2, "sms_url": ""})
        twilio.add(responses.POST, number_url(PN2), status=500, json={"code": 20500, "message": "Boom"})
        run = run_execute_inline(run.pk)

        # Exactly one update per number, each after its previous webhooks were fetched.
        assert [(c.request.method, c.request.url) for c in twilio.calls] == [
            ("GET", number_url(PN1)),
            ("POST", number_url(PN1)),
            ("GET", number_url(PN2)),
            ("POST", number_url(PN2)),
        ]
        number.refresh_from_db()
        second.refresh_from_db()
        assert number.sms_url == urls["messages"] and number.routed_at is not None
        assert number.previous_webhooks["sms_url"] == "https://old.example.com/sms"
        # The failed number: previous webhooks recorded, not marked routed, failure on its step.
        assert second.previous_webhooks is not None and second.routed_at is None
        steps = {s.step_name: s for s in StepRun.objects.filter(run=run)}
        assert steps["route +15017122661"].status == "succeeded"
        assert [e["method"] for e in steps["route +15017122661"].exchanges] == ["GET", "POST"]
        assert steps["route +15017122662"].status == "failed"
        assert steps["route +15017122662"].error_code == "PROVIDER_ERROR"

        page = text(client.get(change_url(run)))
        assert "route +15017122662" in page and "PROVIDER_ERROR" in page

    def test_a_live_route_run_page_refreshes_itself(self, login, number, connection):
        response = login(Role.OWNER).post(
            NUMBERS, {"action": "route_numbers", "_selected_action": [number.pk]}, follow=True
        )
        page = text(response)
        assert '<meta http-equiv="refresh"' in page and "Pending" in page

    def test_a_number_that_cannot_be_routed_is_a_message_and_no_run(self, login, number, twilio, settings):
        settings.PUBLIC_BASE_URL = ""
        response = login(Role.OPERATOR).post(
            NUMBERS, {"action": "route_numbers", "_selected_action": [number.pk]}, follow=True
        )
        assert response.status_code == 200
        assert "+15017122661: VALIDATION_ERROR: Set PUBLIC_BASE_URL" in text(response)
        assert not Run.objects.exists() and len(twilio.calls) == 0

    def test_restore_without_previous_is_a_message(self, login, number, twilio):
        response = login().post(
            NUMBERS, {"action": "restore_numbers", "_selected_action": [number.pk]}, follow=True
        )
        assert "nothing to restore" in text(response)
        assert len(twilio.calls) == 0 and not Run.objects.exists()

    def test_owner_restores_through_a_run_clearing_empty_urls(self, login, number, twilio):
        previous = {
            "sms_url": "https://prev.example.com/sms",
            "sms_method": "GET",
            "voice_url": "",
            "voice_method": "POST",
            "status_callback": "",
            "status_callback_method": "POST",
        }
        PhoneNumber.objects.filter(pk=number.pk).update(
            previous_webhooks=previous, routed_at="2024-01-01T00:00:00Z"
        )
        response = login().post(NUMBERS, {"action": "restore_numbers", "_selected_action": [number.pk]})
        assert len(twilio.calls) == 0
        run = Run.objects.get()
        assert response["Location"] == change_url(run) and run.source == "admin"
        twilio.add(responses.POST, number_url(PN1), json={"sid": PN1, **previous})
        run_execute_inline(run.pk)
        assert parse_qsl(twilio.calls[0].request.body, keep_blank_values=True) == [
            ("SmsUrl", "https://prev.example.com/sms"),
            ("SmsMethod", "GET"),
            ("VoiceUrl", ""),
            ("VoiceMethod", "POST"),
            ("StatusCallback", ""),
            ("StatusCallbackMethod", "POST"),
        ]
        number.refresh_from_db()
        assert number.sms_url == "https://prev.example.com/sms" and number.sms_method == "GET"
        assert number.voice_url == "" and number.previous_webhooks is None and number.routed_at is None

    def test_sync_action_and_button(self, login, number, connection, twilio):
        twilio.add(
            responses.GET,
            LIST_URL,
            json={
                "incoming_phone_numbers": [
                    {"sid": PN1, "phone_number": "+15017122661", "friendly_name": "Renamed"},
                    {"sid": PN2, "phone_number": "+15017122662"},
                ],
                "next_page_uri": None,
            },
        )
        client = login()
        response = client.post(
            NUMBERS, {"action": "sync_numbers", "_selected_action": [number.pk]}, follow=True
        )
        assert "2 number(s) on Twilio; 1 new, 1 updated, 0 removed." in text(response)
        assert PhoneNumber.objects.get(sid=PN1).friendly_name == "Renamed"

        page = text(client.get(NUMBERS))
        assert f'action="{SYNC}"' in page and "Sync numbers from Twilio" in page
        response = client.post(SYNC, {"connection": connection.pk}, follow=True)
        assert "2 number(s) on Twilio; 0 new, 2 updated, 0 removed." in text(response)

    def test_sync_button_works_with_no_numbers_yet(self, login, connection, twilio):
        twilio.add(
            responses.GET,
            LIST_URL,
            json={
                "incoming_phone_numbers": [{"sid": PN1, "phone_number": "+15017122661"}],
                "next_page_uri": None,
            },
        )
        login().post(SYNC, {"connection": connection.pk})
        assert PhoneNumber.objects.filter(connection=connection).count() == 1

    def test_a_failed_sync_is_a_message(self, login, connection, twilio):
        twilio.add(responses.GET, LIST_URL, status=401, json={"code": 20003, "message": "Authenticate"})
        response = login().post(SYNC, {"connection": connection.pk}, follow=True)
        assert response.status_code == 200
        assert "sync failed: AUTH_EXPIRED" in text(response)

    def test_viewers_cannot_run_operations(self, login, number, connection, twilio):
        client = login(Role.VIEWER)
        page = text(client.get(NUMBERS))
        assert "route_numbers" not in page and "Sync numbers from Twilio" not in page
        for action in ("route_numbers", "restore_numbers", "sync_numbers"):
            client.post(NUMBERS, {"action": action, "_selected_action": [number.pk]})
        assert client.post(SYNC, {"connection": connection.pk}).status_code == 403
        assert len(twilio.calls) == 0
        number.refresh_from_db()
        assert number.previous_webhooks is None and number.routed_at is None

    def test_an_editor_elsewhere_cannot_operate_numbers_they_only_view(
        self, client, make_staff, workspace, other_workspace, number, make_connection, twilio
    ):
        user = make_staff("mixed", workspace, Role.VIEWER)
        from workspaces.models import Membership

        Membership.objects.create(user=user, workspace=other_workspace, role=Role.OWNER)
        client.force_login(user)
        response = client.post(
            NUMBERS, {"action": "route_numbers", "_selected_action": [number.pk]}, follow=True
        )
        assert "1 number(s) skipped: you may only view them." in text(response)
        client.post(SYNC, {"connection": number.connection_id})
        assert len(twilio.calls) == 0


# --- scoping ----------------------------------------------------------------------------------------
def test_another_workspaces_triggers_events_and_numbers_are_invisible(
    login, make_connection, other_workspace, workspace, make_trigger, number, connection, twilio
):
    theirs = make_connection(workspace=other_workspace, name="bistro", auth_token=AUTH_TOKEN)
    their_workflow = Workflow.objects.create(workspace=other_workspace, name="Bistro flow")
    their_trigger = Trigger.objects.create(
        workspace=other_workspace,
        workflow=their_workflow,
        connection=theirs,
        name="Bistro SMS",
        kind="twilio/incoming-sms",
    )
    their_event = event(theirs, from_number="+4930111222", to_number="+4930999888")
    their_number = PhoneNumber.objects.create(connection=theirs, sid=PN2, phone_number="+4930999888")
    make_trigger(name="Acme SMS")
    event(connection)

    client = login(Role.OWNER)
    assert "Acme SMS" in text(client.get(TRIGGERS)) and "Bistro SMS" not in text(client.get(TRIGGERS))
    events = text(client.get(EVENTS))
    assert "+14155550123" in events and "+4930111222" not in events and "+4930999888" not in events
    numbers = text(client.get(NUMBERS))
    assert "+15017122661" in numbers and "+4930999888" not in numbers
    for obj in (their_trigger, their_event, their_number):
        response = client.get(change_url(obj))
        assert response.status_code == 302  # "doesn't exist", back to the index
    # Their connection is not offered for syncing either.
    client.post(SYNC, {"connection": theirs.pk})
    assert len(twilio.calls) == 0
