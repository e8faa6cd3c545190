"""Step hooks (`workflows.step_hooks`): a higher layer's bookkeeping around an ad-hoc action
step. `before` runs just before the request with the step's client; raising fails the step
with nothing sent. `after` runs once the step succeeded, with Twilio's output."""

import responses

from tests.conftest import ACCOUNT_SID
from twilioflow.core.errors import TwilioFlowError
from workflows.models import OnError, Run, StepKind, StepRun
from workflows.services import run_create, run_execute_inline
from workflows.step_hooks import step_hook_register

PN = "PN" + "7" * 32
NUMBER_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{PN}.json"


def adhoc(connection, hook: str) -> Run:
    step = {
        "name": "configure",
        "kind": StepKind.ACTION,
        "action": "twilio/configure-phone-number-webhooks",
        "connection_id": connection.pk,
        "inputs": {"phoneNumberSid": PN, "SmsUrl": "https://a.example.com/"},
        "literal": True,
        "on_error": OnError.CONTINUE,
        "max_retries": 0,
        "hook": hook,
        "hook_args": {"n": 1},
    }
    return run_create(adhoc_steps=[step], workspace_id=connection.workspace_id, source="admin", enqueue=False)


def test_before_and_after_are_called_around_the_request(connection, twilio):
    seen = []
    step_hook_register(
        "test.record",
        before=lambda *, args, client, inputs: seen.append(
            ("before", args, inputs["phoneNumberSid"], len(twilio.calls))
        ),
        after=lambda *, args, output: seen.append(("after", args, output["sid"])),
    )
    twilio.add(responses.POST, NUMBER_URL, json={"sid": PN})
    run_execute_inline(adhoc(connection, "test.record").pk)
    assert seen == [("before", {"n": 1}, PN, 0), ("after", {"n": 1}, PN)]


def test_a_failing_before_fails_the_step_unsent(connection, twilio):
    def refuse(*, args, client, inputs):
        raise TwilioFlowError("VALIDATION_ERROR", "Not today.")

    step_hook_register("test.refuse", before=refuse)
    run = run_execute_inline(adhoc(connection, "test.refuse").pk)
    step_run = StepRun.objects.get(run=run)
    assert (step_run.status, step_run.error_code) == ("failed", "VALIDATION_ERROR")
    assert len(twilio.calls) == 0


def test_an_unknown_hook_fails_the_step_unsent(connection, twilio):
    run = run_execute_inline(adhoc(connection, "test.nobody-registered-this").pk)
    assert StepRun.objects.get(run=run).error_code == "CONFIGURATION_ERROR"
    assert len(twilio.calls) == 0
