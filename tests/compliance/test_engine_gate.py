"""The gate wired into the engine: refusals on the step, quiet hours park the run, 21610
becomes an opt-out, sandbox sends nothing, run_action goes through it too."""

import datetime as dt
import json
from urllib.parse import parse_qsl

import pytest
import responses

from compliance.models import ConsentEvent, ConsentKind, ConsentSource, SandboxMessage
from compliance.sandbox import is_sandbox_sid
from compliance.selectors import policy_get
from compliance.services import consent_record, inbound_message_consent
from tests.conftest import ACCOUNT_SID
from tests.workflows.test_engine import FROM, MESSAGES, TO, message
from workflows.models import RunStatus, StepRun, StepStatus, WaitingFor
from workflows.services import action_run_adhoc, run_create, run_execute_inline, runs_recover

CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def sms(name="notify", body="Hi", to=TO, **extra):
    return dict(name=name, action="twilio/send-sms", inputs={"From": FROM, "To": to, "Body": body}, **extra)


def execute(workflow, payload=None, context=None):
    run = run_create(workflow=workflow, payload=payload or {}, enqueue=False)
    if context:
        run.context = {**run.context, **context}
        run.save(update_fields=["context"])
    return run_execute_inline(run.pk)


def test_opted_out_step_fails_with_the_code_and_sends_nothing(workspace, make_workflow, twilio):
    consent_record(workspace=workspace, contact=TO, kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN)
    run = execute(make_workflow(steps=[sms()]))
    assert run.status == RunStatus.FAILED and run.error_code == "OPTED_OUT"
    step = StepRun.objects.get()
    assert (step.status, step.error_code, step.exchanges) == (StepStatus.FAILED, "OPTED_OUT", [])
    assert len(twilio.calls) == 0


def test_continue_goes_on_after_a_refusal(workspace, make_workflow, twilio):
    consent_record(workspace=workspace, contact=TO, kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN)
    twilio.add(responses.POST, MESSAGES, json=message(body="Hi", to="+14155552672"), status=201)
    flow = make_workflow(steps=[sms(on_error="continue"), sms(name="other", to="+14155552672")])
    run = execute(flow)
    assert run.status == RunStatus.SUCCEEDED
    assert run.context["steps"]["notify"]["error"]["code"] == "OPTED_OUT"
    assert len(twilio.calls) == 1


def test_quiet_hours_park_the_run_then_send(workspace, make_workflow, twilio, fake_clock):
    policy = policy_get(workspace)
    policy.quiet_hours_enabled = True
    policy.save()
    fake_clock.current = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)  # 23:00 in San Francisco
    flow = make_workflow(steps=[sms()])
    run = execute(flow)
    assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.DELAY)
    assert run.wake_at == dt.datetime(2024, 7, 1, 15, 0, tzinfo=dt.UTC)  # 08:00 PDT
    waiting = StepRun.objects.get()
    assert (waiting.status, waiting.error_code) == (StepStatus.SKIPPED, "QUIET_HOURS")
    assert len(twilio.calls) == 0
    fake_clock.current = run.wake_at - dt.timedelta(seconds=1)
    assert runs_recover()["woken"] == 0
    fake_clock.current = run.wake_at
    assert runs_recover()["woken"] == 1
    twilio.add(responses.POST, MESSAGES, json=message(body="Hi"), status=201)
    run = run_execute_inline(run.pk)
    assert run.status == RunStatus.SUCCEEDED and len(twilio.calls) == 1


