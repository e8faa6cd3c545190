import json

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from actions.registry import action_list
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SEND = {"From": "+15017122661", "To": "+14155552671", "Body": "Hello"}


def test_catalogue_lists_every_slug_with_required_fields(capsys):
    call_command("actions")
    out = capsys.readouterr().out
    for action in action_list():
        assert action.slug in out
    assert "twilio/send-sms" in out and "[required: From, To]" in out


def test_catalogue_as_json_carries_the_declarations(capsys):
    call_command("actions", "--json")
    declared = {a["slug"]: a for a in json.loads(capsys.readouterr().out)}
    assert declared["twilio/send-sms"]["input_schema"]["required"] == ["From", "To"]
    assert declared["twilio/check-verification"]["input_schema"]["properties"]["Code"]["writeOnly"]


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
        call_command("run_action", "twilio/send-sms", "--connection", "main",
                     "--input", json.dumps({**SEND, "To": "12"}))
    assert '"To"' in capsys.readouterr().err
    assert len(twilio.calls) == 0


def test_twilio_error_exits_non_zero_with_code_and_no_secret(connection, twilio, capsys):
    twilio.add(responses.POST, MESSAGES, status=401, json={"code": 20003, "message": "Authenticate"})
    with pytest.raises(CommandError, match="AUTH_EXPIRED"):
        call_command("run_action", "twilio/send-sms", "--connection", "main", "--input", json.dumps(SEND),
                     "--show-exchanges")
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
