from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "twilioflow.core"
    label = "core"
    verbose_name = "TwilioFlow core"

    def ready(self) -> None:
        from twilioflow.core import checks  # noqa: F401  (registers the system checks)
