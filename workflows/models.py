"""Workflows, their steps, and the runs that are the audit log.

Run and StepRun are append-only from the application's point of view: the engine writes
them, the admin shows them read-only, and only `prune_runs` deletes (retention).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from twilioflow.core import clock
from twilioflow.core.models import TimeStampedModel
from twilioflow.core.redaction import redact_data, redact_text
from twilioflow.core.rows import row_insert, row_update
from workspaces.models import Workspace

STEP_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
step_name_validator = RegexValidator(
    STEP_NAME_RE,
    "Lower-case letters, digits and underscores, starting with a letter "
    "(it is used in templates as steps.<name>).",
)


class Workflow(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="workflows")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    default_variables = models.JSONField(
        default=dict, blank=True, help_text="Available to every run as vars.<name>."
    )

    class Meta:
        ordering = ["workspace__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_workflow_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.default_variables, dict):
            raise ValidationError({"default_variables": "Expected a JSON object."})


class StepKind(models.TextChoices):
    ACTION = "action", "Twilio action"
    BRANCH = "branch", "Branch"
    SET_VARIABLES = "set_variables", "Set variables"
    DELAY = "delay", "Delay"
    END = "end", "End"
    RUN_WORKFLOW = "run_workflow", "Run sub-workflow"
    FOR_EACH = "for_each", "For each"
    WAIT_FOR_REPLY = "wait_for_reply", "Wait for reply"
    # Voice steps, for runs that drive a live call (their modules live in the voice app).
    SAY = "say", "Say (live call)"
    PLAY = "play", "Play (live call)"
    GATHER = "gather", "Gather (live call)"
    PAUSE = "pause", "Pause (live call)"
    HANGUP = "hangup", "Hang up (live call)"
    DIAL = "dial", "Dial (live call)"
    RECORD = "record", "Record (live call)"
    VOICE_AGENT = "voice_agent", "Voice agent (live call)"


class OnError(models.TextChoices):
    FAIL = "fail", "Fail the run"
    CONTINUE = "continue", "Continue with the next step"
    RETRY = "retry", "Retry, then fail"


class Step(TimeStampedModel):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=63, validators=[step_name_validator])
    kind = models.CharField(max_length=20, choices=StepKind.choices, default=StepKind.ACTION)
    action = models.CharField(max_length=80, blank=True, help_text="The Twilio action (for action steps).")
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="steps",
    )
    inputs = models.JSONField(
        default=dict, blank=True, help_text="Field values; strings may use {{ templates }}."
    )
    on_error = models.CharField(max_length=10, choices=OnError.choices, default=OnError.FAIL)
    max_retries = models.PositiveSmallIntegerField(
        default=3,
        help_text="How often a transient failure (rate limit, Twilio outage, network) is retried.",
    )
    # Who last changed the step (set by the admin). Requests that read or change credentials
    # run only while this user is still an owner/admin of the workspace (or a superuser).
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["workflow", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="uniq_step_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.action or self.kind})"

    def clean(self) -> None:
        from workflows.step_validation import step_problems

        problems = step_problems(self)
        if problems:
            raise ValidationError(problems)


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
LIVE_RUN_STATUSES = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING})


class WaitingFor(models.TextChoices):
    NOTHING = "", "—"
    DELAY = "delay", "Delay"
    RETRY = "retry", "Retry backoff"
    CHILDREN = "children", "Child runs"
    REPLY = "reply", "Reply"
    CALL = "call", "Caller on a live call"


class Run(models.Model):
    # None for an ad-hoc run (`run_action`): its steps are the snapshot in `adhoc_steps`.
    workflow = models.ForeignKey(
        Workflow, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True
    )
    source = models.CharField(
        max_length=20, default="manual", help_text="manual, api, command, trigger, replay, for_each…"
    )
    trigger_payload = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # The parent's step (its sequence number) that started this child, and the child's
    # throttling: at most `group_concurrency` siblings in flight.
    parent_sequence = models.PositiveIntegerField(null=True, blank=True)
    group_concurrency = models.PositiveIntegerField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    trigger = models.ForeignKey(
        "triggers.Trigger", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    trigger_event = models.ForeignKey(
        "triggers.TriggerEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
    )
    # The steps of an ad-hoc run, as {name, kind, action, connection_id, inputs, literal,
    # withheld}: `literal` inputs are not templates; `withheld` names secret inputs that were
    # not stored (they exist only in the process that created the run).
    adhoc_steps = models.JSONField(default=list, blank=True)
    # Cursor: the step about to run (its name) and how many steps have run.
    current_step = models.CharField(max_length=63, blank=True)
    sequence = models.PositiveIntegerField(default=0)
    waiting_for = models.CharField(
        max_length=10, choices=WaitingFor.choices, default=WaitingFor.NOTHING, blank=True
    )
    wake_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A worker holds a run while its lease lasts; a lapsed lease means the worker died.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=40, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    # Phone numbers and Twilio SIDs of the run, for the admin's search box.
    search_text = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["status", "wake_at"],
                name="run_due_idx",
                condition=Q(status__in=["pending", "running", "waiting"]),
            ),
            models.Index(fields=["parent", "parent_sequence", "status"], name="run_children_idx"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.label} ({self.status})"

    @property
    def label(self) -> str:
        """The workflow's name, or what an ad-hoc run did: "ad-hoc: twilio/send-sms (command)"."""
        if self.workflow_id is not None:
            return str(self.workflow)
        actions = ", ".join(s.get("action") or s.get("kind", "?") for s in self.adhoc_steps or [])
        return f"ad-hoc: {actions or '—'} ({self.source})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_RUN_STATUSES


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DISPATCHING = "dispatching", "Dispatching"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    UNKNOWN = "unknown", "Outcome unknown"
    # Sent, and waiting for what it started to end (a call made with wait_until_ended).
    WAITING = "waiting", "Waiting"


