"""Consent, send policy, prices, and what the send gate remembers.

`ConsentEvent` is append-only: an opt-out or opt-in is a new row, never an edit; the current
state of a (contact, channel, sender) is the latest event of every scope that covers it
(`compliance.selectors.consent_state`). The other tables are settings (`SendPolicy`,
`PriceEntry`) or bookkeeping the gate writes (`ContactActivity`, `SendLedger`,
`SandboxMessage`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from twilioflow.core import clock
from workspaces.models import Workspace


class Channel(models.TextChoices):
    SMS = "sms", "SMS/MMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    VOICE = "voice", "Voice calls"
    ALL = "all", "All channels"


class ConsentKind(models.TextChoices):
    OPT_OUT = "opt_out", "Opted out"
    OPT_IN = "opt_in", "Opted in"


class ConsentSource(models.TextChoices):
    KEYWORD = "keyword", "Inbound keyword"
    ADVANCED_OPT_OUT = "advanced_opt_out", "Twilio Advanced Opt-Out"
    TWILIO_ERROR = "twilio_error", "Twilio error 21610 on a send"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    CSV = "csv", "CSV import"


class ConsentEvent(models.Model):
    """One change of consent, kept for audit. `sender` blank = the whole workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.CharField(max_length=32, help_text="The person, E.164.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    sender = models.CharField(
        max_length=64,
        blank=True,
        help_text="Our number (E.164), sender ID or Messaging Service SID; blank = every "
        "sender of the workspace.",
    )
    kind = models.CharField(max_length=8, choices=ConsentKind.choices)
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    keyword = models.CharField(max_length=40, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=clock.default_now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["workspace", "contact", "at"], name="consent_lookup_idx")]

    def __str__(self) -> str:
        scope = self.sender or "all senders"
        return f"{self.contact} {self.get_kind_display().lower()} ({self.channel}, {scope})"


class SendPolicy(models.Model):
    """A workspace's rules for sending (created with these defaults on first use).

    `workflow_overrides` holds per-workflow quiet hours, keyed by the workflow's id:
    {"12": {"quiet_hours_enabled": false}} or {"12": {"quiet_start": "20:00",
    "quiet_end": "09:00"}}; keys not given fall back to the workspace's values."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="send_policy")
    quiet_hours_enabled = models.BooleanField(
        default=False,
        help_text="Hold non-transactional sends inside the quiet window, in the "
        "recipient's time zone (the workspace's when the number does not tell).",
    )
    quiet_start = models.TimeField(default=dt.time(21, 0))
    quiet_end = models.TimeField(default=dt.time(8, 0))
    workflow_overrides = models.JSONField(default=dict, blank=True)
    opt_out_keywords = models.CharField(
        max_length=200, blank=True, help_text="Extra opt-out keywords, comma separated (ARRET, BAJA)."
    )
    opt_in_keywords = models.CharField(max_length=200, blank=True, help_text="Extra opt-in keywords.")
    help_keywords = models.CharField(max_length=200, blank=True, help_text="Extra help keywords.")
    help_text = models.CharField(
        max_length=320,
        blank=True,
        help_text="Answered to HELP/INFO. Blank: no answer from us (Twilio's default applies).",
    )
    max_segments = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Refuse an SMS longer than this many segments."
    )
    daily_spend_cap = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Refuse sends once today's estimated spend (workspace's time zone) would exceed it.",
    )
    currency = models.CharField(max_length=3, default="USD")
    sandbox = models.BooleanField(
        default=False, help_text="Sandbox: every check runs, nothing is sent, results are simulated."
    )
    shorten_urls = models.BooleanField(
        default=False, help_text="Ask Twilio to shorten links (sends through a Messaging Service only)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "send policies"

    def __str__(self) -> str:
        return f"Send policy of {self.workspace}"

    def clean(self) -> None:
        overrides = self.workflow_overrides
        if not isinstance(overrides, dict):
            raise ValidationError({"workflow_overrides": "Expected a JSON object keyed by workflow id."})
        for key, value in overrides.items():
            if not str(key).isdigit() or not isinstance(value, dict):
                raise ValidationError(
                    {"workflow_overrides": f"{key!r}: expected a workflow id and an object."}
                )
            for name in ("quiet_start", "quiet_end"):
                if name in value:
                    try:
                        dt.time.fromisoformat(str(value[name]))
                    except ValueError:
                        raise ValidationError({"workflow_overrides": f"{key}.{name}: HH:MM"}) from None


class PriceEntry(models.Model):
    """What one segment (SMS), message (MMS/WhatsApp) or minute (voice) costs to a country."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    country = models.CharField(max_length=2, help_text="ISO 3166 alpha-2, e.g. US, FR.")
    channel = models.CharField(
        max_length=10,
        choices=[("sms", "SMS segment"), ("mms", "MMS"), ("whatsapp", "WhatsApp"), ("call", "Voice minute")],
    )
    price = models.DecimalField(max_digits=10, decimal_places=5)
    currency = models.CharField(max_length=3, default="USD")
    source = models.CharField(max_length=10, default="manual", help_text="manual or twilio")
    updated_at = models.DateTimeField(default=clock.default_now)

    class Meta:
        verbose_name_plural = "price entries"
        ordering = ["country", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "country", "channel"], name="uniq_price_entry"),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.channel}: {self.price} {self.currency}"


class ContactActivity(models.Model):
    """When a contact last wrote to one of our senders (the WhatsApp 24-hour session)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    contact = models.CharField(max_length=32)
    sender = models.CharField(max_length=64, help_text="Our number they wrote to (E.164).")
    last_inbound_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "contact activity"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "contact", "sender"], name="uniq_contact_activity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} → {self.sender} ({self.channel}) at {self.last_inbound_at:%Y-%m-%d %H:%M}"


class SendLedger(models.Model):
    """Every send the gate let through, with its estimated cost (the daily spend cap sums
    these). `key` makes repeated passes of one step count once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=80, blank=True)
    channel = models.CharField(max_length=10)
    contact = models.CharField(max_length=32)
    sender = models.CharField(max_length=64, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=5, default=Decimal(0))
    currency = models.CharField(max_length=3, default="USD")
    price_known = models.BooleanField(default=True)
    sandbox = models.BooleanField(default=False)
    at = models.DateTimeField(default=clock.default_now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "at"], name="ledger_day_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "key"], condition=~models.Q(key=""), name="uniq_ledger_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.contact}: ~{self.estimated_cost} {self.currency}"


class SandboxMessage(models.Model):
    """The exact request a sandboxed send would have made (secrets masked), and its fake SID."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    sid = models.CharField(max_length=34, unique=True)
    method = models.CharField(max_length=8)
    url = models.CharField(max_length=500)
    form = models.JSONField(default=list)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=clock.default_now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sid} (sandbox)"
