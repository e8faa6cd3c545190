from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_sweeper(sender, **kwargs) -> None:
    from workflows.services import sweeper_schedule_ensure

    sweeper_schedule_ensure()


class WorkflowsConfig(AppConfig):
    name = "workflows"
    label = "workflows"
    verbose_name = "Workflows and runs"

    def ready(self) -> None:
        post_migrate.connect(_ensure_sweeper, sender=self, dispatch_uid="workflows.sweeper")