class StepRun(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_runs")
    sequence = models.PositiveIntegerField(help_text="Which executed step of the run (1, 2, …).")
    attempt = models.PositiveSmallIntegerField(default=1)
    step_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    action = models.CharField(max_length=80, blank=True)
    status = models.CharField(
        max_length=12, choices=StepStatus.choices, default=StepStatus.PENDING, db_index=True
    )
    inputs = models.JSONField(default=dict, blank=True, help_text="Rendered, secrets redacted.")
    output = models.JSONField(null=True, blank=True)
    twilio_sid = models.CharField(max_length=34, blank=True, db_index=True)
    # The connection that sent the request: a status callback for `twilio_sid` is only
    # believed when it arrives (signed) on this connection's URL, so a SID known to another
    # workspace or account cannot be used to rewrite this step's delivery tracking.
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    exchanges = models.JSONField(default=list, blank=True)
    reconciled = models.BooleanField(
        default=False, help_text="The outcome was found by reconciling after a crash or error."
    )
    error_code = models.CharField(max_length=40, blank=True)
    twilio_error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    # Delivery tracking from status callbacks (queued → sent → delivered / undelivered /
    # failed / read), for the message or call this step created.
    delivery_status = models.CharField(max_length=20, blank=True, db_index=True)
    delivery_error_code = models.IntegerField(null=True, blank=True)
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    delivery_history = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=clock.default_now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "sequence", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence", "attempt"], name="uniq_steprun_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.step_name} #{self.sequence}.{self.attempt} ({self.status})"

    REDACTED_FIELDS = ("inputs", "output", "exchanges", "error_message")

    def save(self, *args, **kwargs):
        # A safety net under the engine's own redaction: viewers read these records, so
        # whichever code path writes one, no secret is stored in it.
        self._redact(kwargs.get("update_fields"), already=())
        super().save(*args, **kwargs)

    def _redact(self, fields, *, already) -> None:
        for name in self.REDACTED_FIELDS:
            if (fields is None or name in fields) and name not in already:
                value = getattr(self, name)
                setattr(self, name, redact_text(value) if isinstance(value, str) else redact_data(value))

    # The engine's writes (issue 10: one INSERT, then one UPDATE of only what changed, both
    # without the ORM's query building). The same safety net applies, except to the fields
    # the caller names in `redacted`: values it built with `redact_data`/`redact_text`
    # itself (redacting twice was ~11% of an engine pass).
    def insert(self, *, redacted: Collection[str] = ()) -> None:
        self._redact(None, already=redacted)
        row_insert(self)

    def write(self, fields: Collection[str], *, redacted: Collection[str] = ()) -> None:
        self._redact(fields, already=redacted)
        row_update(StepRun, {"pk": self.pk}, {name: getattr(self, name) for name in fields})


class ReplyWaitStatus(models.TextChoices):
    OPEN = "open", "Waiting"
    REPLIED = "replied", "Replied"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELED = "canceled", "Canceled"


class ReplyWait(models.Model):
    """A run waiting for the next inbound message from `contact` to `number`."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="reply_waits")
    sequence = models.PositiveIntegerField()
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    # The connection whose inbound messages may answer: a reply is only accepted when it
    # arrives (signed) on this connection's URL. Null matches nothing.
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    channel = models.CharField(max_length=10, default="sms")
    contact = models.CharField(max_length=64, help_text="The sender we wait for (E.164).")
    number = models.CharField(max_length=64, help_text="Our number they write to (E.164).")
    status = models.CharField(max_length=10, choices=ReplyWaitStatus.choices, default=ReplyWaitStatus.OPEN)
    expires_at = models.DateTimeField()
    reply = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.default_now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["contact", "number", "status"], name="replywait_lookup_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="uniq_replywait_step"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} waits for {self.contact} → {self.number} ({self.status})"
