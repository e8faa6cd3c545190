from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from triggers.models import Trigger
        from triggers.number_routing import number_hooks_register
        from triggers.polling import on_trigger_deleted, on_trigger_saved

        # Polling triggers: keep each one's django-q2 Schedule in step with the trigger.
        post_save.connect(on_trigger_saved, sender=Trigger, dispatch_uid="triggers.poll_schedule_save")
        post_delete.connect(on_trigger_deleted, sender=Trigger, dispatch_uid="triggers.poll_schedule_delete")
        # Route / restore runs keep the phone number rows in step (workflows.step_hooks).
        number_hooks_register()
        # The workflow editor's variable browser, preview and checks read the trigger kinds.
        from triggers.workflow_catalog import workflow_catalog_register

        workflow_catalog_register()
        # The workflow page shows its triggers inline (workflows.admin.workflow_inline_register).
        from triggers.workflow_inline import trigger_inline_register

        trigger_inline_register()