def test_21610_is_adopted_as_an_opt_out(workspace, make_workflow, twilio):
    twilio.add(
        responses.POST,
        MESSAGES,
        status=400,
        json={"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400},
    )
    flow = make_workflow(steps=[sms()])
    assert execute(flow).status == RunStatus.FAILED
    event = ConsentEvent.objects.get()
    assert (event.contact, event.sender, event.kind, event.source, event.channel) == (
        TO,
        FROM,
        ConsentKind.OPT_OUT,
        ConsentSource.TWILIO_ERROR,
        "sms",
    )
    run = execute(flow)  # the next attempt never reaches Twilio
    assert run.error_code == "OPTED_OUT" and len(twilio.calls) == 1


def test_sandbox_run_sends_nothing_with_the_same_audit_shape(workspace, make_workflow, twilio):
    twilio.add(responses.POST, MESSAGES, json=message(body="Hi"), status=201)
    twilio.add(
        responses.POST,
        CALLS,
        status=201,
        json={
            "sid": "CA" + "c" * 32,
            "status": "queued",
            "to": TO,
            "from": FROM,
            "direction": "outbound-api",
            "date_created": "Mon, 01 Jul 2024 16:00:00 +0000",
        },
    )
    steps = [
        sms(),
        dict(
            name="ring",
            action="twilio/make-call",
            inputs={"From": FROM, "To": TO, "Url": "https://example.com/twiml"},
        ),
    ]
    live = execute(make_workflow(name="live", steps=steps))
    assert live.status == RunStatus.SUCCEEDED and len(twilio.calls) == 2
    policy = policy_get(workspace)
    policy.sandbox = True
    policy.save()
    sandboxed = execute(make_workflow(name="sandboxed", steps=steps))
    assert sandboxed.status == RunStatus.SUCCEEDED
    assert len(twilio.calls) == 2  # nothing more reached "Twilio"
    live_steps = list(StepRun.objects.filter(run=live).order_by("sequence"))
    sand_steps = list(StepRun.objects.filter(run=sandboxed).order_by("sequence"))
    for real, fake in zip(live_steps, sand_steps, strict=True):
        assert fake.status == StepStatus.SUCCEEDED
        assert set(fake.output) == set(real.output)
        assert is_sandbox_sid(fake.twilio_sid) and fake.output["sid"] == fake.twilio_sid
        assert len(fake.exchanges) == len(real.exchanges) == 1
        assert fake.exchanges[0]["url"] == real.exchanges[0]["url"]
        assert fake.exchanges[0]["request_body"] == real.exchanges[0]["request_body"]
        assert fake.exchanges[0]["response_headers"]["X-TwilioFlow-Sandbox"] == "true"
    sms_step, call_step = sand_steps
    assert sms_step.delivery_status == "delivered"
    assert [h["status"] for h in sms_step.delivery_history] == ["queued", "sent", "delivered"]
    assert call_step.delivery_status == "completed"
    recorded = SandboxMessage.objects.get(sid=sms_step.twilio_sid)
    assert dict(map(tuple, recorded.form)) == {"From": FROM, "To": TO, "Body": "Hi"}
    assert sms_step.twilio_sid in sandboxed.__class__.objects.get(pk=sandboxed.pk).search_text


def test_a_single_run_in_sandbox(workspace, make_workflow, twilio):
    run = execute(make_workflow(steps=[sms()]), context={"sandbox": True})
    assert run.status == RunStatus.SUCCEEDED and len(twilio.calls) == 0
    assert is_sandbox_sid(StepRun.objects.get().twilio_sid)


def test_sandbox_still_refuses_what_the_gate_refuses(workspace, make_workflow, twilio):
    policy = policy_get(workspace)
    policy.sandbox = True
    policy.save()
    consent_record(workspace=workspace, contact=TO, kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN)
    run = execute(make_workflow(steps=[sms()]))
    assert run.error_code == "OPTED_OUT" and not SandboxMessage.objects.exists()


def test_run_action_goes_through_the_gate(workspace, connection, twilio):
    consent_record(workspace=workspace, contact=TO, kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN)
    run = action_run_adhoc(
        slug="twilio/send-sms", connection=connection, inputs={"from": FROM, "To": TO, "Body": "Hi"}
    )
    assert run.error_code == "OPTED_OUT" and len(twilio.calls) == 0


def test_run_action_whatsapp_window(workspace, connection, twilio):
    inputs = {"From": "whatsapp:+14155238886", "To": TO, "Body": "Hi"}
    run = action_run_adhoc(slug="twilio/send-whatsapp", connection=connection, inputs=inputs)
    assert run.error_code == "WHATSAPP_WINDOW_CLOSED" and len(twilio.calls) == 0
    inbound_message_consent(
        connection=connection,
        payload={"From": "whatsapp:" + TO, "To": "whatsapp:+14155238886", "Body": "table for 2?"},
    )
    twilio.add(responses.POST, MESSAGES, json=message(body="Hi"), status=201)
    run = action_run_adhoc(slug="twilio/send-whatsapp", connection=connection, inputs=inputs)
    assert run.status == RunStatus.SUCCEEDED and len(twilio.calls) == 1


def test_default_status_callback_is_sent(workspace, connection, twilio, settings):
    settings.PUBLIC_BASE_URL = "https://flow.example.com"
    twilio.add(responses.POST, MESSAGES, json=message(body="Hi"), status=201)
    action_run_adhoc(
        slug="twilio/send-sms", connection=connection, inputs={"From": FROM, "To": TO, "Body": "Hi"}
    )
    sent = dict(parse_qsl(twilio.calls[0].request.body))
    assert sent["StatusCallback"] == f"https://flow.example.com/hooks/twilio/{connection.public_id}/status"


@pytest.mark.parametrize(
    "slug,inputs",
    [
        ("twilio/send-sms", {"from": FROM, "To": TO, "Body": "Hi"}),
        ("twilio/send-mms", {"from": FROM, "To": TO, "MediaUrl": ["https://example.com/a.png"]}),
        ("twilio/make-call", {"from": FROM, "To": TO, "Url": "https://example.com/t"}),
    ],
)
def test_taskjuice_from_is_accepted(slug, inputs):
    from actions.registry import action_get

    assert action_get(slug).validate(inputs, default_country="US")["From"] == FROM


def test_from_and_From_disagreeing_is_an_error():
    from actions.registry import action_get
    from twilioflow.core.errors import TwilioFlowError

    with pytest.raises(TwilioFlowError) as caught:
        action_get("twilio/send-sms").validate({"from": FROM, "From": "+15017122662", "To": TO, "Body": "x"})
    assert "from" in caught.value.fields


def test_list_messages_accepts_a_next_page_uri(connection, twilio):
    from actions.services import action_execute

    uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json?PageSize=50&Page=1&PageToken=PASM" + "6" * 32
    twilio.add(responses.GET, MESSAGES, json={"messages": [], "next_page_uri": None})
    result = action_execute(slug="twilio/list-messages", connection=connection, inputs={"PageToken": uri})
    assert result.ok, result.error
    query = dict(parse_qsl(twilio.calls[0].request.url.split("?", 1)[1]))
    assert query["PageToken"] == "PASM" + "6" * 32 and query["Page"] == "1"
    assert json.dumps(result.output)
