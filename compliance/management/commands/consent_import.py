from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.services import CSV_HELP, consent_import_csv
from twilioflow.core.errors import TwilioFlowError
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Import opt-outs (or opt-ins) from a CSV file into a workspace, all or nothing. " + CSV_HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workspace", help="Workspace slug")
        parser.add_argument("file", help="CSV file (UTF-8), or - for standard input")

    def handle(self, *args: Any, **opts: Any) -> None:
        workspace = Workspace.objects.filter(slug=opts["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace {opts['workspace']!r}.")
        if opts["file"] == "-":
            import sys

            text = sys.stdin.read()
        else:
            try:
                text = Path(opts["file"]).read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise CommandError(f"Cannot read {opts['file']}: {exc.strerror}") from None
        try:
            report = consent_import_csv(workspace=workspace, text=text)
        except TwilioFlowError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        if report.problems:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(f"Nothing imported: {len(report.problems)} bad row(s).")
        self.stdout.write(f"Imported {report.created} consent event(s) into {workspace.slug}.")
