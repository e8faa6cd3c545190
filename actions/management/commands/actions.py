from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from actions.registry import action_list


class Command(BaseCommand):
    help = "Print the action catalogue: slug, title, required fields."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Full declarations as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        actions = action_list()
        if opts["json"]:
            import json

            self.stdout.write(json.dumps([a.describe() for a in actions], indent=2, ensure_ascii=False))
            return
        width = max(len(a.slug) for a in actions)
        group = None
        for action in actions:
            if action.group != group:
                group = action.group
                self.stdout.write(f"\n{group}")
            required = ", ".join(action.required_fields()) or "—"
            self.stdout.write(f"  {action.slug:<{width}}  {action.title}  [required: {required}]")
