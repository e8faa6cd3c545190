"""`manage.py run_action <slug>`: one action as an audited ad-hoc run (source `command`).

It lives in `workflows` (not `actions`) because it records a run through the engine: the
step is `dispatching` before the request, so a killed command is reconciled by
`recover_runs`, never resent."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from actions.services import action_dry_run
from connections.models import Connection
from connections.selectors import connection_get
from twilioflow.core.errors import TwilioFlowError
from twilioflow.core.redaction import redact_data
from workflows.models import Run, RunStatus, StepStatus
from workflows.services import action_run_adhoc


def load_json_argument(value: str, what: str):
    """`'{"a": 1}'`, or `@file.json`, or `@-` for standard input."""
    try:
        if value.startswith("@"):
            source = value[1:]
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        else:
            text = value
        return json.loads(text)
    except FileNotFoundError:
        raise CommandError(f"VALIDATION_ERROR: {what} file {value[1:]!r} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"VALIDATION_ERROR: {what} is not valid JSON: {exc}") from None


class Command(BaseCommand):
    help = (
        "Validate and run one action as an audited ad-hoc run (source `command`); print its "
        "output as JSON and the run id (exit 1 with the error code on failure). --dry-run prints "
        "the request instead, sends nothing and records no run."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="e.g. twilio/send-sms (see `manage.py actions`)")
        parser.add_argument("--connection", required=True, help="Connection name, id or public id")
        parser.add_argument("--input", default="{}", help="JSON object, or @file.json")
        parser.add_argument(
            "--show-exchanges", action="store_true", help="Also print the (redacted) HTTP exchanges"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and print the request (method, URL, parameters; secrets masked); send nothing",
        )

    def handle(self, *args, **opts):
        try:
            connection = connection_get(ref=opts["connection"])
        except (Connection.DoesNotExist, Connection.MultipleObjectsReturned) as exc:
            raise CommandError(f"NOT_FOUND: {exc}") from None
        inputs = load_json_argument(opts["input"], "--input")
        if not isinstance(inputs, dict):
            raise CommandError("VALIDATION_ERROR: --input must be a JSON object.")
        try:
            if opts["dry_run"]:
                request = action_dry_run(slug=opts["slug"], connection=connection, inputs=inputs)
                self.stdout.write(
                    json.dumps(
                        {"dry_run": True, "action": opts["slug"], "request": request},
                        indent=2,
                        ensure_ascii=False,
                        default=str,
                    )
                )
                return
            run = action_run_adhoc(slug=opts["slug"], connection=connection, inputs=inputs)
        except TwilioFlowError as error:  # invalid input or unknown action: no run, no request
            self.stderr.write(json.dumps(redact_data(error.as_dict()), indent=2, ensure_ascii=False))
            raise CommandError(f"{error.code}: {error.message}") from None
        self._report(run, show_exchanges=opts["show_exchanges"])

    def _report(self, run: Run, *, show_exchanges: bool) -> None:
        step_runs = list(run.step_runs.order_by("sequence", "attempt"))
        if show_exchanges:
            exchanges = [e for s in step_runs for e in s.exchanges]
            self.stderr.write(json.dumps(exchanges, indent=2, default=str))
        self.stderr.write(f"Run {run.pk} ({run.label}): {run.status}")
        last = step_runs[-1] if step_runs else None
        if run.status == RunStatus.SUCCEEDED and last is not None and last.status == StepStatus.SUCCEEDED:
            self.stdout.write(json.dumps(redact_data(last.output), indent=2, ensure_ascii=False, default=str))
            return
        if run.status == RunStatus.FAILED:
            error = {"code": run.error_code, "message": run.error_message, "run_id": run.pk}
            if last is not None and last.twilio_error_code is not None:
                error["twilio_code"] = last.twilio_error_code
            self.stderr.write(json.dumps(redact_data(error), indent=2, ensure_ascii=False))
            raise CommandError(f"{run.error_code}: {run.error_message}")
        raise CommandError(
            f"RUN_NOT_FINISHED: run {run.pk} is {run.status} ({run.get_waiting_for_display()}); "
            "a worker (`manage.py qcluster`) finishes it."
        )
