import getpass
import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import ConnectionKind
from connections.services import connection_create, connection_verify
from workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Add a Twilio connection to a workspace. Secrets are prompted for without echo, or "
        "read from TWILIO_AUTH_TOKEN / TWILIO_API_KEY_SECRET with --from-env (for scripts); "
        "they are never accepted as command-line arguments, which leak into shell history."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--account-sid", required=True, help="AC…")
        parser.add_argument("--kind", choices=ConnectionKind.values, default=ConnectionKind.AUTH_TOKEN)
        parser.add_argument("--api-key-sid", default="", help="SK… (with --kind api_key)")
        parser.add_argument("--from-env", action="store_true", help="Read secrets from the environment")
        parser.add_argument(
            "--create-workspace", action="store_true", help="Create the workspace when it does not exist"
        )
        parser.add_argument("--no-verify", action="store_true", help="Do not call Twilio now")

    def handle(self, *args: Any, **opts: Any) -> None:
        workspace = self._workspace(opts)
        kind = opts["kind"]
        auth_token = self._secret(
            opts, "TWILIO_AUTH_TOKEN", "Auth Token", required=kind == ConnectionKind.AUTH_TOKEN
        )
        api_key_secret = None
        if kind == ConnectionKind.API_KEY:
            api_key_secret = self._secret(opts, "TWILIO_API_KEY_SECRET", "API Key secret", required=True)
        try:
            connection = connection_create(
                workspace=workspace,
                name=opts["name"],
                account_sid=opts["account_sid"],
                kind=kind,
                auth_token=auth_token,
                api_key_sid=opts["api_key_sid"],
                api_key_secret=api_key_secret,
            )
        except ValidationError as exc:
            lines = [f"  {field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
            raise CommandError("VALIDATION_ERROR:\n" + "\n".join(lines)) from None
        self.stdout.write(f"Added connection {connection.name} (id {connection.pk}).")
        if not opts["no_verify"]:
            ok, message = connection_verify(connection=connection)
            (self.stdout if ok else self.stderr).write(message)
            if not ok:
                raise CommandError("The connection was saved but could not be verified.")

    def _workspace(self, opts: dict[str, Any]) -> Workspace:
        slug = opts["workspace"]
        try:
            return Workspace.objects.get(slug=slug)
        except Workspace.DoesNotExist:
            if not opts["create_workspace"]:
                raise CommandError(
                    f"No workspace {slug!r}. Create it in the admin or pass --create-workspace."
                ) from None
            return Workspace.objects.create(slug=slug, name=slug.replace("-", " ").title())

    def _secret(self, opts: dict[str, Any], env_name: str, label: str, *, required: bool) -> str | None:
        if opts["from_env"]:
            value = os.environ.get(env_name, "")
        elif required:
            value = getpass.getpass(f"{label} (input hidden): ")
        else:
            value = getpass.getpass(f"{label} (optional; needed for inbound webhooks; input hidden): ")
        if required and not value.strip():
            source = f"${env_name}" if opts["from_env"] else "the prompt"
            raise CommandError(f"VALIDATION_ERROR: {label} is required (from {source}).")
        return value.strip() or None
