from django.apps import AppConfig


class StaffConfig(AppConfig):
    """Staff pages (issue 15): the operators' dashboard, shared inbox and run pages, outside
    the admin. The top layer: it reads through the lower layers' selectors and writes through
    their services, and nothing imports it."""

    name = "staff"
    verbose_name = "Staff pages"
    default_auto_field = "django.db.models.BigAutoField"
