from django.core.management.base import BaseCommand, CommandError

from connections.models import Connection
from connections.selectors import connection_list
from triggers.numbers import numbers_sync
from twilioflow.core.errors import TwilioFlowError


class Command(BaseCommand):
    help = (
        "Sync the account's phone numbers and their webhooks from Twilio (all connections, "
        "or those named). Exit 1 if any connection fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("connections", nargs="*", help="Names, ids or public ids")

    def handle(self, *args, **opts):
        try:
            targets = connection_list(refs=opts["connections"])
        except (Connection.DoesNotExist, Connection.MultipleObjectsReturned) as exc:
            raise CommandError(f"NOT_FOUND: {exc}") from None
        failed = 0
        for connection in targets:
            label = f"{connection.workspace.slug}/{connection.name}"
            try:
                counts = numbers_sync(connection=connection)
            except TwilioFlowError as error:
                failed += 1
                self.stderr.write(f"FAIL {label}: {error}")
                continue
            line = (
                f"ok   {label}: {counts['total']} on Twilio, {counts['created']} created, "
                f"{counts['updated']} updated, {counts['removed']} removed"
            )
            if counts["conflicts"]:
                line += f", {counts['conflicts']} skipped (synced under another connection)"
            self.stdout.write(line)
        self.stdout.write(f"{len(targets) - failed} synced, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} connection(s) could not be synced.")
