"""Workspace API keys and the idempotency records of run starts.

A key is `djangorestframework-api-key`'s design (a public prefix and a SHA-512 hash of the
secret; the secret is shown once) tied to one workspace with one scope. An idempotency
record is unique per (workspace, key): ten identical POSTs at once race on the index, not on
a check-then-insert, so exactly one run is created."""

from __future__ import annotations

from django.db import models
from fernet_fields import EncryptedTextField
from rest_framework_api_key.models import AbstractAPIKey

from workspaces.models import Workspace


class Scope(models.TextChoices):
    # Each scope includes the ones above it.
    READ = "read", "read: list and read everything of the workspace"
    RUN = "run", "run: read, start runs and actions, replay and cancel runs"
    MANAGE = "manage", "manage: run, and create, change and delete workflows, triggers, connections"


class WorkspaceApiKey(AbstractAPIKey):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ("-created",)


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of a run start: the same key and body return this run for
    `IDEMPOTENCY_HOURS`; a different body with the key is refused."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    run = models.ForeignKey("workflows.Run", on_delete=models.CASCADE, null=True, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="uniq_api_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} → run {self.run_id}"


class RunWebhook(models.Model):
    """Optional per workflow: when one of its (top-level) runs ends, its summary is POSTed
    to `url`, signed in the Standard Webhooks format with `secret` (whsec_…)."""

    workflow = models.OneToOneField(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="run_webhook"
    )
    url = models.URLField(max_length=500)
    secret = EncryptedTextField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.workflow} → {self.url}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from api.notifications import target_problem  # the same check as the API's

        problem = target_problem(self.url)
        if problem:
            raise ValidationError({"url": f"Refused: {problem}. Give a public https URL."})


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class RunWebhookDelivery(models.Model):
    """One run's notification: every attempt counted, the last answer kept (never the body
    we sent, which the run itself shows)."""

    webhook = models.ForeignKey(RunWebhook, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey("workflows.Run", on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Race-safe: two dispatchers at once still give one delivery per run.
            models.UniqueConstraint(fields=["webhook", "run"], name="uniq_run_webhook_delivery"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"
