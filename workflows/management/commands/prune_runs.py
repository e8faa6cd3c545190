from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twilioflow.core.errors import TwilioFlowError
from workflows.services import runs_prune


class Command(BaseCommand):
    help = "Delete finished runs (with their step records) older than DAYS. Live runs are kept."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            counts = runs_prune(older_than_days=opts["older_than"])
        except TwilioFlowError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        self.stdout.write(
            f"Removed {counts['runs']} runs and {counts['step_runs']} step records "
            f"finished more than {opts['older_than']} days ago."
        )
