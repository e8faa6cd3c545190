"""No secret in anything we store or show: a raw request for the Account resource (which
carries the Auth Token) and upstream errors echoing our Basic credentials leave no trace in
StepRun.output, Run.context, exchanges, errors, the admin run page (as a viewer), command
output, or the logs; later steps templating the output see the mask."""

import base64
import io
import json
import logging

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tests.conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    account_body,
    account_url,
)
from twilioflow.core.logging import RedactSecretsFilter
from twilioflow.core.redaction import MASK
from workflows.models import Run, RunStatus, Step, StepRun
from workflows.services import run_create, run_execute_inline
from workspaces.models import Role

S = "$TWILIO_ACCOUNT_SID"
SUB_TOKEN = "subaccountTokenNotKnownHere77"  # a subaccount's token: never decrypted by us
BASIC = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
SECRETS = (AUTH_TOKEN, SUB_TOKEN, BASIC, BASIC.rstrip("="), API_KEY_SECRET)
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def assert_clean(*texts):
    blob = "\n".join(t if isinstance(t, str) else json.dumps(t, default=str) for t in texts)
    for secret in SECRETS:
        assert secret not in blob


@pytest.fixture
def log_output():
    root = logging.getLogger()
    handler = next(h for h in root.handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    handler.setStream(previous)
    root.setLevel(previous_level)


@pytest.fixture
def owner(make_staff, workspace):
    return make_staff("olga", workspace, Role.OWNER)


@pytest.fixture
def flow(make_workflow, owner):
    def make(fetch_inputs, *more_steps, on_error="fail"):
        workflow = make_workflow(
            f"flow-{Step.objects.count()}",
            [
                dict(name="fetch", action="twilio/raw-request", inputs=fetch_inputs, on_error=on_error),
                *more_steps,
            ],
        )
        Step.objects.filter(workflow=workflow).update(updated_by=owner)
        return workflow

    return make


def run_it(workflow) -> Run:
    return run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)


def everything_stored(run: Run) -> list:
    run.refresh_from_db()
    stored = [run.context, run.result, run.error_message]
    for step_run in StepRun.objects.filter(run=run):
        stored += [step_run.inputs, step_run.output, step_run.exchanges, step_run.error_message]
    return stored


