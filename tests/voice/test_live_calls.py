"""A workflow answers a live call: say/gather/branch/SMS/hangup across turns, each turn
built from the database alone."""

from __future__ import annotations

import pytest
import responses

from tests.conftest import ACCOUNT_SID
from tests.voice.conftest import fixture, next_url, signed_post
from voice.models import CallSession, CallTurn, SessionState
from workflows.models import Run, RunStatus, StepRun, WaitingFor

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

IVR = [
    dict(name="hello", kind="say", inputs={"message": "Welcome to Acme Dental.", "voice": "Polly.Joanna"}),
    dict(
        name="menu",
        kind="gather",
        inputs={
            "message": "Say billing or press 1, say appointments or press 2.",
            "input": "both",
            "hints": "billing, appointments",
            "speech_timeout": "auto",
            "num_digits": 1,
            "language": "en-US",
        },
    ),
    dict(
        name="route",
        kind="branch",
        inputs={
            "cases": [
                {
                    "left": "{{ steps.menu.Digits }}",
                    "operator": "equals",
                    "right": "2",
                    "goto": "appointments",
                },
                {
                    "left": "{{ steps.menu.SpeechResult }}",
                    "operator": "contains",
                    "right": "bill",
                    "goto": "billing",
                },
            ],
            "default": "sorry",
        },
    ),
    dict(name="billing", kind="say", inputs={"message": "Connecting you to billing."}),
    dict(
        name="text",
        kind="action",
        action="twilio/send-sms",
        inputs={
            "From": "{{ trigger.To }}",
            "To": "{{ trigger.From }}",
            "Body": "Billing: pay at acme.example/pay",
        },
    ),
    dict(name="bye", kind="hangup", inputs={}),
    dict(name="appointments", kind="say", inputs={"message": "Appointments are closed today."}),
    dict(name="done", kind="end", inputs={}),
    dict(name="sorry", kind="say", inputs={"message": "Sorry, goodbye."}),
]


def _sid(n: int = 1) -> dict:
    return {"sid": f"SM{n:032x}", "status": "queued", "to": "+14155550123", "from": "+15017122661",
            "body": "Billing: pay at acme.example/pay", "direction": "outbound-api", "price": None,
            "error_code": None, "date_created": "Mon, 16 Aug 2024 03:45:01 +0000"}  # fmt: skip


def test_the_answer_says_then_gathers_and_the_run_waits_for_the_caller(make_workflow, live_trigger, caller):
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    answer = call.dial()
    assert '<Say voice="Polly.Joanna">Welcome to Acme Dental.</Say>' in answer
    assert 'input="dtmf speech"' in answer and 'hints="billing, appointments"' in answer
    assert 'speechTimeout="auto"' in answer and 'numDigits="1"' in answer and 'language="en-US"' in answer
    assert (
        '<Say language="en-US">Say billing or press 1' in answer
    )  # inside the Gather: the caller may barge in
    run = Run.objects.get()
    assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.CALL)
    session = CallSession.objects.get()
    assert session.call_sid == fixture("inbound")["CallSid"] and session.run_id == run.pk
    assert session.state == SessionState.LIVE and session.awaiting["turn"] == 1
    assert CallTurn.objects.get(index=0).twiml == answer


def test_speech_branches_sends_an_sms_mid_call_and_hangs_up(make_workflow, live_trigger, caller, twilio):
    twilio.add(responses.POST, MESSAGES, status=201, json=_sid())
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    speech = fixture("gather/speech")
    answer = call.respond(SpeechResult=speech["SpeechResult"], Confidence=speech["Confidence"])
    assert "<Say>Connecting you to billing.</Say>" in answer and answer.endswith("<Hangup /></Response>")
    run = Run.objects.get()
    assert run.status == RunStatus.SUCCEEDED
    assert run.context["steps"]["menu"] == {
        "Digits": "",
        "SpeechResult": "I have a question about my bill.",
        "Confidence": 0.9123454,
        "timed_out": False,
    }
    assert StepRun.objects.get(step_name="text").twilio_sid == _sid()["sid"]
    assert len([c for c in twilio.calls if c.request.method == "POST"]) == 1
    session = CallSession.objects.get()
    assert session.state == SessionState.ENDED
    turn = CallTurn.objects.get(index=1)
    assert (turn.heard, turn.confidence) == ("I have a question about my bill.", 0.9123454)
    assert "Connecting you to billing." in turn.said


