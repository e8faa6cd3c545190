"""Issue 10: what an engine pass keeps per process (the workflow's plan, the send policy and
prices) is seen to change on the very next pass after a save, a pass reads nothing it has
not been told changed, and the StepRun writes keep the model's redaction safety net."""

import base64
from urllib.parse import parse_qsl

import pytest
import responses
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from compliance.models import ConsentKind, ConsentSource
from compliance.selectors import policy_get
from compliance.services import consent_record
from tests.conftest import ACCOUNT_SID
from tests.workflows.test_engine import FROM, MESSAGES, TO, message
from workflows.engine import run_execute
from workflows.models import RunStatus, Step, StepRun
from workflows.services import run_create, run_execute_inline

NEW_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def sms(name="notify", body="Hi"):
    return dict(name=name, action="twilio/send-sms", inputs={"From": FROM, "To": TO, "Body": body})


def execute(workflow):
    return run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)


def sent(call) -> dict:
    return dict(parse_qsl(call.request.body))


@pytest.fixture
def replies(twilio):
    twilio.add(responses.POST, MESSAGES, json=message(body="Hi"), status=201)
    return twilio


def test_a_pass_with_nothing_changed_reads_nothing(make_workflow, replies):
    flow = make_workflow(steps=[sms()])
    execute(flow)  # builds the plan, the policy, the price table
    run = run_create(workflow=flow, payload={}, enqueue=False)
    with CaptureQueriesContext(db) as queries:
        assert run_execute(run.pk) == "succeeded"
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].upper().startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
    ]
    assert [s.split()[0].upper() for s in statements] == ["UPDATE", "INSERT", "INSERT", "UPDATE", "UPDATE"]
    # claim (with every version in its RETURNING), ledger, `dispatching`, close, final write
    assert not any(s.upper().startswith("SELECT") for s in statements)
    assert StepRun.objects.get(run=run).status == "succeeded"


def test_a_saved_step_is_used_by_the_next_pass(make_workflow, replies):
    flow = make_workflow(steps=[sms(body="first")])
    execute(flow)
    step = Step.objects.get(workflow=flow)
    step.inputs = {**step.inputs, "Body": "second"}
    step.save()
    execute(flow)
    assert [sent(call)["Body"] for call in replies.calls] == ["first", "second"]


def test_an_added_step_is_run_by_the_next_pass(make_workflow, connection, replies):
    flow = make_workflow(steps=[sms()])
    execute(flow)
    Step.objects.create(
        workflow=flow, position=1, connection=connection, **sms(name="again", body="Hi again")
    )
    run = execute(flow)
    assert run.status == RunStatus.SUCCEEDED
    assert set(run.context["steps"]) == {"notify", "again"}  # jsonb keeps no key order
    assert [s.step_name for s in StepRun.objects.filter(run=run).order_by("sequence")] == ["notify", "again"]


def test_a_rotated_token_is_used_by_the_next_pass(make_workflow, connection, replies):
    flow = make_workflow(steps=[sms()])
    execute(flow)
    connection.auth_token = NEW_TOKEN
    connection.save()
    execute(flow)
    auth = [call.request.headers["Authorization"] for call in replies.calls]
    assert auth[1] == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{NEW_TOKEN}".encode()).decode()
    assert auth[0] != auth[1]


def test_a_workspace_without_consent_events_then_an_opt_out(workspace, make_workflow, replies):
    flow = make_workflow(steps=[sms()])
    assert execute(flow).status == RunStatus.SUCCEEDED
    consent_record(workspace=workspace, contact=TO, kind=ConsentKind.OPT_OUT, source=ConsentSource.ADMIN)
    run = execute(flow)
    assert (run.status, run.error_code) == (RunStatus.FAILED, "OPTED_OUT")
    assert len(replies.calls) == 1


def test_a_saved_policy_is_used_by_the_next_send(workspace, make_workflow, replies):
    flow = make_workflow(steps=[sms()])
    execute(flow)
    policy = policy_get(workspace)
    policy.sandbox = True
    policy.save()
    assert execute(flow).status == RunStatus.SUCCEEDED
    assert len(replies.calls) == 1  # sandboxed: nothing more reached Twilio


def test_step_run_writes_keep_the_safety_net(make_workflow, replies):
    run = execute(make_workflow(steps=[sms()]))
    step_run = StepRun(
        run=run, sequence=9, step_name="x", kind="action", output={"auth_token": "hunter2hunter2"}
    )
    step_run.insert()
    step_run.error_message = f"token={NEW_TOKEN}"
    step_run.write(["error_message"])
    stored = StepRun.objects.get(pk=step_run.pk)
    assert stored.output == {"auth_token": "********"}
    assert NEW_TOKEN not in stored.error_message
