"""Phone numbers: sync (paging, upsert, removal), route (previous webhooks recorded first),
restore (exact previous values back), who listens, and the sync_numbers command."""

from urllib.parse import parse_qsl

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from responses import matchers

from tests.conftest import ACCOUNT_SID, API, API_KEY_SECRET, API_KEY_SID
from triggers.models import PhoneNumber, Trigger
from triggers.number_routing import number_restore, number_route
from triggers.numbers import (
    numbers_listening,
    numbers_sync,
    trigger_webhook_url,
    webhook_urls,
)
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Workflow

BASE = "https://flow.example.com"
NUMBERS = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
PN1, PN2, PN3, PN_GONE = ("PN" + c * 32 for c in "1234")


def number_url(sid):
    return f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{sid}.json"


def record(sid, phone, **extra):
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "phone_number": phone,
        "friendly_name": f"Line {phone[-4:]}",
        "sms_url": "",
        "sms_method": "POST",
        "voice_url": "",
        "voice_method": "POST",
        "status_callback": "",
        "status_callback_method": "POST",
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        **extra,
    }


OLD = {
    "sms_url": "https://old.example.com/sms",
    "sms_method": "GET",
    "voice_url": "https://old.example.com/voice",
    "voice_method": "POST",
    "status_callback": "",
    "status_callback_method": "POST",
}


@pytest.fixture(autouse=True)
def _public_base(settings):
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def number(connection):
    # As last synced: deliberately not what Twilio has now (someone changed the console).
    return PhoneNumber.objects.create(
        connection=connection,
        sid=PN1,
        phone_number="+15017122661",
        friendly_name="Front desk",
        sms_url="https://synced.example.com/sms",
        sms_method="POST",
        voice_url="https://synced.example.com/voice",
        voice_method="POST",
        status_callback="",
        capabilities={"sms": True},
    )


def routed_record(connection, **extra):
    urls = webhook_urls(connection=connection)
    return record(
        PN1,
        "+15017122661",
        friendly_name="Front desk",
        sms_url=urls["messages"],
        voice_url=urls["voice"],
        status_callback=urls["status"],
        **extra,
    )


def form(call) -> list[tuple[str, str]]:
    return parse_qsl(call.request.body, keep_blank_values=True)


# --- URLs ---------------------------------------------------------------------------------------
class TestUrls:
    def test_the_connections_urls(self, connection):
        urls = webhook_urls(connection=connection)
        prefix = f"{BASE}/hooks/twilio/{connection.public_id}"
        assert urls["messages"] == f"{prefix}/messages"
        assert urls["voice"] == f"{prefix}/voice"
        assert urls["status"] == f"{prefix}/status"

    def test_an_explicit_base_wins_and_loses_its_trailing_slash(self, connection):
        urls = webhook_urls(connection=connection, base_url="https://x.example.org/tf/")
        assert urls["voice"] == f"https://x.example.org/tf/hooks/twilio/{connection.public_id}/voice"

    def test_without_public_base_url_it_says_what_to_set(self, connection, settings):
        settings.PUBLIC_BASE_URL = ""
        with pytest.raises(TwilioFlowError) as caught:
            webhook_urls(connection=connection)
        assert caught.value.code == errors.VALIDATION_ERROR
        assert caught.value.message.startswith("Set PUBLIC_BASE_URL")

    def test_generic_webhook_triggers_have_their_own_url(self, connection, workspace):
        workflow = Workflow.objects.create(workspace=workspace, name="wf")
        trigger = Trigger.objects.create(
            workspace=workspace, workflow=workflow, connection=connection, name="hook", kind="twilio/webhook"
        )
        assert trigger_webhook_url(trigger) == (
            f"{BASE}/hooks/twilio/{connection.public_id}/webhook/{trigger.public_id}"
        )


