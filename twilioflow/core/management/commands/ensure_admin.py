import os
import secrets
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

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists; leaving accounts alone.")
            return
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=opts["username"], email="", password=password)
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(f"Created superuser {opts['username']!r} with ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                f"Created superuser {opts['username']!r} with password: {password}\n"
                "(shown once; change it in the admin)"
            )
