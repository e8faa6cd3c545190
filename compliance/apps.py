from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance and the send gate"
    default_auto_field = "django.db.models.BigAutoField"
