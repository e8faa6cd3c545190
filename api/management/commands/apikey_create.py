"""`manage.py apikey_create --workspace acme --name crm --scope run [--expires-days 90]`:
print a new workspace API key once (it is stored only as a hash)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create
from api.models import Scope
from twilioflow.core import clock
from twilioflow.core.errors import TwilioFlowError
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Create a workspace API key and print it (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="The workspace's slug or id.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scope", required=True, choices=Scope.values)
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, **options):
        ref = options["workspace"]
        workspace = Workspace.objects.filter(slug=ref).first() or (
            Workspace.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        )
        if workspace is None:
            raise CommandError(f"NOT_FOUND: no workspace {ref!r}.")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("VALIDATION_ERROR: --expires-days must be at least 1.")
        expires = clock.now() + timedelta(days=days) if days else None
        try:
            key, secret = api_key_create(
                workspace=workspace, name=options["name"], scope=options["scope"], expires_at=expires
            )
        except TwilioFlowError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"API key {key.prefix} ({key.scope}) for {workspace.slug}; shown once:")
        self.stdout.write(secret)