# --- sync -------------------------------------------------------------------------------------------
class TestSync:
    def test_pages_upserts_and_removes(self, twilio, connection, other_workspace):
        stale = PhoneNumber.objects.create(
            connection=connection,
            sid=PN2,
            phone_number="+15550000002",
            friendly_name="old name",
            sms_url="https://old.example.com/",
        )
        gone = PhoneNumber.objects.create(connection=connection, sid=PN_GONE, phone_number="+15550000009")
        next_uri = (
            f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json?PageSize=1000&Page=1&PageToken=PA1"
        )
        twilio.add(
            responses.GET,
            NUMBERS,
            match=[matchers.query_param_matcher({"PageSize": "1000"})],
            json={
                "incoming_phone_numbers": [
                    record(PN1, "+15550000001", sms_url="https://a.example.com/sms"),
                    record(PN2, "+15550000002", friendly_name="Reception"),
                ],
                "next_page_uri": next_uri,
            },
        )
        twilio.add(
            responses.GET,
            NUMBERS,
            match=[matchers.query_param_matcher({"PageSize": "1000", "Page": "1", "PageToken": "PA1"})],
            json={
                "incoming_phone_numbers": [
                    record(
                        PN3,
                        "+15550000003",
                        voice_url="https://b.example.com/v",
                        voice_method="GET",
                        status_callback="https://b.example.com/s",
                    ),
                ],
                "next_page_uri": None,
            },
        )

        counts = numbers_sync(connection=connection)

        assert counts == {"total": 3, "created": 2, "updated": 1, "removed": 1, "conflicts": 0}
        assert len(twilio.calls) == 2
        assert not PhoneNumber.objects.filter(pk=gone.pk).exists()
        stale.refresh_from_db()
        assert (stale.friendly_name, stale.sms_url, stale.synced_at is not None) == ("Reception", "", True)
        third = PhoneNumber.objects.get(sid=PN3)
        assert (
            third.connection,
            third.phone_number,
            third.voice_url,
            third.voice_method,
            third.status_callback,
        ) == (connection, "+15550000003", "https://b.example.com/v", "GET", "https://b.example.com/s")
        assert third.capabilities == {"voice": True, "sms": True, "mms": False, "fax": False}
        assert PhoneNumber.objects.get(sid=PN1).sms_url == "https://a.example.com/sms"

    def test_a_sync_keeps_what_routing_recorded(self, twilio, number, connection):
        PhoneNumber.objects.filter(pk=number.pk).update(previous_webhooks=OLD)
        twilio.add(
            responses.GET,
            NUMBERS,
            json={"incoming_phone_numbers": [record(PN1, "+15017122661")], "next_page_uri": None},
        )
        numbers_sync(connection=connection)
        number.refresh_from_db()
        assert number.previous_webhooks == OLD

    def test_a_failed_listing_changes_nothing(self, twilio, number, connection):
        twilio.add(responses.GET, NUMBERS, status=500, json={"code": 20500, "message": "oops"})
        with pytest.raises(TwilioFlowError) as caught:
            numbers_sync(connection=connection)
        assert caught.value.code == errors.PROVIDER_ERROR
        assert PhoneNumber.objects.filter(pk=number.pk).exists()

    def test_a_number_synced_under_another_connection_is_left_alone(
        self, twilio, number, make_connection, other_workspace
    ):
        other = make_connection(workspace=other_workspace, name="same account")
        twilio.add(
            responses.GET,
            NUMBERS,
            json={"incoming_phone_numbers": [record(PN1, "+15017122661")], "next_page_uri": None},
        )
        counts = numbers_sync(connection=other)
        assert counts["conflicts"] == 1 and counts["created"] == 0
        assert PhoneNumber.objects.get(sid=PN1).connection_id == number.connection_id


