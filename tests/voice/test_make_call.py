"""make-call gains a live workflow, wait_until_ended, max_duration and machine detection:
completed / busy / no-answer / max-duration paths, fixture-driven status callbacks."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses
from twilio.request_validator import RequestValidator

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from voice.models import CallSession, VoiceAgent
from workflows.models import Run, RunStatus, StepRun, StepStatus, WaitingFor
from workflows.services import run_create, run_execute_inline

BASE = "https://flow.example.com"
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"
SID = "CAe3f1a9b27c4d4b4c8a1f9e0d2c3b4a59"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def post_signed(client, url: str, params: dict):
    """As Twilio posts to our public URL (PUBLIC_BASE_URL): signed over that URL."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def created(status="queued") -> dict:
    return {"sid": SID, "status": status, "to": "+14155550123", "from": "+15017122661",
            "direction": "outbound-api", "date_created": "Sat, 24 Aug 2024 18:05:00 +0000"}  # fmt: skip


@pytest.fixture(autouse=True)
def public_base(settings):
    settings.PUBLIC_BASE_URL = BASE


def call_step(**inputs) -> dict:
    return dict(
        name="call",
        action="twilio/make-call",
        inputs={"From": "+15017122661", "To": "+14155550123", **inputs},
    )


def status_callback(client, connection, status: str, **extra) -> None:
    params = {**fixture("call-status/completed-machine"), "CallStatus": status, **extra}
    response = post_signed(client, f"{BASE}/hooks/twilio/{connection.public_id}/status", params)
    assert response.status_code == 200


def sent(twilio) -> dict:
    post = next(c for c in twilio.calls if c.request.method == "POST")
    return parse_qs(post.request.body)


def test_status_callbacks_default_to_the_connection_and_max_duration_is_time_limit(
    make_workflow, twilio, connection
):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    workflow = make_workflow(
        name="w",
        steps=[
            call_step(Twiml="<Response><Say>Hi</Say></Response>", max_duration=90, machine_detection="Enable")
        ],
    )
    run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED  # no wait asked: it goes on at once
    body = sent(twilio)
    assert body["StatusCallback"] == [f"{BASE}/hooks/twilio/{connection.public_id}/status"]
    assert body["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert body["TimeLimit"] == ["90"] and body["MachineDetection"] == ["Enable"]


def test_a_users_status_callback_wins(make_workflow, twilio):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    workflow = make_workflow(
        name="w", steps=[call_step(Twiml="<Response/>", StatusCallback="https://crm.example.com/calls")]
    )
    run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    assert sent(twilio)["StatusCallback"] == ["https://crm.example.com/calls"]
    assert "StatusCallbackEvent" not in sent(twilio)


@pytest.mark.parametrize(("status", "duration"), [("completed", 23), ("busy", 0), ("no-answer", 0)])
def test_wait_until_ended_parks_until_the_final_status(
    make_workflow, twilio, client, connection, status, duration
):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    workflow = make_workflow(
        name="w",
        steps=[
            call_step(Twiml="<Response><Say>Hi</Say></Response>", wait_until_ended=True),
            dict(name="after", kind="set_variables", inputs={"variables": {"s": "{{ steps.call.status }}"}}),
        ],
    )
    run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.CALL)
    assert StepRun.objects.get(step_name="call").status == StepStatus.WAITING
    status_callback(client, connection, "ringing", SequenceNumber="1")
    assert Run.objects.get().status == RunStatus.WAITING  # not final: still waiting
    status_callback(client, connection, status, CallDuration=str(duration))
    assert Run.objects.get().status == RunStatus.PENDING  # woken
    run = run_execute_inline(run.pk)
    assert run.status == RunStatus.SUCCEEDED and run.context["vars"]["s"] == status
    output = run.context["steps"]["call"]
    assert output["status"] == status and output["duration"] == duration
    assert output["answered_by"] == "machine_end_beep" and output["sid"] == SID
    assert len([c for c in twilio.calls if c.request.method == "POST"]) == 1  # never twice


def test_no_final_status_past_max_duration_fetches_the_call(make_workflow, twilio, fake_clock):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    twilio.add(
        responses.GET,
        CALLS.replace("Calls.json", f"Calls/{SID}.json"),
        json={**created("completed"), "duration": "61", "price": "-0.0130"},
    )
    workflow = make_workflow(
        name="w", steps=[call_step(Twiml="<Response/>", wait_until_ended=True, max_duration=60)]
    )
    run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    assert run.status == RunStatus.WAITING
    run_execute_inline(run.pk)  # woken too early: still waits, asks nothing
    assert not [c for c in twilio.calls if c.request.method == "GET"]
    fake_clock.advance(60 + 60 + 121)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.PENDING, wake_at=None)  # the sweeper's wake
    run = run_execute_inline(run.pk)
    assert run.status == RunStatus.SUCCEEDED
    output = run.context["steps"]["call"]
    assert (output["status"], output["duration"], output["price"], output["ended_by"]) == (
        "completed",
        61,
        "-0.0130",
        "fetched",
    )


