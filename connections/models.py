import re
import uuid
from collections.abc import Collection
from typing import Any, Self

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from fernet_fields import EncryptedTextField

from twilioflow.core.models import TimeStampedModel
from twilioflow.core.redaction import mask_secret, remember_secret
from workspaces.models import Workspace

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_SID_RE = re.compile(r"^SK[0-9a-fA-F]{32}$")

account_sid_validator = RegexValidator(
    ACCOUNT_SID_RE, "An Account SID is AC followed by 32 hexadecimal characters."
)
api_key_sid_validator = RegexValidator(
    API_KEY_SID_RE, "An API Key SID is SK followed by 32 hexadecimal characters."
)


class ConnectionKind(models.TextChoices):
    AUTH_TOKEN = "auth_token", "Account SID + Auth Token"
    API_KEY = "api_key", "API Key (SK…) + secret"


class ConnectionStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    VERIFIED = "verified", "Verified"
    AUTH_FAILED = "auth_failed", "Authentication failed"


AUTH_FAILED_MESSAGE = "Reconnect: the Account SID or Auth Token is invalid or was rotated"


class Connection(TimeStampedModel):
    """One client's Twilio account, and the credentials we use for it (encrypted at rest)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="connections")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=ConnectionKind.choices, default=ConnectionKind.AUTH_TOKEN)
    account_sid = models.CharField("Account SID", max_length=34, validators=[account_sid_validator])
    auth_token = EncryptedTextField(
        blank=True,
        null=True,
        help_text="Required for Auth Token connections. Optional for API-key connections, "
        "but Twilio signs inbound webhooks with the Auth Token, so inbound triggers "
        "(SMS, calls, status callbacks) need it there too.",
    )
    api_key_sid = models.CharField(
        "API Key SID", max_length=34, blank=True, validators=[api_key_sid_validator]
    )
    api_key_secret = EncryptedTextField("API Key secret", blank=True, null=True)
    status = models.CharField(
        max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.UNVERIFIED
    )
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Unguessable id for this connection's webhook URLs (Twilio signs, we also obscure).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ["workspace__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_connection_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_sid})"

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any]) -> Self:
        # Loading decrypts the credentials: from now on this process masks them wherever
        # they appear (an Account resource echoing the Auth Token, an error echoing our
        # Authorization header), whichever code path read them.
        instance = super().from_db(db, field_names, values)
        instance.remember_secrets()
        return instance

    def remember_secrets(self) -> None:
        remember_secret(self.__dict__.get("auth_token"), username=self.__dict__.get("account_sid"))
        remember_secret(self.__dict__.get("api_key_secret"), username=self.__dict__.get("api_key_sid"))

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == ConnectionKind.AUTH_TOKEN and not self.auth_token:
            errors["auth_token"] = "An Auth Token connection needs its Auth Token."
        if self.kind == ConnectionKind.API_KEY:
            if not self.api_key_sid:
                errors["api_key_sid"] = "An API-key connection needs the API Key SID (SK…)."
            if not self.api_key_secret:
                errors["api_key_secret"] = "An API-key connection needs the API Key secret."
        if errors:
            raise ValidationError(errors)

    @property
    def can_verify_webhooks(self) -> bool:
        return bool(self.auth_token)

    @property
    def auth_token_masked(self) -> str:
        return mask_secret(self.auth_token)

    @property
    def api_key_secret_masked(self) -> str:
        return mask_secret(self.api_key_secret)

    def basic_auth(self) -> tuple[str, str]:
        """(username, password) for Twilio's REST API."""
        if self.kind == ConnectionKind.API_KEY:
            return self.api_key_sid, self.api_key_secret or ""
        return self.account_sid, self.auth_token or ""


class ConnectionExchange(models.Model):
    """One read-only Twilio request made for a connection outside any run (verify, numbers
    sync, pickers), redacted: what an admin sees on the connection page. Capped per
    connection (`connections.services.EXCHANGES_KEPT`); requests that change something are
    runs, whose step runs keep their exchanges."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="exchanges")
    at = models.DateTimeField(db_index=True)
    purpose = models.CharField(max_length=60, help_text="verify, numbers_sync, picker:phone_numbers…")
    method = models.CharField(max_length=10)
    url = models.CharField(max_length=1000)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error = models.CharField(max_length=500, blank=True)
    request_excerpt = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["connection", "-at"], name="connections_exchange_recent")]

    def __str__(self) -> str:
        return f"{self.method} {self.url} → {self.status or self.error_code or '—'}"


class WebhookRejection(models.Model):
    """A request to one of the connection's webhook URLs that we refused before reading it
    (bad or missing signature, no Auth Token to check it, unknown trigger URL): time, method,
    path and reason only, never the body, a header or a secret. The last
    `connections.services.REJECTIONS_KEPT` per connection are kept; the total is counted in
    `WebhookRejectionCount`."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_rejections")
    at = models.DateTimeField()
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    reason = models.CharField(max_length=40)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["connection", "-at"], name="connections_rejection_recent")]

    def __str__(self) -> str:
        return f"{self.reason} {self.method} {self.path}"


class WebhookRejectionCount(models.Model):
    """How many webhooks were refused, per connection, and (scope `unknown`) for URLs that
    name no connection at all: counted globally, with the last such path."""

    scope = models.CharField(max_length=40, unique=True, help_text='"connection:<id>" or "unknown".')
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    count = models.PositiveBigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)
    last_path = models.CharField(max_length=300, blank=True)
    last_reason = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"{self.scope}: {self.count}"
