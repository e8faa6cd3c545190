from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connections.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first FERNET_KEYS key. Idempotent: run it "
        "after putting a new key first, then drop the old key once it reports 0 rotated."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        counts = secrets_rotate()
        self.stdout.write(
            f"rotated: {counts['rotated']}, already current: {counts['current']}, "
            f"unreadable: {counts['unreadable']}"
        )
        if counts["unreadable"]:
            raise CommandError(
                "Some secrets could not be decrypted with any configured key; keep the key "
                "they were written with in FERNET_KEYS."
            )
