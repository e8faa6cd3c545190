import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twilioflow.core.errors import TwilioFlowError
from workflows.selectors import workflow_get
from workflows.transfer import workflow_export


class Command(BaseCommand):
    help = "Print a workflow as JSON (the format import_workflow reads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="Workflow name or id")
        parser.add_argument("--workspace", help="Workspace slug (when names collide)")
        parser.add_argument("--output", help="Write to this file instead of standard output")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            workflow = workflow_get(ref=opts["workflow"], workspace_slug=opts["workspace"])
        except TwilioFlowError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        text = json.dumps(workflow_export(workflow), indent=2, ensure_ascii=False) + "\n"
        if opts["output"]:
            Path(opts["output"]).write_text(text)
        else:
            self.stdout.write(text, ending="")
