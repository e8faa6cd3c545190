"""Live calls and voice agents, in the database: a `CallSession` per call a run drives, one
`CallTurn` per request Twilio made on it, and the workspace's `VoiceAgent`s.

Nothing about a call lives in a process: any web worker (or a restarted server) builds the
next answer from these rows alone."""

from __future__ import annotations

import uuid

from django.db import models

from twilioflow.core.models import TimeStampedModel


class SessionState(models.TextChoices):
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"


class CallSession(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="call_sessions"
    )
    connection = models.ForeignKey("connections.Connection", on_delete=models.CASCADE, related_name="+")
    run = models.OneToOneField("workflows.Run", on_delete=models.CASCADE, related_name="call_session")
    call_sid = models.CharField(max_length=34, db_index=True)
    direction = models.CharField(max_length=20, default="inbound")
    caller = models.CharField(max_length=64, blank=True)
    called = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=SessionState.choices, default=SessionState.LIVE)
    # The public base URL Twilio reached us at: the callbacks of every answer point there.
    base_url = models.CharField(max_length=300, blank=True)
    turns = models.PositiveIntegerField(default=0, help_text="Answers built so far.")
    # Verbs the run's voice steps produced since the last answer (voice.twiml).
    pending = models.JSONField(default=list, blank=True)
    # What the run waits for from the caller: {"turn", "step", "sequence", "verb"} or {}.
    awaiting = models.JSONField(default=dict, blank=True)
    # The caller's input for the awaited turn, until the waiting step takes it.
    caller_input = models.JSONField(default=dict, blank=True)
    # A voice agent's progress (question, retries, answers), owned by the voice_agent step.
    agent_state = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_turn_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        indexes = [models.Index(fields=["connection", "call_sid"])]

    def __str__(self) -> str:
        return f"Call {self.call_sid} ({self.state})"


class CallTurn(models.Model):
    """One request Twilio made on a live call and what we answered: turn 0 is the call's
    first answer; later turns carry the caller's input. Unique per (session, index), so a
    redelivered callback gets the stored answer and advances nothing."""

    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="call_turns")
    index = models.PositiveIntegerField()
    params = models.JSONField(default=dict, blank=True, help_text="What Twilio posted (sanitised).")
    heard = models.TextField(blank=True, help_text="What the caller said (SpeechResult).")
    digits = models.CharField(max_length=64, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    said = models.TextField(blank=True, help_text="What we said in this answer.")
    twiml = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "index"]
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="voice_turn_once")]

    def __str__(self) -> str:
        return f"Turn {self.index} of {self.session_id}"


class AgentType(models.TextChoices):
    QUESTIONS = "json_questions", "JSON questions"


class VoiceAgent(TimeStampedModel):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="voice_agents"
    )
    name = models.SlugField(max_length=63, help_text="Steps name the agent by this.")
    agent_type = models.CharField(max_length=20, choices=AgentType.choices, default=AgentType.QUESTIONS)
    questions = models.JSONField(
        default=list,
        blank=True,
        help_text="Indite's format: a list of {id, question, expectedAnswerType (text, number, "
        "yes_no, multiple_choice + options), maxRetries, timeout, optional, conditionalActions}.",
    )
    greeting = models.TextField(blank=True, help_text="Said once before the first question.")
    goodbye = models.TextField(blank=True, default="Thank you. Goodbye.")
    voice = models.CharField(
        max_length=40, blank=True, help_text="e.g. Polly.Joanna (empty: Twilio's default)."
    )
    language = models.CharField(max_length=12, default="en-US")
    min_confidence = models.FloatField(
        default=0.4, help_text="A speech result below this confidence is asked again (0 to 1)."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="voice_agent_name_once")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from voice.agents.questions import questions_problems

        problems = questions_problems(self.questions)
        if problems:
            raise ValidationError({"questions": [f"{path}: {message}" for path, message in problems]})
