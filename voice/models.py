"""Live calls and voice agents, in the database: a `CallSession` per call a run drives, one
`CallTurn` per request Twilio made on it, and the workspace's `VoiceAgent`s.

Nothing about a call lives in a process: any web worker (or a restarted server) builds the
next answer from these rows alone."""

from __future__ import annotations

import uuid

from django.db import models
from fernet_fields import EncryptedTextField

from twilioflow.core.models import TimeStampedModel
from twilioflow.core.redaction import remember_secret


class SessionState(models.TextChoices):
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"


class CallSession(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="call_sessions"
    )
    # None for a simulated call (the admin simulator, `simulate_agent`): no Twilio at all.
    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
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
    # An LLM reply that came after the filler was said, until the next turn says it.
    late_reply = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_turn_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-started_at"]
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
    model_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="The model's latency (LLM agents)."
    )
    tokens = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "index"]
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="voice_turn_once")]

    def __str__(self) -> str:
        return f"Turn {self.index} of {self.session_id}"


class AgentType(models.TextChoices):
    QUESTIONS = "json_questions", "JSON questions"
    LLM = "llm", "LLM conversation"


class LlmConnection(TimeStampedModel):
    """An OpenAI-compatible chat-completions endpoint (OpenAI, Azure, vLLM, Ollama, LiteLLM).
    The API key is encrypted like Twilio secrets, remembered for redaction when loaded, and
    never shown (the admin masks it)."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="llm_connections"
    )
    name = models.SlugField(max_length=63)
    base_url = models.URLField(help_text="e.g. https://api.openai.com/v1 (…/chat/completions is added).")
    model = models.CharField(max_length=100, help_text="e.g. gpt-4o-mini")
    api_key = EncryptedTextField(blank=True, default="")
    request_timeout = models.FloatField(default=20.0, help_text="Seconds before a request is given up.")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="llm_connection_name_once")]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        remember_secret(instance.__dict__.get("api_key"))
        return instance


# A voice agent's settings by group, in the order the admin and workflow JSON show them.
AGENT_VOICE_FIELDS = ("agent_type", "greeting", "goodbye", "voice", "language")
AGENT_QUESTIONS_FIELDS = ("questions", "min_confidence")
AGENT_LLM_FIELDS = (
    "system_prompt",
    "temperature",
    "max_tokens",
    "max_turns",
    "conversation_timeout",
    "extract_fields",
    "answer_wait",
    "filler",
    "fallback_message",
)


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
    # --- LLM agents ---
    llm = models.ForeignKey(
        LlmConnection, on_delete=models.PROTECT, null=True, blank=True, related_name="agents"
    )
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(default=0.7)
    max_tokens = models.PositiveIntegerField(default=150)
    max_turns = models.PositiveIntegerField(default=20)
    conversation_timeout = models.PositiveIntegerField(
        default=600, help_text="Seconds before the agent ends."
    )
    extract_fields = models.JSONField(
        default=list, blank=True, help_text='Fields to extract at the end, e.g. ["order_number", "issue"].'
    )
    answer_wait = models.FloatField(
        default=4.0,
        help_text="Seconds the call waits for the model before a short filler (Twilio gives up after 15).",
    )
    filler = models.CharField(max_length=200, default="One moment please.")
    fallback_message = models.CharField(
        max_length=300, default="Sorry, I'm having trouble right now. Please call again later. Goodbye."
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="voice_agent_name_once")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from voice.agents.questions import questions_problems

        if self.agent_type == AgentType.LLM:
            errors: dict[str, str] = {}
            if self.llm_id is None:
                errors["llm"] = "An LLM agent needs an LLM connection."
            elif self.workspace_id and self.llm is not None and self.llm.workspace_id != self.workspace_id:
                errors["llm"] = "The LLM connection belongs to another workspace."
            if not self.system_prompt.strip():
                errors["system_prompt"] = "An LLM agent needs a system prompt."
            if not 0 <= self.temperature <= 2:
                errors["temperature"] = "From 0 to 2."
            if not 0.5 <= self.answer_wait <= 10:
                errors["answer_wait"] = "From 0.5 to 10 seconds (Twilio gives up after 15)."
            fields = self.extract_fields
            if not isinstance(fields, list) or not all(
                isinstance(f, str) and f.isidentifier() for f in fields
            ):
                errors["extract_fields"] = "A list of field names (letters, digits, _)."
            if errors:
                raise ValidationError(errors)
            return
        problems = questions_problems(self.questions)
        if problems:
            raise ValidationError({"questions": [f"{path}: {message}" for path, message in problems]})
