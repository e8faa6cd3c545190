"""Workflow JSON round trip, step validation at save, and the operator commands."""

import json
from datetime import timedelta

import pytest
import responses
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import ACCOUNT_SID
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Run, RunStatus, Step, StepRun, Workflow
from workflows.services import run_create, run_execute_inline, runs_prune
from workflows.transfer import FORMAT, workflow_duplicate, workflow_export, workflow_import

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

DOCUMENT = {
    "format": FORMAT,
    "name": "appointment-reminder",
    "description": "Remind a patient the day before.",
    "enabled": True,
    "default_variables": {"clinic": "Acme Dental"},
    "steps": [
        {
            "name": "check",
            "kind": "branch",
            "action": "",
            "connection": None,
            "inputs": {
                "cases": [
                    {"left": "{{ trigger.confirmed }}", "operator": "equals", "right": "yes", "goto": "end"}
                ],
                "default": "next",
            },
            "on_error": "fail",
            "max_retries": 3,
        },
        {
            "name": "remind",
            "kind": "action",
            "action": "twilio/send-sms",
            "connection": "main",
            "inputs": {
                "From": "+15017122661",
                "To": "{{ trigger.phone }}",
                "Body": "{{ vars.clinic }}: see you {{ trigger.when|date:'D j M, H:i' }}. Reply C to confirm.",
            },
            "on_error": "retry",
            "max_retries": 5,
        },
    ],
}


@pytest.fixture
def imported(workspace, connection):
    return workflow_import(workspace=workspace, document=DOCUMENT)


class TestTransfer:
    def test_round_trip_is_exact(self, imported):
        assert workflow_export(imported) == DOCUMENT

    def test_import_is_all_or_nothing_and_names_each_field(self, workspace, connection):
        bad = json.loads(json.dumps(DOCUMENT))
        bad["steps"][1]["inputs"]["From"] = "not a number"
        bad["steps"][1]["inputs"]["Body"] = "{% include 'x' %}"
        bad["steps"][0]["inputs"]["cases"][0]["goto"] = "nowhere"
        with pytest.raises(TwilioFlowError) as caught:
            workflow_import(workspace=workspace, document=bad)
        fields = caught.value.fields
        assert "steps.1.inputs.From" in fields
        assert "steps.1.inputs.Body" in fields
        assert Workflow.objects.count() == 0 and Step.objects.count() == 0

    def test_unknown_connection_is_named(self, workspace, connection):
        bad = json.loads(json.dumps(DOCUMENT))
        bad["steps"][1]["connection"] = "ghost"
        with pytest.raises(TwilioFlowError) as caught:
            workflow_import(workspace=workspace, document=bad)
        assert "steps.1.connection" in caught.value.fields

    def test_existing_name_needs_replace(self, imported, workspace):
        with pytest.raises(TwilioFlowError, match="--replace"):
            workflow_import(workspace=workspace, document=DOCUMENT)
        changed = {**DOCUMENT, "description": "v2"}
        again = workflow_import(workspace=workspace, document=changed, replace=True)
        assert again.pk == imported.pk and again.description == "v2"
        assert again.steps.count() == 2

    def test_duplicate_is_a_disabled_copy(self, imported):
        copy = workflow_duplicate(workflow=imported)
        assert (copy.name, copy.enabled) == ("appointment-reminder (copy)", False)
        assert workflow_duplicate(workflow=imported).name == "appointment-reminder (copy 2)"
        assert copy.steps.count() == 2

    def test_commands_round_trip(self, imported, workspace, tmp_path, capsys):
        target = tmp_path / "flow.json"
        call_command("export_workflow", "appointment-reminder", "--output", str(target))
        assert json.loads(target.read_text()) == DOCUMENT
        imported.delete()
        call_command("import_workflow", str(target), "--workspace", "acme")
        assert "with 2 steps" in capsys.readouterr().out

    def test_import_command_reports_field_errors(self, workspace, connection, tmp_path, capsys):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**DOCUMENT, "format": "other"}))
        with pytest.raises(CommandError, match="VALIDATION_ERROR"):
            call_command("import_workflow", str(bad), "--workspace", "acme")
        assert '"format"' in capsys.readouterr().err
        bad.write_text("{not json")
        with pytest.raises(CommandError, match="not valid JSON"):
            call_command("import_workflow", str(bad), "--workspace", "acme")


