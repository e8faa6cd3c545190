from typing import Any

from django.core.management.base import BaseCommand

from workflows.services import runs_recover


class Command(BaseCommand):
    help = (
        "Resume runs a crash left behind and wake runs whose delay or retry time has come "
        "(the same sweep the worker's schedule runs every minute). Safe to run any time."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        counts = runs_recover()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in counts.items()))
