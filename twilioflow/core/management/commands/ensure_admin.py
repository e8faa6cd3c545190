import os
import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create the first superuser when none exists (password from ADMIN_PASSWORD, or "
        "generated and printed once). Does nothing when a superuser exists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument(
            "--password-file",
            metavar="PATH",
            help="Write a generated password to this file (mode 600: username, newline, password) "
            "instead of printing it; `make run` prints it once the server is up, then deletes it.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists; leaving accounts alone.")
            return
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=opts["username"], email="", password=password)
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(f"Created superuser {opts['username']!r} with ADMIN_PASSWORD.")
        elif opts.get("password_file"):
            path = Path(opts["password_file"])
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(f"{opts['username']}\n{password}\n")
            self.stdout.write(
                f"Created superuser {opts['username']!r}; its password is shown once the server is up."
            )
        else:
            self.stdout.write(
                f"Created superuser {opts['username']!r} with password: {password}\n"
                "(shown once; change it in the admin)"
            )