class TestStepValidationAtSave:
    def make_step(self, workflow, default_connection, **values):
        step = Step(
            workflow=workflow,
            name="s",
            kind="action",
            action="twilio/send-sms",
            connection=default_connection,
            inputs={"From": "+15017122661", "To": "+14155552671", "Body": "x"},
        )
        for key, value in values.items():
            setattr(step, key, value)
        return step

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            (
                {"inputs": {"From": "+15017122661", "To": "+14155552671", "Body": "{{ trigger.x|nope }}"}},
                "inputs.Body",
            ),
            ({"inputs": {"From": "+15017122661", "To": "{% if %}", "Body": "x"}}, "inputs.To"),
            ({"inputs": {"From": "MG123", "To": "+14155552671", "Body": "x"}}, "inputs.From"),
            ({"inputs": {"To": "+14155552671", "Body": "x"}}, "inputs.From"),
            ({"inputs": {"From": "+15017122661", "To": "+14155552671", "Bdy": "x"}}, "inputs.Bdy"),
            ({"action": "twilio/nope"}, "action"),
            ({"connection": None}, "connection"),
            ({"name": "Has Spaces"}, "name"),
            (
                {
                    "kind": "branch",
                    "action": "",
                    "connection": None,
                    "inputs": {"cases": [{"operator": "eq"}]},
                },
                "inputs.cases.0.operator",
            ),
            (
                {"kind": "delay", "action": "", "connection": None, "inputs": {"seconds": -5}},
                "inputs.seconds",
            ),
            (
                {
                    "kind": "for_each",
                    "action": "",
                    "connection": None,
                    "inputs": {"workflow": "ghost", "items": []},
                },
                "inputs.workflow",
            ),
        ],
    )
    def test_problems_are_reported_per_field(self, workspace, connection, values, field):
        workflow = Workflow.objects.create(workspace=workspace, name="w")
        with pytest.raises(ValidationError) as caught:
            self.make_step(workflow, connection, **values).full_clean()
        assert field in caught.value.message_dict

    def test_templates_defer_value_checks_to_run_time(self, workspace, connection):
        workflow = Workflow.objects.create(workspace=workspace, name="w")
        step = self.make_step(
            workflow,
            connection,
            inputs={"From": "{{ vars.sender }}", "To": "{{ trigger.From }}", "Body": "Hi"},
        )
        step.full_clean()

    def test_a_connection_of_another_workspace_is_refused(self, workspace, other_workspace, make_connection):
        from connections.services import connection_create

        foreign = connection_create(
            workspace=other_workspace, name="x", account_sid=ACCOUNT_SID, auth_token="0" * 32
        )
        workflow = Workflow.objects.create(workspace=workspace, name="w")
        with pytest.raises(ValidationError) as caught:
            self.make_step(workflow, foreign).full_clean()
        assert "connection" in caught.value.message_dict


class TestRunWorkflowCommand:
    def test_inline_run_prints_the_result(self, imported, twilio, capsys):
        from email.utils import format_datetime

        from django.utils import timezone

        twilio.add(
            responses.POST,
            MESSAGES,
            status=201,
            json={
                "sid": "SM" + "e" * 32,
                "status": "queued",
                "to": "+14155552671",
                "from": "+15017122661",
                "body": "…",
                "date_created": format_datetime(timezone.now()),
            },
        )
        call_command(
            "run_workflow",
            "appointment-reminder",
            "--inline",
            "--data",
            json.dumps({"phone": "+14155552671", "when": "2026-12-01T09:30:00Z", "confirmed": "no"}),
        )
        summary = json.loads(capsys.readouterr().out)
        assert summary["status"] == "succeeded"
        assert [s["step"] for s in summary["steps"]] == ["check", "remind"]
        body = dict(__import__("urllib.parse").parse.parse_qsl(twilio.calls[0].request.body))["Body"]
        assert body == "Acme Dental: see you Tue 1 Dec, 09:30. Reply C to confirm."

    def test_failure_exits_non_zero_with_the_code(self, imported, capsys):
        with pytest.raises(CommandError, match="TEMPLATE_ERROR"):
            call_command("run_workflow", "appointment-reminder", "--inline", "--data", "{}")

    def test_enqueue_only_prints_the_run_id(self, imported, capsys):
        call_command("run_workflow", "appointment-reminder", "--data", "{}")
        out = json.loads(capsys.readouterr().out)
        assert Run.objects.get(pk=out["run_id"]).status == RunStatus.PENDING

    def test_unknown_workflow(self, db):
        with pytest.raises(CommandError, match="NOT_FOUND"):
            call_command("run_workflow", "ghost")

    def test_data_must_be_an_object(self, imported):
        with pytest.raises(CommandError, match="JSON object"):
            call_command("run_workflow", "appointment-reminder", "--data", "[1]")


class TestPruneAndRecover:
    def test_prune_removes_only_old_finished_runs(self, imported, fake_clock, capsys):
        old = run_create(workflow=imported, payload={"confirmed": "yes"}, enqueue=False)
        run_execute_inline(old.pk)  # branch → end: succeeded
        live = run_create(workflow=imported, payload={}, enqueue=False)
        fake_clock.advance(40 * 86400)
        recent = run_create(workflow=imported, payload={"confirmed": "yes"}, enqueue=False)
        run_execute_inline(recent.pk)
        call_command("prune_runs", "--older-than", "30")
        assert "Removed 1 runs and 1 step records" in capsys.readouterr().out
        assert set(Run.objects.values_list("pk", flat=True)) == {live.pk, recent.pk}
        assert StepRun.objects.filter(run_id=old.pk).count() == 0

    def test_prune_keeps_a_child_whose_parent_is_kept(self, imported, fake_clock):
        parent = run_create(workflow=imported, payload={}, enqueue=False)
        child = run_create(workflow=imported, payload={}, parent=parent, parent_sequence=1, enqueue=False)
        Run.objects.filter(pk=child.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=fake_clock.now() - timedelta(days=90)
        )
        assert runs_prune(older_than_days=30) == {"runs": 0, "step_runs": 0}

    def test_prune_needs_a_sane_window(self, db):
        with pytest.raises(CommandError, match="VALIDATION_ERROR"):
            call_command("prune_runs", "--older-than", "0")

    def test_recover_command_prints_counts(self, db, capsys):
        call_command("recover_runs")
        assert capsys.readouterr().out.strip() == "resumed: 0, woken: 0, requeued: 0, dispatched: 0"
