"""Triggers (what starts a workflow), trigger events (every signed request we accepted) and
the account's phone numbers (where Twilio sends those requests)."""

from __future__ import annotations

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models

from twilioflow.core.models import TimeStampedModel


def _kind_choices():
    from triggers.kinds.registry import kind_choices

    return kind_choices()


class Trigger(TimeStampedModel):
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.PROTECT, related_name="triggers")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="triggers")
    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.PROTECT, related_name="triggers"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=40, choices=_kind_choices)
    enabled = models.BooleanField(default=True)
    # For the generic signed webhook: its own unguessable URL.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    # Filters (all optional; all given must match)
    numbers = models.JSONField(
        default=list,
        blank=True,
        help_text="Only these of our numbers (the To), E.164; empty means any.",
    )
    from_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text="Regular expression the sender (From) must match, e.g. ^\\+44 or ^whatsapp:",
    )
    keywords = models.CharField(
        max_length=200,
        blank=True,
        help_text="Comma-separated first words, case-insensitive (e.g. STOP, UNSUBSCRIBE).",
    )

    # Answers
    reply_message = models.TextField(
        blank=True,
        help_text="Messages: an instant reply sent in the webhook answer (templates allowed: "
        "{{ trigger.Body }}). Empty: no reply.",
    )
    voice_answer = models.JSONField(
        default=dict,
        blank=True,
        help_text='Incoming calls: {"action": "say", "message": "…", "voice": "Polly.Joanna", '
        '"language": "en-US"}; actions: say, play, gather, dial, record, reject, hangup.',
    )
    fire_while_waiting = models.BooleanField(
        default=False,
        help_text="When an inbound message answers a run that waits for a reply, start this "
        "workflow too (off: the reply only resumes the waiting run).",
    )

    # Polling ("New and updated messages")
    poll_interval_minutes = models.PositiveIntegerField(default=5)
    poll_from = models.CharField(max_length=40, blank=True)
    poll_to = models.CharField(max_length=40, blank=True)
    poll_cursor = models.DateTimeField(null=True, blank=True)
    poll_schedule = models.ForeignKey(
        "django_q.Schedule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_poll_error = models.TextField(blank=True)

    class Meta:
        ordering = ["workspace__name", "name"]

    def __str__(self) -> str:
        return self.name

    def keyword_list(self) -> list[str]:
        return [k.strip().upper() for k in self.keywords.split(",") if k.strip()]

    def clean(self) -> None:
        from triggers.validation import trigger_problems

        problems = trigger_problems(self)
        if problems:
            raise ValidationError(problems)


class MatchStatus(models.TextChoices):
    MATCHED = "matched", "Started runs"
    RESUMED = "resumed", "Resumed a waiting run"
    NO_MATCH = "no_match", "No matching trigger"
    DISABLED = "disabled", "Only disabled triggers matched"
    TRACKED = "tracked", "Delivery status recorded"
    # Signed, but not something that can start a workflow (required parameters missing, no
    # kind recognises it, or its content could not be stored): kept, answered 2xx, inert.
    INVALID = "invalid", "Invalid request (kept, nothing started)"


class TriggerEvent(models.Model):
    """One accepted (signature-checked) request. Stored before we answer; never lost."""

    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.PROTECT, related_name="trigger_events"
    )
    trigger = models.ForeignKey(
        Trigger,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        help_text="For requests to one trigger's own URL (generic webhooks, polling).",
    )
    purpose = models.CharField(max_length=20)
    kind = models.CharField(max_length=40, db_index=True)
    dedupe_key = models.CharField(max_length=200)
    # sha256 of what X-Twilio-Signature covers (minus scheme/host/port): every request that
    # verifies under one signature, however re-encoded, is one event. "" for polled events.
    signed_hash = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # The request as received (a GET: its query string), so that nothing sanitised away from
    # params/payload is lost: UTF-8 text, or base64 when it was not storable as text.
    raw_body = models.TextField(blank=True, default="")
    raw_body_encoding = models.CharField(
        max_length=10, blank=True, default="", help_text='"" (text) or "base64".'
    )
    sid = models.CharField(max_length=34, blank=True, db_index=True)
    from_number = models.CharField(max_length=64, blank=True, db_index=True)
    to_number = models.CharField(max_length=64, blank=True, db_index=True)
    match_status = models.CharField(max_length=10, choices=MatchStatus.choices, db_index=True)
    runs_started = models.PositiveIntegerField(default=0)
    invalid_code = models.CharField(
        max_length=40,
        blank=True,
        default="",
        help_text="Why the event is invalid: MISSING_FIELDS, UNRECOGNISED or UNSTORABLE.",
    )
    invalid_reason = models.CharField(max_length=300, blank=True, default="")
    response_body = models.TextField(blank=True)
    response_content_type = models.CharField(max_length=60, blank=True)
    # The instant reply (a trigger's `reply_message`): "" none asked, "sent" in our answer,
    # "failed" (its template failed: the answer went out as an empty <Response/>).
    reply_status = models.CharField(max_length=10, blank=True, default="")
    reply_error_code = models.CharField(max_length=40, blank=True, default="")
    reply_error_message = models.CharField(max_length=500, blank=True, default="")
    # Why nothing started: per trigger of the connection, [{"trigger_id", "name", "reasons"}].
    match_reasons = models.JSONField(default=list, blank=True)
    duplicates = models.PositiveIntegerField(
        default=0, help_text="How often Twilio delivered this same event again."
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # Race-safe dedupe: ten identical deliveries at once give one row.
            models.UniqueConstraint(fields=["connection", "dedupe_key"], name="uniq_event_dedupe"),
            # Replays that only re-encode a signed request (see triggers.inbound).
            models.UniqueConstraint(
                fields=["connection", "signed_hash"],
                name="uniq_event_signed_hash",
                condition=~models.Q(signed_hash=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sid or self.pk}"


class PhoneNumber(models.Model):
    """A number of the account, as last synced from Twilio."""

    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="phone_numbers"
    )
    sid = models.CharField(max_length=34, unique=True)
    phone_number = models.CharField(max_length=40, db_index=True)
    friendly_name = models.CharField(max_length=120, blank=True)
    sms_url = models.CharField(max_length=500, blank=True)
    sms_method = models.CharField(max_length=6, blank=True)
    voice_url = models.CharField(max_length=500, blank=True)
    voice_method = models.CharField(max_length=6, blank=True)
    status_callback = models.CharField(max_length=500, blank=True)
    capabilities = models.JSONField(default=dict, blank=True)
    # The webhooks it had before "Route to TwilioFlow", so they can be put back.
    previous_webhooks = models.JSONField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["connection", "phone_number"]

    def __str__(self) -> str:
        return f"{self.friendly_name or self.phone_number} ({self.phone_number})"


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern) if pattern else None
    except re.error:
        return None
