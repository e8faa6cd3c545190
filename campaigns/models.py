"""Campaigns: one message (or one workflow) to many recipients, paced at the sender's speed.

A `Campaign` belongs to a workspace; its audience is one `CampaignRecipient` per unique
E.164 number (the unique constraint is the dedupe). Each recipient is sent through its own
run (source `campaign`), created and linked in the same transaction that moves the
recipient from `pending` to `sending`, so a recipient never gets a second run: a crash
leaves it `sending` with its run, and the run's own dispatching record is reconciled.
`PacingBucket` is the shared pacing state of one sender (see `campaigns/pacing.py`).
"""

from __future__ import annotations

from django.db import models

from twilioflow.core.models import TimeStampedModel
from workspaces.models import Workspace


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_CAMPAIGN_STATUSES = frozenset({CampaignStatus.COMPLETED, CampaignStatus.CANCELLED})


class Channel(models.TextChoices):
    SMS = "sms", "SMS / MMS"
    WHATSAPP = "whatsapp", "WhatsApp"


class Campaign(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=120)
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The Twilio account that sends.",
    )
    # What each recipient gets: a workflow (its trigger is {To, From, Campaign}; the row's
    # columns are vars.*), or this one message template ({{ column }} variables).
    workflow = models.ForeignKey(
        "workflows.Workflow",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text="Run this workflow per recipient, or leave empty and write a message below.",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    body = models.TextField(
        blank=True, help_text="The message; {{ first_name }} takes the recipient's column."
    )
    media_url = models.TextField(blank=True, help_text="Optional media URLs, one per line (MMS/WhatsApp).")
    content_sid = models.CharField(
        max_length=34, blank=True, help_text="WhatsApp template (HX…), sendable outside the 24-hour window."
    )
    content_variables = models.JSONField(
        default=dict, blank=True, help_text='Template variables, e.g. {"1": "{{ first_name }}"}.'
    )
    sender = models.CharField(
        max_length=64,
        help_text="From: a number (long code, toll-free, short code), an alphanumeric ID, "
        "whatsapp:+… or a Messaging Service SID (MG…).",
    )
    mps = models.DecimalField(
        "messages per second",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Override the sender's throughput (long code 1/s, toll-free 3/s, short code "
        "100/s, Messaging Service: the sum of its senders).",
    )
    workers = models.PositiveSmallIntegerField(
        default=1, help_text="Parallel task chains (1–8); the pace is shared, never multiplied."
    )
    start_at = models.DateTimeField(null=True, blank=True, help_text="Empty: start now.")
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, db_index=True
    )
    # The pace in force and where it came from ("sender: toll-free", "override", …).
    rate = models.FloatField(null=True, blank=True, editable=False)
    rate_source = models.CharField(max_length=120, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    note = models.TextField(blank=True, editable=False, help_text="Why it paused or stopped.")
    # The last audience import's report: [{row, phone, state, code, message}] (capped).
    import_report = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_CAMPAIGN_STATUSES


class RecipientState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    OPTED_OUT = "opted_out", "Opted out"
    SKIPPED = "skipped", "Skipped"


DONE_STATES = frozenset(
    {
        RecipientState.SENT,
        RecipientState.DELIVERED,
        RecipientState.FAILED,
        RecipientState.OPTED_OUT,
        RecipientState.SKIPPED,
    }
)


class CampaignRecipient(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    phone = models.CharField(max_length=40, help_text="E.164.")
    variables = models.JSONField(default=dict, blank=True)
    source_row = models.PositiveIntegerField(null=True, blank=True, help_text="CSV row (1 = header).")
    state = models.CharField(max_length=10, choices=RecipientState.choices, default=RecipientState.PENDING)
    reason_code = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)
    # Not before this time (quiet hours in the recipient's zone).
    not_before = models.DateTimeField(null=True, blank=True)
    run = models.OneToOneField(
        "workflows.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="campaign_recipient"
    )
    message_sid = models.CharField(max_length=34, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "phone"], name="uniq_campaign_recipient"),
        ]
        indexes = [
            models.Index(fields=["campaign", "state", "not_before"], name="campaign_recipient_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({self.state})"


class CampaignLane(models.Model):
    """One of a campaign's parallel task chains; its lease says a worker is on it (a lapsed
    lease: the worker died, and `campaigns_tick` enqueues the lane again)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="lanes")
    number = models.PositiveSmallIntegerField()
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    wake_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="uniq_campaign_lane"),
        ]

    def __str__(self) -> str:
        return f"lane {self.number} of campaign {self.campaign_id}"


class PacingBucket(models.Model):
    """The next free send slot of one sender (epoch seconds), shared by every worker."""

    key = models.CharField(max_length=160, unique=True)
    next_at = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return self.key
