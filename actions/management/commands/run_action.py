import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from actions.services import action_execute
from connections.models import Connection
from connections.selectors import connection_get


def load_json_argument(value: str, what: str) -> Any:
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
    help = "Validate and run one action; print its output as JSON (exit 1 with the error code on failure)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="e.g. twilio/send-sms (see `manage.py actions`)")
        parser.add_argument("--connection", required=True, help="Connection name, id or public id")
        parser.add_argument("--input", default="{}", help="JSON object, or @file.json")
        parser.add_argument(
            "--show-exchanges", action="store_true", help="Also print the (redacted) HTTP exchanges"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            connection = connection_get(ref=opts["connection"])
        except (Connection.DoesNotExist, Connection.MultipleObjectsReturned) as exc:
            raise CommandError(f"NOT_FOUND: {exc}") from None
        inputs = load_json_argument(opts["input"], "--input")
        # Shell access is trusted (no role check), but what we print is redacted all the same:
        # terminals are logged, shared and pasted into tickets.
        result = action_execute(slug=opts["slug"], connection=connection, inputs=inputs)
        if opts["show_exchanges"]:
            self.stderr.write(json.dumps(result.redacted_exchanges(), indent=2, default=str))
        if not result.ok:
            error = result.redacted_error() or {}
            self.stderr.write(json.dumps(error, indent=2, ensure_ascii=False, default=str))
            raise CommandError(f"{error['code']}: {error['message']}")
        self.stdout.write(json.dumps(result.redacted_output(), indent=2, ensure_ascii=False, default=str))
