from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import Connection
from connections.selectors import connection_list
from connections.services import connection_verify


class Command(BaseCommand):
    help = "Verify Twilio credentials (all connections, or those named/ids given). Exit 1 if any fail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connections", nargs="*", help="Names, ids or public ids")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            targets = connection_list(refs=opts["connections"])
        except (Connection.DoesNotExist, Connection.MultipleObjectsReturned) as exc:
            raise CommandError(f"NOT_FOUND: {exc}") from None
        failed = 0
        for connection in targets:
            ok, message = connection_verify(connection=connection)
            failed += not ok
            line = f"{'ok ' if ok else 'FAIL'} {connection.workspace.slug}/{connection.name}: {message}"
            (self.stdout if ok else self.stderr).write(line)
        self.stdout.write(f"{len(targets) - failed} verified, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} connection(s) could not be verified.")
