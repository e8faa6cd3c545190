import json

from django.core.management.base import BaseCommand, CommandError

from triggers.models import Trigger
from triggers.polling import MAX_MESSAGES, is_polling, poll_trigger


def trigger_get(ref: str, workspace_slug: str | None = None) -> Trigger:
    triggers = Trigger.objects.select_related("connection", "workflow", "workspace")
    if workspace_slug:
        triggers = triggers.filter(workspace__slug=workspace_slug)
    found = list(triggers.filter(pk=int(ref))) if ref.isdigit() else []
    found = found or list(triggers.filter(name=ref))
    where = f" in workspace {workspace_slug!r}" if workspace_slug else ""
    if not found:
        raise CommandError(f"NOT_FOUND: No trigger {ref!r}{where}.")
    if len(found) > 1:
        raise CommandError(
            f"VALIDATION_ERROR: {len(found)} triggers are named {ref!r}; pass its id or --workspace."
        )
    return found[0]


class Command(BaseCommand):
    help = "Poll a polling trigger (New messages) once now and print the counts."

    def add_arguments(self, parser):
        parser.add_argument("trigger", help="Trigger name or id")
        parser.add_argument("--workspace", help="Workspace slug (when names collide)")
        parser.add_argument(
            "--cap",
            type=int,
            default=MAX_MESSAGES,
            help=f"Most messages read in this poll (default {MAX_MESSAGES})",
        )

    def handle(self, *args, **opts):
        trigger = trigger_get(opts["trigger"], opts["workspace"])
        if not is_polling(trigger):
            raise CommandError(
                f"VALIDATION_ERROR: Trigger {trigger.name!r} is a {trigger.kind} trigger, not a polling one."
            )
        result = poll_trigger(trigger=trigger, cap=opts["cap"])
        self.stdout.write(json.dumps({"trigger": trigger.pk, **result}))
        if result.get("error"):
            raise CommandError(result["error"])
