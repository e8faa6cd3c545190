"""send_test_webhook: a kind's sample, signed like Twilio signs it, posted to a live server."""

from urllib.parse import parse_qsl

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from twilio.request_validator import RequestValidator

from tests.conftest import API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN
from triggers.kinds.registry import trigger_kind_get
from triggers.models import Trigger, TriggerEvent
from workflows.models import Run, Step, Workflow


@pytest.fixture
def sms_trigger(workspace, connection):
    workflow = Workflow.objects.create(workspace=workspace, name="Hours")
    step = Step(
        workflow=workflow,
        position=0,
        name="note",
        kind="set_variables",
        inputs={"variables": {"body": "{{ trigger.Body }}"}},
    )
    step.full_clean()
    step.save()
    trigger = Trigger(
        workspace=workspace, workflow=workflow, connection=connection, name="SMS", kind="twilio/incoming-sms"
    )
    trigger.full_clean()
    trigger.save()
    return trigger


def run_command(*args, **kwargs):
    call_command("send_test_webhook", *args, **kwargs)


@pytest.mark.django_db(transaction=True)
class TestAgainstTheLiveServer:
    def test_a_signed_sample_is_accepted_stored_and_starts_a_run(
        self, live_server, settings, connection, sms_trigger, capsys
    ):
        settings.PUBLIC_BASE_URL = live_server.url  # so our signature check rebuilds the same URL
        run_command("main", "twilio/incoming-sms", "--url", live_server.url, "--param", "Body=Open today?")
        out = capsys.readouterr().out
        assert f"POST {live_server.url}/hooks/twilio/{connection.public_id}/messages" in out
        assert "HTTP 200" in out and "<Response" in out
        event = TriggerEvent.objects.get()
        assert (event.kind, event.match_status, event.runs_started) == ("twilio/incoming-sms", "matched", 1)
        assert event.payload["Body"] == "Open today?"
        run = Run.objects.get()
        assert (run.workflow_id, run.trigger_id, run.trigger_event_id) == (
            sms_trigger.workflow_id,
            sms_trigger.pk,
            event.pk,
        )

    def test_a_wrong_token_is_refused_with_403_and_exits_non_zero(
        self, live_server, settings, connection, sms_trigger, capsys
    ):
        settings.PUBLIC_BASE_URL = live_server.url
        with pytest.raises(CommandError, match="HTTP 403"):
            run_command("main", "incoming-sms", "--url", live_server.url, "--sign-with-token", "f" * 32)
        out = capsys.readouterr().out
        assert "HTTP 403" in out and "INVALID_SIGNATURE" in out
        assert TriggerEvent.objects.count() == 0 and Run.objects.count() == 0