def test_digits_take_the_other_branch(make_workflow, live_trigger, caller):
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    answer = call.respond(Digits="2")
    assert "Appointments are closed today." in answer and "<Hangup />" in answer
    assert Run.objects.get().context["steps"]["menu"]["Digits"] == "2"


def test_a_redelivered_turn_gets_the_same_answer_and_advances_nothing(
    make_workflow, live_trigger, caller, client
):
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    path = next_url(call.answer)
    first = call.respond(Digits="2")
    again = signed_post(client, path, {**fixture("gather/no-input"), "Digits": "9"}).content.decode()
    assert again == first
    assert CallTurn.objects.count() == 2
    assert Run.objects.get().context["steps"]["menu"]["Digits"] == "2"


def test_no_input_resumes_with_empty_digits(make_workflow, live_trigger, caller):
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    answer = call.respond()
    assert "Sorry, goodbye." in answer
    assert Run.objects.get().context["steps"]["menu"]["Digits"] == ""


def test_the_next_turn_is_built_from_the_database_alone(make_workflow, live_trigger, caller, connection):
    """Another worker (or a restarted server) answers the next turn: every per-process cache
    dropped and the Django objects forgotten between the turns changes nothing."""
    from triggers import routing
    from workflows.engine import registry

    live_trigger(make_workflow(name="ivr", steps=IVR[:3] + IVR[6:]))
    call = caller()
    call.dial()
    registry._kinds.cache_clear()
    routing.routing_forget()
    answer = call.respond(Digits="2")
    assert "Appointments are closed today." in answer


def test_unknown_or_finished_sessions_get_a_polite_goodbye(
    make_workflow, live_trigger, caller, client, connection
):
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    path = next_url(call.answer)
    unknown = path.replace(str(CallSession.objects.get().public_id), "00000000-0000-4000-8000-000000000000")
    for target in (unknown, path.replace("turn=1", "turn=7"), path.replace("turn=1", "turn=x")):
        response = signed_post(client, target, fixture("gather/no-input"))
        assert response.status_code == 200 and "<Hangup />" in response.content.decode()
    call.respond(Digits="2")  # the run ends: the session is finished
    response = signed_post(client, path.replace("turn=1", "turn=2"), fixture("gather/dtmf"))
    assert "Sorry, this call has ended" in response.content.decode()


def test_callbacks_are_signature_checked(make_workflow, live_trigger, caller, client):
    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    response = signed_post(client, next_url(call.answer), fixture("gather/dtmf"), token="f" * 32)
    assert response.status_code == 403
    assert CallTurn.objects.count() == 1


def test_a_voice_step_without_a_call_fails_clearly(make_workflow):
    from workflows.services import run_create, run_execute_inline

    workflow = make_workflow(name="nocall", steps=[dict(name="hello", kind="say", inputs={"message": "Hi"})])
    run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
    assert run.status == RunStatus.FAILED and run.error_code == "VOICE_NO_CALL"


@pytest.mark.parametrize(
    ("kind", "inputs", "field"),
    [
        ("say", {}, "inputs.message"),
        ("play", {"url": "https://x.example/a.mp3", "loop": "many"}, "inputs.loop"),
        ("gather", {"input": "telepathy"}, "inputs.input"),
        ("gather", {"num_digits": 0}, "inputs.num_digits"),
        ("dial", {}, "inputs.number"),
        ("pause", {"seconds": 9000}, "inputs.seconds"),
        ("voice_agent", {}, "inputs.agent"),
    ],
)
def test_bad_voice_step_inputs_never_save(make_workflow, kind, inputs, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        make_workflow(name="bad", steps=[dict(name="s", kind=kind, inputs=inputs)])
    assert field in error.value.message_dict


def test_the_run_page_shows_the_call_as_a_transcript(
    make_workflow, live_trigger, caller, client, make_staff, workspace
):
    from workspaces.models import Role

    live_trigger(make_workflow(name="ivr", steps=IVR))
    call = caller()
    call.dial()
    call.respond(Digits="2")
    client.force_login(make_staff("viewer", workspace, Role.VIEWER))
    page = client.get(f"/admin/workflows/run/{Run.objects.get().pk}/change/").content.decode()
    assert (
        "Call transcript" in page
        and "Welcome to Acme Dental." in page
        and "Appointments are closed today." in page
    )
