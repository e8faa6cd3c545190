from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_tick(sender, **kwargs) -> None:
    from campaigns.services import tick_schedule_ensure

    tick_schedule_ensure()


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Delivery callbacks reach recipients through workflows' listener registry, so
        # workflows never imports campaigns.
        from campaigns.services import recipient_track_delivery
        from workflows.inbound import delivery_listener_register

        delivery_listener_register("campaigns", recipient_track_delivery)
        post_migrate.connect(_ensure_tick, sender=self, dispatch_uid="campaigns.tick")