# --- without a server: what is sent ----------------------------------------------------------------
class TestRequest:
    def test_signs_the_sample_with_overrides_for_the_kinds_purpose(self, twilio, connection, settings):
        settings.PUBLIC_BASE_URL = "https://flow.example.com"
        url = f"https://flow.example.com/hooks/twilio/{connection.public_id}/voice"
        twilio.add(responses.POST, url, body="<Response/>", content_type="application/xml")
        run_command(
            str(connection.pk), "twilio/incoming-call", "--param", "From=+4930123", "--param", "Extra=1"
        )
        request = twilio.calls[0].request
        params = dict(parse_qsl(request.body))
        sample = trigger_kind_get("twilio/incoming-call").sample
        # Every send gets a fresh CallSid (else a second test would be deduped); the rest is the sample.
        assert params["CallSid"].startswith("CA") and params["CallSid"] != sample["CallSid"]
        assert len(params["CallSid"]) == 34
        assert {**params, "CallSid": sample["CallSid"]} == {**sample, "From": "+4930123", "Extra": "1"}
        assert RequestValidator(AUTH_TOKEN).validate(url, params, request.headers["X-Twilio-Signature"])
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"

    def test_two_sends_are_two_events(self, twilio, connection, settings):
        settings.PUBLIC_BASE_URL = ""
        url = f"http://127.0.0.1:8000/hooks/twilio/{connection.public_id}/messages"
        twilio.add(responses.POST, url, body="<Response/>")
        run_command("main", "twilio/incoming-sms")
        run_command("main", "twilio/incoming-sms")
        sids = [dict(parse_qsl(c.request.body))["MessageSid"] for c in twilio.calls]
        assert sids[0] != sids[1]
        first = dict(parse_qsl(twilio.calls[0].request.body))
        assert first["MessageSid"] == first["SmsSid"] == first["SmsMessageSid"]  # one message, one SID

    def test_default_base_and_status_purpose(self, twilio, connection, settings):
        settings.PUBLIC_BASE_URL = ""
        twilio.add(
            responses.POST, f"http://127.0.0.1:8000/hooks/twilio/{connection.public_id}/status", body=""
        )
        run_command("main", "twilio/message-status")
        assert len(twilio.calls) == 1

    def test_the_generic_webhook_goes_to_events_or_to_a_triggers_own_url(
        self, twilio, connection, sms_trigger
    ):
        hook = Trigger.objects.create(
            workspace=connection.workspace,
            workflow=sms_trigger.workflow,
            connection=connection,
            name="hook",
            kind="twilio/webhook",
        )
        base = "http://127.0.0.1:9000"
        twilio.add(responses.POST, f"{base}/hooks/twilio/{connection.public_id}/events", json={})
        twilio.add(
            responses.POST, f"{base}/hooks/twilio/{connection.public_id}/webhook/{hook.public_id}", json={}
        )
        run_command("main", "webhook", "--url", base)
        run_command("main", "webhook", "--url", base, "--trigger", str(hook.public_id))
        assert [c.request.url.rsplit("/", 1)[-1] for c in twilio.calls] == ["events", str(hook.public_id)]

    def test_a_server_error_exits_non_zero(self, twilio, connection):
        twilio.add(
            responses.POST,
            f"http://127.0.0.1:8000/hooks/twilio/{connection.public_id}/messages",
            status=500,
            body="boom",
        )
        with pytest.raises(CommandError, match="HTTP 500"):
            run_command("main", "incoming-sms", "--url", "http://127.0.0.1:8000")

    def test_refuses_a_connection_without_auth_token(self, twilio, make_connection):
        make_connection(
            name="key",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        with pytest.raises(CommandError, match="has no Auth Token"):
            run_command("key", "incoming-sms")
        assert len(twilio.calls) == 0

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("nope", "incoming-sms"), "NOT_FOUND"),
            (("main", "twilio/no-such-kind"), "NOT_FOUND"),
            (("main", "incoming-sms", "--param", "novalue"), "NAME=VALUE"),
            (("main", "incoming-sms", "--trigger", "1"), "only for the generic webhook"),
            (("main", "webhook", "--trigger", "not-a-uuid"), "NOT_FOUND"),
        ],
    )
    def test_bad_arguments(self, twilio, connection, args, message):
        with pytest.raises(CommandError, match=message):
            run_command(*args)
        assert len(twilio.calls) == 0


def test_a_polled_kind_has_nothing_to_send(twilio, connection):
    from triggers.kinds.registry import trigger_kinds

    polled = [slug for slug, kind in trigger_kinds().items() if kind.purpose == "poll"]
    if not polled:
        pytest.skip("no polled trigger kind registered")
    with pytest.raises(CommandError, match="is polled"):
        run_command("main", polled[0])
    assert len(twilio.calls) == 0


