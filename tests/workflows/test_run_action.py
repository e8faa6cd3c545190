"""`manage.py run_action`: every action call is an audited ad-hoc run (source `command`),
protected against sending twice exactly like a workflow's step; `--dry-run` sends nothing."""

import json
from urllib.parse import parse_qsl

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from workflows.models import Run, RunStatus, StepStatus
from workflows.services import run_execute_inline, runs_recover

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SEND = {"From": "+15017122661", "To": "+14155552671", "Body": "Hello"}
SM = "SM" + "1" * 32
VERIFY_CHECK = "https://verify.twilio.com/v2/Services/VA" + "0" * 32 + "/VerificationCheck"


def test_run_action_prints_the_output(connection, twilio, capsys):
    twilio.add(responses.POST, MESSAGES, status=201, json={"sid": "SM" + "1" * 32, "status": "queued"})
    call_command("run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps(SEND))
    output = json.loads(capsys.readouterr().out)
    assert output["sid"] == "SM" + "1" * 32 and output["encoding"] == "GSM-7"


def test_run_action_reads_input_from_a_file(connection, twilio, tmp_path, capsys):
    twilio.add(responses.POST, MESSAGES, status=201, json={"sid": "SM" + "2" * 32})
    source = tmp_path / "input.json"
    source.write_text(json.dumps(SEND))
    call_command("run_action", "twilio/send-sms", "--connection", str(connection.pk), "--input", f"@{source}")
    assert json.loads(capsys.readouterr().out)["sid"] == "SM" + "2" * 32


def test_validation_failure_exits_non_zero_naming_the_field_without_a_request(connection, twilio, capsys):
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "run_action",
            "twilio/send-sms",
            "--connection",
            "main",
            "--input",
            json.dumps({**SEND, "To": "12"}),
        )
    assert '"To"' in capsys.readouterr().err
    assert len(twilio.calls) == 0


