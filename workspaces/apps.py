from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        # Every app's admin module is imported by now (django.contrib.admin is listed first):
        # admins that are not workspace-scoped become superuser-only.
        from workspaces.admin_mixins import restrict_unscoped_admins

        restrict_unscoped_admins()