def test_a_call_still_live_past_max_duration_fails_the_step(make_workflow, twilio, fake_clock):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    twilio.add(responses.GET, CALLS.replace("Calls.json", f"Calls/{SID}.json"), json=created("in-progress"))
    workflow = make_workflow(
        name="w", steps=[call_step(Twiml="<Response/>", wait_until_ended=True, max_duration=30)]
    )
    run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    fake_clock.advance(1000)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.PENDING, wake_at=None)
    run = run_execute_inline(run.pk)
    assert run.status == RunStatus.FAILED and run.error_code == "CALL_NOT_ENDED"


def test_a_workflow_drives_the_call_live_and_its_answers_come_back(make_workflow, twilio, client, workspace):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    VoiceAgent.objects.create(
        workspace=workspace,
        name="survey",
        questions=json.loads(
            (Path(__file__).parents[2] / "voice/examples/satisfaction_survey.json").read_text()
        ),
    )
    make_workflow(
        name="survey-call",
        steps=[
            dict(
                name="machine",
                kind="branch",
                inputs={
                    "cases": [
                        {
                            "left": "{{ trigger.AnsweredBy }}",
                            "operator": "starts_with",
                            "right": "machine",
                            "goto": "voicemail",
                        }
                    ]
                },
            ),
            dict(name="interview", kind="voice_agent", inputs={"agent": "survey"}),
            dict(name="done", kind="end", inputs={}),
            dict(
                name="voicemail",
                kind="say",
                inputs={"message": "Hello {{ trigger.name }}, we will call again."},
            ),
        ],
    )
    parent = make_workflow(
        name="caller",
        steps=[
            call_step(
                workflow="survey-call",
                workflow_inputs={"name": "Ada"},
                wait_until_ended=True,
                max_duration=300,
            )
        ],
    )
    run = run_execute_inline(run_create(workflow=parent, payload={}, enqueue=False).pk)
    assert run.status == RunStatus.WAITING
    body = sent(twilio)
    session = CallSession.objects.get()
    assert "Twiml" not in body and body["Url"] == [
        f"{BASE}/hooks/twilio/{session.connection.public_id}/voice/live/{session.public_id}?turn=0"
    ]
    assert session.call_sid == SID and session.run.parent_id == run.pk
    answer = post_signed(
        client, body["Url"][0], fixture("incoming-call/gather/outbound-answered-human")
    ).content.decode()
    assert "On a scale of 1 to 10" in answer
    action = answer.split('action="')[1].split('"')[0].replace("&amp;", "&")
    params = {**fixture("incoming-call/gather/outbound-answered-human"), "Digits": "2"}
    answer = post_signed(client, action, params).content.decode()
    action = answer.split('action="')[1].split('"')[0].replace("&amp;", "&")
    answer = post_signed(
        client, action, {**params, "Digits": "", "SpeechResult": "Be on time", "Confidence": "0.9"}
    ).content.decode()
    assert "<Hangup />" in answer
    status_callback(client, session.connection, "completed", CallDuration="95", AnsweredBy="human")
    run = run_execute_inline(run.pk)
    assert run.status == RunStatus.SUCCEEDED
    output = run.context["steps"]["call"]
    assert output["status"] == "completed" and output["duration"] == 95
    assert output["workflow_status"] == RunStatus.SUCCEEDED
    assert output["workflow_steps"]["interview"]["answers"] == {
        "satisfaction_rating": 2,
        "improvement_feedback": "Be on time",
    }


def test_a_machine_gets_the_voicemail_branch(make_workflow, twilio, client):
    twilio.add(responses.POST, CALLS, status=201, json=created())
    make_workflow(
        name="vm",
        steps=[
            dict(name="machine", kind="branch", inputs={"cases": [
                {"left": "{{ trigger.AnsweredBy }}", "operator": "starts_with", "right": "machine", "goto": "voicemail"}]}),
            dict(name="live", kind="say", inputs={"message": "Hi there"}),
            dict(name="done", kind="end", inputs={}),
            dict(name="voicemail", kind="say", inputs={"message": "Please call us back."}),
        ],
    )  # fmt: skip
    parent = make_workflow(name="p", steps=[call_step(workflow="vm", machine_detection="DetectMessageEnd")])
    run_execute_inline(run_create(workflow=parent, payload={}, enqueue=False).pk)
    url = sent(twilio)["Url"][0]
    answer = post_signed(
        client, url, fixture("incoming-call/gather/outbound-answered-machine")
    ).content.decode()
    assert "Please call us back." in answer and "Hi there" not in answer and "<Hangup />" in answer
    again = post_signed(
        client, url, fixture("incoming-call/gather/outbound-answered-machine")
    ).content.decode()
    assert again == answer  # Twilio retried turn 0: same answer, nothing run twice


def test_an_unknown_workflow_sends_nothing(make_workflow, twilio):
    workflow = make_workflow(name="p", steps=[call_step(workflow="ghost")])
    run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    assert run.status == RunStatus.FAILED and "ghost" in run.error_message
    assert not twilio.calls