@pytest.mark.django_db(transaction=True)
def test_end_to_end_a_test_webhook_starts_the_workflow_and_its_reply_sms_goes_out(
    live_server, settings, workspace, connection, twilio, capsys
):
    """The issue's acceptance path: send_test_webhook → our endpoint → a run → its reply SMS
    reaches (a fake) Twilio, addressed to whoever wrote in."""
    from email.utils import format_datetime

    from django.utils import timezone

    from tests.conftest import ACCOUNT_SID
    from workflows.services import run_execute_inline

    settings.PUBLIC_BASE_URL = live_server.url
    twilio.add_passthru(live_server.url)
    messages = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    twilio.add(
        responses.POST,
        messages,
        status=201,
        json={
            "sid": "SM" + "7" * 32,
            "status": "queued",
            "to": "+14155550123",
            "from": "+15017122661",
            "body": "x",
            "date_created": format_datetime(timezone.now()),
        },
    )
    workflow = Workflow.objects.create(workspace=workspace, name="Auto-reply")
    Step.objects.create(
        workflow=workflow,
        position=0,
        name="reply",
        action="twilio/send-sms",
        connection=connection,
        inputs={
            "From": "{{ trigger.To }}",
            "To": "{{ trigger.From }}",
            "Body": "Thanks! You wrote: {{ trigger.Body }}",
        },
    )
    Trigger.objects.create(
        workspace=workspace,
        workflow=workflow,
        connection=connection,
        name="SMS",
        kind="twilio/incoming-sms",
        keywords="hours",
    )
    run_command("main", "twilio/incoming-sms", "--url", live_server.url, "--param", "Body=Hours today?")
    run = run_execute_inline(Run.objects.get().pk)
    assert run.status == "succeeded", run.error_message
    sent = [c for c in twilio.calls if c.request.url == messages]
    assert len(sent) == 1
    form = dict(parse_qsl(sent[0].request.body))
    sample = trigger_kind_get("twilio/incoming-sms").sample
    assert (form["To"], form["From"]) == (sample["From"], sample["To"])
    assert form["Body"] == "Thanks! You wrote: Hours today?"


class TestMatchesATriggerByDefault:
    """Issue 11: the test goes to one of our numbers, so a trigger matches out of the box."""

    def _sent(self, twilio, connection):
        url = f"http://127.0.0.1:8000/hooks/twilio/{connection.public_id}/messages"
        twilio.add(responses.POST, url, body="<Response/>")
        run_command("main", "twilio/incoming-sms")
        return dict(parse_qsl(twilio.calls[-1].request.body))

    def test_to_is_a_synced_number(self, twilio, connection, settings):
        from triggers.models import PhoneNumber

        settings.PUBLIC_BASE_URL = ""
        PhoneNumber.objects.create(connection=connection, sid="PN" + "1" * 32, phone_number="+15005550006")
        assert self._sent(twilio, connection)["To"] == "+15005550006"

    def test_to_is_the_triggers_filter_number_and_body_its_keyword(
        self, twilio, connection, sms_trigger, settings
    ):
        settings.PUBLIC_BASE_URL = ""
        sms_trigger.numbers = ["+14155552671"]
        sms_trigger.keywords = "JOIN, START"
        sms_trigger.save()
        params = self._sent(twilio, connection)
        assert (params["To"], params["Body"]) == ("+14155552671", "JOIN")

    def test_a_param_still_wins(self, twilio, connection, sms_trigger, settings):
        settings.PUBLIC_BASE_URL = ""
        sms_trigger.numbers = ["+14155552671"]
        sms_trigger.save()
        url = f"http://127.0.0.1:8000/hooks/twilio/{connection.public_id}/messages"
        twilio.add(responses.POST, url, body="<Response/>")
        run_command("main", "twilio/incoming-sms", "--param", "To=+15017122661")
        assert dict(parse_qsl(twilio.calls[-1].request.body))["To"] == "+15017122661"

    def test_the_default_address_is_web_bind(self, twilio, connection, settings, monkeypatch):
        settings.PUBLIC_BASE_URL = ""
        monkeypatch.setenv("WEB_BIND", "0.0.0.0:8233")
        twilio.add(
            responses.POST, f"http://127.0.0.1:8233/hooks/twilio/{connection.public_id}/status", body=""
        )
        run_command("main", "twilio/message-status")
        assert len(twilio.calls) == 1