def test_twilio_error_exits_non_zero_with_code_and_no_secret(connection, twilio, capsys):
    twilio.add(responses.POST, MESSAGES, status=401, json={"code": 20003, "message": "Authenticate"})
    with pytest.raises(CommandError, match="AUTH_EXPIRED"):
        call_command(
            "run_action",
            "twilio/send-sms",
            "--connection",
            "main",
            "--input",
            json.dumps(SEND),
            "--show-exchanges",
        )
    captured = capsys.readouterr()
    assert AUTH_TOKEN not in captured.out + captured.err
    assert '"twilio_code": 20003' in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["twilio/nope", "--connection", "main"], "NOT_FOUND"),
        (["twilio/send-sms", "--connection", "ghost"], "NOT_FOUND"),
        (["twilio/send-sms", "--connection", "main", "--input", "{bad"], "not valid JSON"),
        (["twilio/send-sms", "--connection", "main", "--input", "@/nonexistent.json"], "does not exist"),
    ],
)
def test_bad_arguments_are_clear_errors(connection, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_action", *args)


# --- the audit record ------------------------------------------------------------------------
def test_run_action_leaves_an_ad_hoc_run_with_its_step_and_exchange(connection, twilio, capsys):
    twilio.add(responses.POST, MESSAGES, status=201, json={"sid": SM, "status": "queued"})
    call_command("run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps(SEND))
    run = Run.objects.get()
    assert (run.source, run.workflow, run.status) == ("command", None, RunStatus.SUCCEEDED)
    assert run.label == "ad-hoc: twilio/send-sms (command)"
    assert run.workspace_id == connection.workspace_id
    [step] = run.step_runs.all()
    assert (step.kind, step.action, step.status, step.twilio_sid) == (
        "action",
        "twilio/send-sms",
        StepStatus.SUCCEEDED,
        SM,
    )
    assert step.inputs["Body"] == "Hello"
    assert [(e["method"], e["status"]) for e in step.exchanges] == [("POST", 201)]
    assert SM in run.search_text and SEND["To"] in run.search_text
    assert f"Run {run.pk} " in capsys.readouterr().err


def test_inputs_are_literal_not_templates(connection, twilio):
    twilio.add(responses.POST, MESSAGES, status=201, json={"sid": SM})
    body = "Use {{ code }} at checkout"
    call_command(
        "run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps({**SEND, "Body": body})
    )
    assert dict(parse_qsl(twilio.calls[0].request.body))["Body"] == body


def test_the_admin_lists_the_ad_hoc_run(connection, twilio, client, django_user_model):
    twilio.add(responses.POST, MESSAGES, status=201, json={"sid": SM})
    call_command("run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps(SEND))
    run = Run.objects.get()
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    listing = client.get(reverse("admin:workflows_run_changelist"))
    assert listing.status_code == 200 and b"ad-hoc: twilio/send-sms (command)" in listing.content
    page = client.get(reverse("admin:workflows_run_change", args=[run.pk]))
    assert page.status_code == 200 and SM.encode() in page.content


def test_invalid_input_records_no_run(connection, twilio):
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "run_action",
            "twilio/send-sms",
            "--connection",
            "main",
            "--input",
            json.dumps({**SEND, "To": "12"}),
        )
    assert not Run.objects.exists()


def test_a_secret_input_is_neither_stored_nor_shown(connection, twilio, capsys):
    twilio.add(
        responses.POST, VERIFY_CHECK, json={"sid": "VE" + "2" * 32, "status": "approved", "valid": True}
    )
    inputs = {"serviceSid": "VA" + "0" * 32, "To": "+14155552671", "Code": "123456"}
    call_command(
        "run_action", "twilio/check-verification", "--connection", "main", "--input", json.dumps(inputs)
    )
    run = Run.objects.get()
    assert "Code" not in run.adhoc_steps[0]["inputs"] and run.adhoc_steps[0]["withheld"] == ["Code"]
    assert "123456" not in json.dumps(run.adhoc_steps) + json.dumps(run.step_runs.get().inputs)
    assert dict(parse_qsl(twilio.calls[0].request.body))["Code"] == "123456"
    assert json.loads(capsys.readouterr().out)["status"] == "approved"


# --- never twice -----------------------------------------------------------------------------
class Killed(BaseException):
    """What SIGKILL does to the command mid-request: nothing after it runs."""


def test_a_run_action_killed_mid_request_is_reconciled_not_resent(connection, twilio, fake_clock, settings):
    from email.utils import format_datetime

    from django.utils import timezone

    def hold_and_die(request):
        raise Killed

    twilio.add_callback(responses.POST, MESSAGES, callback=hold_and_die)
    with pytest.raises(Killed):
        call_command("run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps(SEND))
    run = Run.objects.get()
    assert run.status == RunStatus.RUNNING
    assert [s.status for s in run.step_runs.all()] == [StepStatus.DISPATCHING]

    adopted = {
        "sid": SM,
        "status": "sent",
        "to": SEND["To"],
        "from": SEND["From"],
        "body": SEND["Body"],
        "direction": "outbound-api",
        "date_created": format_datetime(timezone.now()),
        "price": None,
        "error_code": None,
    }
    twilio.add(responses.GET, MESSAGES, json={"messages": [adopted], "next_page_uri": None})
    assert runs_recover()["resumed"] == 0  # the lease still holds
    fake_clock.advance(settings.TWILIOFLOW_RUN_LEASE_SECONDS + 1)
    assert runs_recover()["resumed"] == 1
    run = run_execute_inline(run.pk)
    assert run.status == RunStatus.SUCCEEDED
    [step] = run.step_runs.all()
    assert step.reconciled and step.twilio_sid == SM
    assert [c.request.method for c in twilio.calls].count("POST") == 1


# --- dry run ---------------------------------------------------------------------------------
def test_dry_run_prints_the_request_and_sends_nothing(connection, twilio, capsys):
    call_command(
        "run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps(SEND), "--dry-run"
    )
    printed = json.loads(capsys.readouterr().out)
    request = printed["request"]
    assert printed["dry_run"] is True and request["method"] == "POST" and request["url"] == MESSAGES
    assert ["Body", "Hello"] in request["form"] and ["To", SEND["To"]] in request["form"]
    assert len(twilio.calls) == 0 and not Run.objects.exists()


def test_dry_run_masks_secrets(connection, twilio, capsys):
    inputs = {"serviceSid": "VA" + "0" * 32, "To": "+14155552671", "Code": "123456"}
    call_command(
        "run_action",
        "twilio/check-verification",
        "--connection",
        "main",
        "--input",
        json.dumps(inputs),
        "--dry-run",
    )
    out = capsys.readouterr().out
    assert "123456" not in out and AUTH_TOKEN not in out and '"Code"' in out
    assert len(twilio.calls) == 0 and not Run.objects.exists()


def test_dry_run_still_validates(connection, twilio):
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "run_action",
            "twilio/send-sms",
            "--connection",
            "main",
            "--input",
            json.dumps({**SEND, "To": "12"}),
            "--dry-run",
        )
    assert len(twilio.calls) == 0


def test_the_error_code_is_never_masked(connection, twilio, capsys):
    """`code` is an error code, not a secret (issue 11): the printed error keeps it, and so
    does Twilio's own code inside the recorded response."""
    twilio.add(
        responses.POST,
        MESSAGES,
        status=400,
        json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400},
    )
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        call_command(
            "run_action",
            "twilio/send-sms",
            "--connection",
            "main",
            "--input",
            json.dumps(SEND),
            "--show-exchanges",
        )
    captured = capsys.readouterr()
    assert '"code": "VALIDATION_ERROR"' in captured.err
    assert '"code": "********"' not in captured.out + captured.err
    assert "21211" in captured.err
