from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.services import prices_refresh
from connections.selectors import connection_get
from twilioflow.core.errors import TwilioFlowError


class Command(BaseCommand):
    help = (
        "Refresh the workspace's SMS/MMS price table from Twilio's Pricing API "
        "(GET https://pricing.twilio.com/v1/Messaging/Countries/{ISO}) through a connection."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", required=True, help="Connection name, id or public id")
        parser.add_argument("countries", nargs="+", help="ISO country codes: US FR GB …")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            connection = connection_get(ref=opts["connection"])
            entries = prices_refresh(connection=connection, countries=opts["countries"])
        except TwilioFlowError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        for entry in entries:
            self.stdout.write(f"{entry.country} {entry.channel}: {entry.price} {entry.currency}")