ACCOUNT = account_body(
    auth_token=AUTH_TOKEN,
    subresource_uris={"keys": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Keys.json"},
)
SUBACCOUNTS = {
    "accounts": [
        account_body(auth_token=AUTH_TOKEN),
        {**account_body(), "sid": "AC" + "e" * 32, "auth_token": SUB_TOKEN},
    ],
    "next_page_uri": None,
}


@pytest.mark.parametrize(
    ("path", "body", "response_type"),
    [
        (f"/2010-04-01/Accounts/{S}.json", ACCOUNT, "json"),
        (f"/2010-04-01/Accounts/{S}.json", ACCOUNT, "text"),
        ("/2010-04-01/Accounts.json", SUBACCOUNTS, "json"),
        ("/2010-04-01/Accounts.json", SUBACCOUNTS, "text"),
    ],
)
def test_account_fetch_leaves_no_token_anywhere(
    flow, twilio, client, make_staff, workspace, log_output, path, body, response_type
):
    url = account_url() if path.endswith(f"{S}.json") else "https://api.twilio.com/2010-04-01/Accounts.json"
    twilio.add(responses.GET, url, body=json.dumps(body), content_type="application/json")
    single_json = response_type == "json" and "accounts" not in body
    variables = {"all": "{{ steps.fetch.data }}"}
    if single_json:
        variables["token"] = "{{ steps.fetch.data.auth_token }}"
    workflow = flow(
        {"path": path, "responseType": response_type},
        dict(name="copy", kind="set_variables", inputs={"variables": variables}),
    )
    run = run_it(workflow)
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert_clean(*everything_stored(run))
    output = StepRun.objects.get(run=run, step_name="fetch").output
    if single_json:
        assert output["data"]["auth_token"] == MASK and output["data"]["sid"] == ACCOUNT_SID
        assert run.context["vars"]["token"] == MASK  # later steps see the mask, never the token
    # The run page, as a viewer of the workspace.
    client.force_login(make_staff("vera", workspace, Role.VIEWER))
    page = client.get(reverse("admin:workflows_run_change", args=[run.pk]))
    assert page.status_code == 200 and "fetch" in page.content.decode()
    assert_clean(page.content.decode(), log_output.getvalue())


def test_a_known_secret_is_masked_by_value_in_a_text_body(flow, twilio, make_connection):
    # An API-key connection: the secret is not hex and no key names it in this body.
    twilio.add(
        responses.GET,
        MESSAGES,
        body=f"debug: authenticated with {API_KEY_SECRET}.",
        content_type="text/plain",
    )
    connection = make_connection(
        name="keyed", kind="api_key", api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET
    )
    workflow = flow({"path": f"/2010-04-01/Accounts/{S}/Messages.json", "responseType": "text"})
    Step.objects.filter(workflow=workflow).update(connection=connection)
    run = run_it(workflow)
    assert run.status == RunStatus.SUCCEEDED
    assert_clean(*everything_stored(run))
    assert "authenticated with ********" in StepRun.objects.get(run=run).output["data"]


ECHOES = [
    {
        "code": 20001,
        "message": f"Bad header Authorization: Basic {BASIC}",
        "more_info": "https://www.twilio.com/docs/errors/20001",
        "details": {"headers": [f"Basic {BASIC.rstrip('=')}", {"Authorization": f"Bearer {AUTH_TOKEN}"}]},
    },
    {
        "type": "https://example/problem",
        "title": "Bad",
        "status": 400,
        "detail": f"seen: basic {BASIC.rstrip('=')} and Bearer {API_KEY_SECRET}",
        "errors": [{"echo": BASIC}],
    },
]


@pytest.mark.parametrize("body", ECHOES)
def test_echoed_credentials_in_an_error_body_are_masked(flow, twilio, log_output, body):
    twilio.add(responses.GET, MESSAGES, status=400, json=body)
    workflow = flow(
        {"path": f"/2010-04-01/Accounts/{S}/Messages.json"},
        dict(
            name="after",
            kind="set_variables",
            inputs={"variables": {"err": "{{ steps.fetch.error.message }}"}},
        ),
        on_error="continue",
    )
    run = run_it(workflow)
    assert run.status == RunStatus.SUCCEEDED
    step_run = StepRun.objects.get(run=run, step_name="fetch")
    assert step_run.error_code == "VALIDATION_ERROR" and step_run.exchanges
    assert run.context["steps"]["fetch"]["error"]["code"] == "VALIDATION_ERROR"
    assert_clean(*everything_stored(run), log_output.getvalue())


def test_a_failed_run_records_a_redacted_error(flow, twilio):
    twilio.add(responses.GET, MESSAGES, status=400, json=ECHOES[0])
    run = run_it(flow({"path": f"/2010-04-01/Accounts/{S}/Messages.json"}))
    assert run.status == RunStatus.FAILED and run.error_code == "VALIDATION_ERROR"
    assert_clean(*everything_stored(run))


def test_records_stored_before_redaction_are_masked_on_the_run_page(flow, client, make_staff, workspace):
    run = run_create(workflow=flow({"path": f"/2010-04-01/Accounts/{S}.json"}), payload={}, enqueue=False)
    # As an older version stored them: plaintext, written around the model's save().
    StepRun.objects.bulk_create(
        [
            StepRun(
                run=run,
                sequence=1,
                step_name="fetch",
                kind="action",
                action="twilio/raw-request",
                status="failed",
                output={"data": {"auth_token": AUTH_TOKEN}},
                error_message=f"echo Basic {BASIC}",
                exchanges=[{"method": "GET", "url": "u", "response_body": {"auth_token": SUB_TOKEN}}],
            )
        ]
    )
    Run.objects.filter(pk=run.pk).update(result={"auth_token": SUB_TOKEN}, error_message=f"Basic {BASIC}")
    client.force_login(make_staff("vera", workspace, Role.VIEWER))
    page = client.get(reverse("admin:workflows_run_change", args=[run.pk]))
    assert page.status_code == 200
    assert_clean(page.content.decode())


# --- commands ------------------------------------------------------------------------------------
def test_run_action_prints_no_token(connection, twilio, capsys):
    twilio.add(responses.GET, account_url(), json=ACCOUNT)
    # Shell access is trusted: no role check, but the output is redacted.
    call_command(
        "run_action",
        "twilio/raw-request",
        "--connection",
        "main",
        "--show-exchanges",
        "--input",
        json.dumps({"path": f"/2010-04-01/Accounts/{S}.json"}),
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["data"]["auth_token"] == MASK
    assert_clean(captured.out, captured.err)


def test_run_action_error_keeps_its_code_and_masks_echoes(connection, twilio, capsys):
    twilio.add(responses.GET, MESSAGES, status=400, json=ECHOES[0])
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "run_action",
            "twilio/raw-request",
            "--connection",
            "main",
            "--show-exchanges",
            "--input",
            json.dumps({"path": f"/2010-04-01/Accounts/{S}/Messages.json"}),
        )
    captured = capsys.readouterr()
    error = json.loads(captured.err[captured.err.rindex("\n{") + 1 :])
    assert error["code"] == "VALIDATION_ERROR" and error["twilio_code"] == 20001
    assert_clean(captured.out, captured.err)


def test_run_action_validation_error_code_is_not_masked(connection, twilio, capsys):
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "run_action",
            "twilio/raw-request",
            "--connection",
            "main",
            "--input",
            json.dumps({"path": "no-slash"}),
        )
    assert '"code": "VALIDATION_ERROR"' in capsys.readouterr().err


def test_run_workflow_prints_no_token(flow, twilio, capsys):
    twilio.add(responses.GET, account_url(), json=ACCOUNT)
    workflow = flow(
        {"path": f"/2010-04-01/Accounts/{S}.json"},
        dict(name="done", kind="end", inputs={"status": "succeeded", "output": "{{ steps.fetch }}"}),
    )
    call_command("run_workflow", str(workflow.pk), "--inline")
    out = capsys.readouterr().out
    assert json.loads(out)["status"] == "succeeded"
    assert_clean(out)
