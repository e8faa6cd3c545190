import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data, redact_text
from workflows.management.commands.run_action import load_json_argument
from workflows.models import Run, RunStatus
from workflows.selectors import workflow_get
from workflows.services import run_create, run_execute_inline


def run_summary(run: Run) -> dict:
    return redact_data(
        {
            "run_id": run.pk,
            "workflow": run.workflow.name if run.workflow is not None else run.label,
            "status": run.status,
            "result": run.result,
            "error_code": run.error_code or None,
            "error_message": run.error_message or None,
            "steps": [
                {
                    "step": s.step_name,
                    "attempt": s.attempt,
                    "status": s.status,
                    "twilio_sid": s.twilio_sid or None,
                    "error_code": s.error_code or None,
                }
                for s in run.step_runs.all()
            ],
        }
    )


class Command(BaseCommand):
    help = "Start a run of a workflow with a trigger payload; optionally wait for its result."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="Workflow name or id")
        parser.add_argument("--workspace", help="Workspace slug (when names collide)")
        parser.add_argument("--data", default="{}", help="Trigger payload: JSON, or @file.json")
        parser.add_argument("--wait", action="store_true", help="Wait for the result (needs a worker)")
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Execute here instead of in the worker, then print the result",
        )
        parser.add_argument("--timeout", type=float, default=300, help="Seconds --wait waits")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            workflow = workflow_get(ref=opts["workflow"], workspace_slug=opts["workspace"])
        except TwilioFlowError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        payload = load_json_argument(opts["data"], "--data")
        if not isinstance(payload, dict):
            raise CommandError("VALIDATION_ERROR: --data must be a JSON object.")
        run = run_create(workflow=workflow, payload=payload, source="command", enqueue=not opts["inline"])
        if opts["inline"]:
            run = run_execute_inline(run.pk)
        elif opts["wait"]:
            deadline = time.monotonic() + opts["timeout"]
            while not run.is_final and time.monotonic() < deadline:
                time.sleep(0.5)
                run.refresh_from_db()
            if not run.is_final:
                self.stderr.write(
                    f"Run {run.pk} is still {run.status} after {opts['timeout']:g}s "
                    "(is `manage.py qcluster` running?)."
                )
        else:
            self.stdout.write(json.dumps({"run_id": run.pk, "status": run.status}))
            return
        self.stdout.write(json.dumps(run_summary(run), indent=2, ensure_ascii=False, default=str))
        if run.status == RunStatus.FAILED:
            raise CommandError(f"{run.error_code}: {redact_text(run.error_message)}")
