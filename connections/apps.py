from django.apps import AppConfig
from django.core.signals import setting_changed


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Twilio connections"

    def ready(self) -> None:
        from connections.crypto import reset_fernet_caches

        setting_changed.connect(reset_fernet_caches, dispatch_uid="connections.fernet_keys")
