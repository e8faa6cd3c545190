"""What the staff pages remember: who read which conversation, and hourly rollups that keep
the dashboard fast on a large audit log.

Neither is a source of truth. `ConversationRead` only drives unread counts; `StatHour` rows
are counts derived from runs, step runs, trigger events, consent events and the send ledger,
written once an hour has settled (`staff.selectors.dashboard`), so a dashboard reads a few
hundred rollup rows instead of scanning a million step runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspaces.models import Workspace


class ConversationRead(models.Model):
    """When a user last looked at the conversation between `contact` and our `number`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.CharField(max_length=64)
    number = models.CharField(max_length=64)
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace", "contact", "number"], name="uniq_conversation_read"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.contact} ↔ {self.number} at {self.read_at:%Y-%m-%d %H:%M}"


class StatHour(models.Model):
    """One dashboard figure for one UTC hour of one workspace: `metric` ("msg_in",
    "msg_out", "runs", "delivery", "error", "calls", "call_seconds", "opt_out", "spend")
    split by `key` (a channel, a status, an error code, a currency…)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    metric = models.CharField(max_length=20)
    key = models.CharField(max_length=40, blank=True)
    value = models.DecimalField(max_digits=18, decimal_places=5)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "hour", "metric", "key"], name="uniq_stat_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.hour:%Y-%m-%d %H}h {self.metric}/{self.key} = {self.value}"


class StatCoverage(models.Model):
    """The contiguous range of settled hours [`rolled_from`, `rolled_until`) whose
    `StatHour` rows are written for a workspace (an hour with no activity has no rows)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    rolled_from = models.DateTimeField()
    rolled_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.rolled_from:%Y-%m-%d %H} → {self.rolled_until:%Y-%m-%d %H}"


class SentMessage(models.Model):
    """Which contact and number a message-sending step run was for: the inbox's index of
    outbound messages (a step run keeps them only inside its JSON inputs, which no index
    reaches). Filled by `staff.selectors.inbox.sent_index_refresh` from step runs older than
    a few minutes, in key order; newer ones are read directly."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    step_run = models.OneToOneField("workflows.StepRun", on_delete=models.CASCADE, related_name="+")
    contact = models.CharField(max_length=64)
    number = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["workspace", "contact", "number"], name="sent_message_thread_idx")]

    def __str__(self) -> str:
        return f"{self.number} → {self.contact} (step run {self.step_run_id})"


class SentIndexState(models.Model):
    """Every step run with a key up to `through_pk` has been looked at for `SentMessage`."""

    through_pk = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"sent messages indexed through step run {self.through_pk}"
