from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"
