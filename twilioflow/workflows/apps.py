from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "twilioflow.workflows"
    label = "workflows"
    verbose_name = "Workflows and runs"
