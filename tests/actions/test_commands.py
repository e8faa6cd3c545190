import json

from django.core.management import call_command

from actions.registry import action_list


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
