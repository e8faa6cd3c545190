"""Webhooks end to end through the real endpoint: signatures, storage, dedupe, fan-out,
answers, wait-for-reply and delivery tracking. Payloads come from tests/fixtures/twilio."""

import json
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import connections as db_connections
from django.test import Client
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN
from triggers.models import MatchStatus, Trigger, TriggerEvent
from workflows.models import ReplyWait, Run, RunStatus, StepRun, WaitingFor
from workflows.services import run_create, run_execute_inline, runs_recover

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"


def fixture(kind: str, name: str) -> dict:
    return json.loads((FIXTURES / kind / f"{name}.json").read_text())


def signed_post(client, connection, purpose, params, *, token=AUTH_TOKEN, headers=None, path=None):
    path = path or f"/hooks/twilio/{connection.public_id}/{purpose}"
    url = f"http://testserver{path}"
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(
        path,
        data=urlencode(params, doseq=True),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
        headers=headers or {},
    )


class TestSignatureGate:
    def test_valid_signature_is_stored_and_answered_with_twiml(self, client, connection, make_trigger):
        make_trigger()
        response = signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/xml")
        assert response.content.decode().endswith("<Response />")
        event = TriggerEvent.objects.get()
        assert (event.kind, event.match_status, event.runs_started) == ("twilio/incoming-sms", "matched", 1)
        assert event.payload["Body"] == "Is my order ready for pickup?"

    def test_bad_signature_is_403_and_stores_nothing(self, client, connection, make_trigger, caplog):
        make_trigger()
        response = signed_post(
            client, connection, "messages", fixture("incoming-sms", "plain"), token="f" * 32
        )
        assert response.status_code == 403
        assert response.json()["code"] == "INVALID_SIGNATURE"
        assert TriggerEvent.objects.count() == 0 and Run.objects.count() == 0
        security = [r for r in caplog.records if r.name == "twilioflow.security"]
        assert len(security) == 1 and AUTH_TOKEN not in security[0].getMessage()

    def test_tampered_params_are_refused(self, client, connection):
        params = fixture("incoming-sms", "plain")
        path = f"/hooks/twilio/{connection.public_id}/messages"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{path}", params)
        response = client.post(path, data={**params, "Body": "changed"}, HTTP_X_TWILIO_SIGNATURE=signature)
        assert response.status_code == 403

    def test_unknown_connection_is_404(self, client, db):
        response = client.post("/hooks/twilio/00000000-0000-0000-0000-000000000000/messages", data={})
        assert response.status_code == 404

    def test_api_key_connection_without_token_says_why(self, client, make_connection):
        from tests.conftest import API_KEY_SECRET, API_KEY_SID

        keyed = make_connection(
            name="keyed",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        response = client.post(f"/hooks/twilio/{keyed.public_id}/messages", data={"From": "+1"})
        assert response.status_code == 403
        assert response.json()["code"] == "WEBHOOK_AUTH_TOKEN_MISSING"

    def test_trigger_on_api_key_connection_without_token_is_refused_at_save(
        self, workspace, make_connection, make_workflow
    ):
        from django.core.exceptions import ValidationError

        from tests.conftest import API_KEY_SECRET, API_KEY_SID

        keyed = make_connection(
            name="keyed",
            kind="api_key",
            auth_token=None,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
        )
        trigger = Trigger(
            workspace=workspace,
            workflow=make_workflow(),
            connection=keyed,
            name="t",
            kind="twilio/incoming-sms",
        )
        with pytest.raises(ValidationError) as caught:
            trigger.full_clean()
        assert "Auth Token" in caught.value.message_dict["connection"][0]


class TestFanOutAndDedupe:
    def test_one_event_one_run_per_enabled_matching_workflow(self, client, connection, make_trigger):
        first, second = make_trigger(), make_trigger()
        make_trigger(enabled=False)
        make_trigger(numbers=["+14155552671"])  # another of our numbers
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        event = TriggerEvent.objects.get()
        runs = Run.objects.filter(trigger_event=event)
        assert {r.workflow_id for r in runs} == {first.workflow_id, second.workflow_id}
        assert all(
            r.status == RunStatus.PENDING and r.trigger_payload["MessageSid"] == event.sid for r in runs
        )

    def test_no_match_and_disabled_are_kept_and_marked(self, client, connection, make_trigger):
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert TriggerEvent.objects.get().match_status == MatchStatus.NO_MATCH
        trigger = make_trigger()
        trigger.workflow.enabled = False
        trigger.workflow.save()
        signed_post(client, connection, "messages", fixture("incoming-sms", "keyword_stop"))
        assert TriggerEvent.objects.latest("id").match_status == MatchStatus.DISABLED
        assert Run.objects.count() == 0

    def test_filters_keyword_from_pattern_and_numbers(self, client, connection, make_trigger):
        stop = make_trigger(keywords="stop, unsubscribe")
        uk = make_trigger(from_pattern=r"^\+44")
        ours = make_trigger(numbers=["+15017122661"])
        signed_post(client, connection, "messages", fixture("incoming-sms", "keyword_stop"))
        started = set(Run.objects.values_list("trigger_id", flat=True))
        assert stop.pk in started and uk.pk not in started
        assert (ours.pk in started) == (fixture("incoming-sms", "keyword_stop")["To"] == "+15017122661")

    def test_redelivery_with_the_idempotency_token_starts_nothing(self, client, connection, make_trigger):
        make_trigger(reply_message="Thanks {{ trigger.Body|truncate:10 }}")
        headers = {"I-Twilio-Idempotency-Token": "tok-123"}
        first = signed_post(client, connection, "messages", fixture("incoming-sms", "plain"), headers=headers)
        again = signed_post(client, connection, "messages", fixture("incoming-sms", "plain"), headers=headers)
        assert first.content == again.content and b"<Message>" in first.content
        event = TriggerEvent.objects.get()
        assert (event.duplicates, Run.objects.count()) == (1, 1)

    def test_without_a_token_the_sid_dedupes(self, client, connection, make_trigger):
        make_trigger()
        for _ in range(3):
            signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert TriggerEvent.objects.get().duplicates == 2
        assert Run.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_identical_deliveries_at_once_give_one_event_and_one_run_per_workflow(connection, make_trigger):
    make_trigger()
    make_trigger()
    params = fixture("incoming-sms", "plain")
    barrier = threading.Barrier(10)
    statuses = []

    def deliver():
        try:
            barrier.wait()
            statuses.append(signed_post(Client(), connection, "messages", params).status_code)
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    event = TriggerEvent.objects.get()
    assert event.duplicates == 9
    assert Run.objects.count() == 2


class TestAnswers:
    def test_instant_reply_uses_the_payload(self, client, connection, make_trigger):
        make_trigger(reply_message="Got it: {{ trigger.Body|upper }}")
        response = signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert "<Message>Got it: IS MY ORDER READY FOR PICKUP?</Message>" in response.content.decode()

    def test_reply_template_error_still_answers_empty(self, client, connection, make_trigger):
        make_trigger(reply_message="Hi {{ trigger.Nope }}")
        response = signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert response.status_code == 200 and "<Message>" not in response.content.decode()

    @pytest.mark.parametrize(
        ("answer", "expected"),
        [
            (
                {"action": "say", "message": "Hello & welcome", "voice": "Polly.Joanna", "language": "en-US"},
                '<Say language="en-US" voice="Polly.Joanna">Hello &amp; welcome</Say>',
            ),
            (
                {"action": "play", "url": "https://cdn.example.com/hi.mp3"},
                '<Play loop="1">https://cdn.example.com/hi.mp3</Play>',
            ),
            ({"action": "dial", "number": "+14155550100"}, '<Dial timeout="30">+14155550100</Dial>'),
            ({"action": "reject", "reason": "busy"}, '<Reject reason="busy" />'),
            ({"action": "hangup"}, "<Hangup />"),
            ({"action": "record", "message": "Leave a message"}, "<Record "),
        ],
    )
    def test_voice_answers(self, client, connection, make_trigger, answer, expected):
        make_trigger(kind="twilio/incoming-call", voice_answer=answer)
        response = signed_post(client, connection, "voice", fixture("incoming-call", "inbound"))
        assert expected in response.content.decode()

    def test_gather_continues_the_same_run_with_the_digits(
        self, client, connection, make_trigger, make_workflow
    ):
        workflow = make_workflow(
            name="ivr",
            steps=[
                dict(
                    name="pick",
                    kind="set_variables",
                    inputs={"variables": {"choice": "{{ trigger.gather.Digits }}"}},
                )
            ],
        )
        make_trigger(
            kind="twilio/incoming-call",
            workflow=workflow,
            voice_answer={
                "action": "gather",
                "message": "Press 1 for sales",
                "num_digits": 1,
                "after_message": "Connecting you",
            },
        )
        answer = signed_post(
            client, connection, "voice", fixture("incoming-call", "inbound")
        ).content.decode()
        run = Run.objects.get()
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.REPLY)
        gather_path = f"/hooks/twilio/{connection.public_id}/voice/gather/{run.pk}"
        assert f'action="http://testserver{gather_path}"' in answer
        assert "<Say>Press 1 for sales</Say>" in answer
        reply = signed_post(
            client,
            connection,
            None,
            {"Digits": "1", "CallSid": run.trigger_payload["CallSid"]},
            path=gather_path,
        )
        assert "Connecting you" in reply.content.decode()
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED and run.context["vars"]["choice"] == "1"