# --- route and restore ------------------------------------------------------------------------------
class TestRoute:
    def test_previous_webhooks_are_recorded_before_the_update_even_when_it_fails(self, twilio, number):
        seen_at_update = []

        def update(request):
            seen_at_update.append(PhoneNumber.objects.get(pk=number.pk).previous_webhooks)
            return 500, {}, '{"code": 20500, "message": "Internal error", "status": 500}'

        twilio.add(responses.GET, number_url(PN1), json=record(PN1, "+15017122661", **OLD))
        twilio.add_callback(responses.POST, number_url(PN1), callback=update)

        with pytest.raises(TwilioFlowError) as caught:
            number_route(number=number)

        assert caught.value.code == errors.PROVIDER_ERROR
        assert [c.request.method for c in twilio.calls] == ["GET", "POST"]
        assert seen_at_update and seen_at_update[0] is not None  # committed before the request
        row = PhoneNumber.objects.get(pk=number.pk)
        assert {k: row.previous_webhooks[k] for k in OLD} == OLD
        # …and nothing else changed.
        assert (
            row.sms_url,
            row.sms_method,
            row.voice_url,
            row.voice_method,
            row.status_callback,
            row.friendly_name,
            row.routed_at,
        ) == (
            "https://synced.example.com/sms",
            "POST",
            "https://synced.example.com/voice",
            "POST",
            "",
            "Front desk",
            None,
        )

    def test_route_then_restore_puts_the_exact_previous_values_back(self, twilio, number, connection):
        urls = webhook_urls(connection=connection)
        twilio.add(responses.GET, number_url(PN1), json=record(PN1, "+15017122661", **OLD))
        twilio.add(responses.POST, number_url(PN1), json=routed_record(connection))
        number_route(number=number)

        assert form(twilio.calls[1]) == [
            ("SmsUrl", urls["messages"]),
            ("SmsMethod", "POST"),
            ("VoiceUrl", urls["voice"]),
            ("VoiceMethod", "POST"),
            ("StatusCallback", urls["status"]),
            ("StatusCallbackMethod", "POST"),
        ]
        number.refresh_from_db()
        assert (number.sms_url, number.voice_url, number.status_callback) == (
            urls["messages"],
            urls["voice"],
            urls["status"],
        )
        assert (number.sms_method, number.voice_method) == ("POST", "POST")
        assert number.routed_at is not None

        twilio.replace(responses.POST, number_url(PN1), json=record(PN1, "+15017122661", **OLD))
        number_restore(number=number)

        # The empty status callback is cleared with an empty value, not left out.
        assert form(twilio.calls[2]) == [
            ("SmsUrl", "https://old.example.com/sms"),
            ("SmsMethod", "GET"),
            ("VoiceUrl", "https://old.example.com/voice"),
            ("VoiceMethod", "POST"),
            ("StatusCallback", ""),
            ("StatusCallbackMethod", "POST"),
        ]
        number.refresh_from_db()
        assert (number.sms_url, number.sms_method, number.voice_url, number.status_callback) == (
            "https://old.example.com/sms",
            "GET",
            "https://old.example.com/voice",
            "",
        )
        assert number.previous_webhooks is None and number.routed_at is None

    def test_restore_with_every_value_set_goes_through_the_action(self, twilio, number, connection):
        previous = {**OLD, "status_callback": "https://old.example.com/status"}
        PhoneNumber.objects.filter(pk=number.pk).update(previous_webhooks=previous)
        number.refresh_from_db()
        twilio.add(responses.POST, number_url(PN1), json=record(PN1, "+15017122661", **previous))
        number_restore(number=number)
        assert form(twilio.calls[0]) == [
            ("SmsUrl", "https://old.example.com/sms"),
            ("SmsMethod", "GET"),
            ("VoiceUrl", "https://old.example.com/voice"),
            ("VoiceMethod", "POST"),
            ("StatusCallback", "https://old.example.com/status"),
            ("StatusCallbackMethod", "POST"),
        ]
        number.refresh_from_db()
        assert number.status_callback == "https://old.example.com/status"

    def test_routing_again_keeps_the_first_recorded_values(self, twilio, number, connection):
        PhoneNumber.objects.filter(pk=number.pk).update(previous_webhooks=OLD)
        number.refresh_from_db()
        twilio.add(responses.POST, number_url(PN1), json=routed_record(connection))
        number_route(number=number)
        assert [c.request.method for c in twilio.calls] == ["POST"]  # no fresh fetch needed
        number.refresh_from_db()
        assert number.previous_webhooks == OLD

    def test_a_failed_restore_keeps_the_recorded_values(self, twilio, number):
        PhoneNumber.objects.filter(pk=number.pk).update(previous_webhooks=OLD)
        number.refresh_from_db()
        twilio.add(responses.POST, number_url(PN1), status=400, json={"code": 21402, "message": "bad url"})
        with pytest.raises(TwilioFlowError):
            number_restore(number=number)
        row = PhoneNumber.objects.get(pk=number.pk)
        assert row.previous_webhooks == OLD and row.sms_url == "https://synced.example.com/sms"

    def test_restore_without_previous_values_is_a_validation_error(self, twilio, number):
        with pytest.raises(TwilioFlowError) as caught:
            number_restore(number=number)
        assert caught.value.code == errors.VALIDATION_ERROR
        assert "nothing to restore" in caught.value.message
        assert len(twilio.calls) == 0

    def test_route_needs_public_base_url_and_sends_nothing(self, twilio, number, settings):
        settings.PUBLIC_BASE_URL = ""
        with pytest.raises(TwilioFlowError) as caught:
            number_route(number=number)
        assert caught.value.message.startswith("Set PUBLIC_BASE_URL")
        assert len(twilio.calls) == 0
        assert PhoneNumber.objects.get(pk=number.pk).previous_webhooks is None

    def test_route_refuses_a_connection_without_auth_token(self, twilio, make_connection):
        api_key = make_connection(
            name="key",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        number = PhoneNumber.objects.create(connection=api_key, sid=PN2, phone_number="+15550000002")
        with pytest.raises(TwilioFlowError) as caught:
            number_route(number=number)
        assert "no Auth Token" in caught.value.message
        assert len(twilio.calls) == 0


# --- listening triggers -------------------------------------------------------------------------------
def test_listening_triggers(number, connection, make_connection, workspace):
    workflow = Workflow.objects.create(workspace=workspace, name="wf")
    off = Workflow.objects.create(workspace=workspace, name="off", enabled=False)
    other = make_connection(name="other")

    def trigger(name, **values):
        values = {"workflow": workflow, "connection": connection, "kind": "twilio/incoming-sms", **values}
        return Trigger.objects.create(workspace=workspace, name=name, **values)

    any_number = trigger("any")
    this_number = trigger("this", numbers=["+15017122661"], kind="twilio/incoming-call")
    whatsapp = trigger("wa", numbers=["whatsapp:+15017122661"], kind="twilio/incoming-whatsapp")
    trigger("another number", numbers=["+15550000000"])
    trigger("disabled", enabled=False)
    trigger("disabled workflow", workflow=off)
    trigger("other connection", connection=other)
    trigger("generic", kind="twilio/webhook")

    assert {t.name for t in numbers_listening(number)} == {any_number.name, this_number.name, whatsapp.name}


# --- the command ------------------------------------------------------------------------------------
class TestSyncCommand:
    def test_syncs_every_connection_and_prints_counts(self, twilio, connection, capsys):
        twilio.add(
            responses.GET,
            NUMBERS,
            json={"incoming_phone_numbers": [record(PN1, "+15017122661")], "next_page_uri": None},
        )
        call_command("sync_numbers")
        out = capsys.readouterr().out
        assert "acme/main: 1 on Twilio, 1 created, 0 updated, 0 removed" in out
        assert "1 synced, 0 failed." in out
        assert PhoneNumber.objects.filter(sid=PN1, connection=connection).exists()

    def test_a_named_connection_and_a_failure_exit_non_zero(self, twilio, connection, capsys):
        twilio.add(responses.GET, NUMBERS, status=401, json={"code": 20003, "message": "Authenticate"})
        with pytest.raises(CommandError):
            call_command("sync_numbers", "main")
        assert "FAIL acme/main: AUTH_EXPIRED" in capsys.readouterr().err

    def test_unknown_connection(self, db):
        with pytest.raises(CommandError, match="NOT_FOUND"):
            call_command("sync_numbers", "nope")
