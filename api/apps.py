from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "REST API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # Registers the authentication schemes with drf-spectacular.
        import api.schema  # noqa: F401

        post_migrate.connect(_ensure_dispatch, sender=self, dispatch_uid="api.run_webhooks")


def _ensure_dispatch(**kwargs: object) -> None:
    from api.notifications import dispatch_schedule_ensure

    dispatch_schedule_ensure()