class TestDeliveryTracking:
    def test_status_callbacks_update_the_step_that_sent(self, client, connection, make_workflow):
        workflow = make_workflow(name="w")
        run = run_create(workflow=workflow, payload={}, enqueue=False)
        sid = fixture("message-status", "sent")["MessageSid"]
        step_run = StepRun.objects.create(
            run=run,
            sequence=1,
            step_name="send",
            kind="action",
            action="twilio/send-sms",
            status="succeeded",
            twilio_sid=sid,
        )
        # Callbacks are unordered: "delivered" may overtake "sent".
        for name in ("delivered", "sent", "sent"):
            signed_post(client, connection, "status", fixture("message-status", name))
        step_run.refresh_from_db()
        assert step_run.delivery_status == "delivered"
        assert [h["status"] for h in step_run.delivery_history] == ["delivered", "sent"]
        assert TriggerEvent.objects.filter(match_status=MatchStatus.TRACKED).count() == 2
        assert TriggerEvent.objects.get(payload__MessageStatus="sent").duplicates == 1

    def test_undelivered_keeps_the_error_code(self, client, connection, make_workflow):
        run = run_create(workflow=make_workflow(name="w"), payload={}, enqueue=False)
        params = fixture("message-status", "undelivered_30003")
        step_run = StepRun.objects.create(
            run=run,
            sequence=1,
            step_name="send",
            kind="action",
            twilio_sid=params["MessageSid"],
            status="succeeded",
        )
        signed_post(client, connection, "status", params)
        step_run.refresh_from_db()
        assert (step_run.delivery_status, step_run.delivery_error_code) == ("undelivered", 30003)


