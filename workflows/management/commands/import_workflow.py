import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twilioflow.core.errors import TwilioFlowError
from workflows.management.commands.run_action import load_json_argument
from workflows.transfer import workflow_import
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Create a workflow from exported JSON (all or nothing; errors name each field)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the JSON file, or - for standard input")
        parser.add_argument("--workspace", required=True, help="Workspace slug")
        parser.add_argument(
            "--replace", action="store_true", help="Overwrite a workflow of the same name (its runs are kept)"
        )
        parser.add_argument(
            "--overwrite-shared",
            action="store_true",
            help="Replace a different voice agent of the same name (default: refuse the import)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            workspace = Workspace.objects.get(slug=opts["workspace"])
        except Workspace.DoesNotExist:
            raise CommandError(f"NOT_FOUND: no workspace {opts['workspace']!r}.") from None
        document = load_json_argument("@" + opts["file"], "the workflow file")
        try:
            workflow = workflow_import(
                workspace=workspace,
                document=document,
                replace=opts["replace"],
                overwrite_shared=opts["overwrite_shared"],
            )
        except TwilioFlowError as error:
            self.stderr.write(json.dumps(error.as_dict(), indent=2, ensure_ascii=False))
            raise CommandError(f"{error.code}: {error.message}") from None
        self.stdout.write(
            f"Imported workflow {workflow.name!r} (id {workflow.pk}) with "
            f"{workflow.steps.count()} steps into {workspace.slug}."
        )
