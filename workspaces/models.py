from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from twilioflow.core.models import TimeStampedModel
from workspaces.choices import country_choices, time_zone_choices


class Workspace(TimeStampedModel):
    """One client of the agency: its Twilio connections, workflows and runs live here."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", choices=time_zone_choices)
    default_country = models.CharField(
        max_length=2,
        default="US",
        choices=country_choices,
        help_text="Used to read national phone numbers (e.g. 0612 345678) as E.164.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


# Who may change what. Connections hold credentials, so operators only use them.
EDIT_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.OPERATOR})
MANAGE_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(TimeStampedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="uniq_membership"),
        ]
        ordering = ["workspace__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.get_role_display()})"

    def clean(self) -> None:
        if self.role not in Role.values:
            raise ValidationError({"role": "Unknown role."})