class TestWaitForReply:
    @pytest.fixture
    def survey(self, make_workflow):
        return make_workflow(
            name="survey",
            steps=[
                dict(
                    name="ask",
                    kind="wait_for_reply",
                    inputs={
                        "contact": "{{ trigger.phone }}",
                        "number": "+15017122661",
                        "timeout_seconds": 3600,
                        "no_reply": "silent",
                    },
                ),
                dict(name="thanks", kind="end", inputs={"output": {"answer": "{{ steps.ask.Body }}"}}),
                dict(name="silent", kind="end", inputs={"output": {"answer": None}}),
            ],
        )

    def test_the_reply_resumes_the_run_instead_of_starting_new_ones(
        self, client, connection, survey, make_trigger
    ):
        other = make_trigger()  # would normally fire on any inbound SMS
        run = run_execute_inline(
            run_create(workflow=survey, payload={"phone": "+14155550123"}, enqueue=False).pk
        )
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.REPLY)
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        event = TriggerEvent.objects.get()
        assert event.match_status == MatchStatus.RESUMED
        assert not Run.objects.filter(workflow=other.workflow).exists()
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert run.result == {"answer": "Is my order ready for pickup?"}

    def test_fire_while_waiting_starts_other_workflows_too(self, client, connection, survey, make_trigger):
        other = make_trigger(fire_while_waiting=True)
        run_execute_inline(run_create(workflow=survey, payload={"phone": "+14155550123"}, enqueue=False).pk)
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert Run.objects.filter(workflow=other.workflow).count() == 1

    def test_timeout_takes_the_no_reply_path(self, survey, fake_clock):
        run = run_execute_inline(
            run_create(workflow=survey, payload={"phone": "+14155550123"}, enqueue=False).pk
        )
        fake_clock.advance(3601)
        assert runs_recover()["woken"] == 1
        run = run_execute_inline(run.pk)
        assert (run.status, run.result) == (RunStatus.SUCCEEDED, {"answer": None})
        assert ReplyWait.objects.get().status == "timed_out"

    def test_a_reply_from_someone_else_does_not_resume(self, client, connection, survey):
        run = run_execute_inline(
            run_create(workflow=survey, payload={"phone": "+14155559999"}, enqueue=False).pk
        )
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        run.refresh_from_db()
        assert run.status == RunStatus.WAITING
