from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "twilioflow.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"
