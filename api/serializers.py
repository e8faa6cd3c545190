"""What the API reads and writes. Secrets are write-only (masked on read); every record
that can hold one (run context, step inputs and outputs, event payloads) is redacted again
on the way out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from api.auth import EDIT, MANAGE, RUN, caller_of
from api.fields import BoundedIntegerField, JSONObjectField, ScopedIdField
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from campaigns.models import Channel as CampaignChannel
from campaigns.services import EDITABLE_FIELDS
from compliance.models import Channel, ConsentEvent, ConsentKind
from connections.models import Connection, ConnectionKind
from triggers.models import MatchStatus, PhoneNumber, Trigger, TriggerEvent
from twilioflow.core.redaction import mask_secret, redact_data, redact_text
from voice.models import AgentType, CallSession, CallTurn, LlmConnection, SessionState, VoiceAgent
from workflows.models import OnError, Run, RunStatus, StepKind, Workflow
from workflows.transfer import FORMAT
from workspaces.models import Workspace


# --- workspaces -------------------------------------------------------------------------------
class WorkspaceSerializer(serializers.ModelSerializer):
    permissions = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "time_zone", "default_country", "permissions", "created_at"]

    def get_permissions(self, obj: Workspace) -> list[str]:
        perms = caller_of(self.context["request"]).grants.get(obj.pk, frozenset())
        return sorted(perms)


class WorkspaceRefMixin(serializers.Serializer):
    """`workspace` (id) on create: optional for an API key (its own) or a staff user of one
    workspace."""

    workspace = BoundedIntegerField(required=False, help_text="Only for staff users of several workspaces.")


# --- connections ------------------------------------------------------------------------------
class ConnectionSerializer(serializers.ModelSerializer):
    workspace = BoundedIntegerField(
        source="workspace_id", required=False, help_text="Defaults to the key's workspace."
    )
    auth_token = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200, trim_whitespace=True
    )
    api_key_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200, trim_whitespace=True
    )
    auth_token_masked = serializers.CharField(read_only=True)
    api_key_secret_masked = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=ConnectionKind.choices, default=ConnectionKind.AUTH_TOKEN)

    class Meta:
        model = Connection
        fields = [
            "id",
            "workspace",
            "name",
            "kind",
            "account_sid",
            "auth_token",
            "auth_token_masked",
            "api_key_sid",
            "api_key_secret",
            "api_key_secret_masked",
            "status",
            "last_verified_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "last_verified_at", "last_error", "created_at", "updated_at"]
        extra_kwargs = {"api_key_sid": {"required": False}}


class PickerOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label


class VerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    status = serializers.CharField()


# --- workflows (the twilioflow/workflow@1 document) ------------------------------------------
class StepDocumentSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    kind = serializers.ChoiceField(choices=StepKind.choices, default=StepKind.ACTION)
    action = serializers.CharField(max_length=80, allow_blank=True, required=False, default="")
    connection = serializers.CharField(
        max_length=120, allow_null=True, required=False, default=None, help_text="A connection's name."
    )
    inputs = JSONObjectField(required=False, default=dict)
    on_error = serializers.ChoiceField(choices=OnError.choices, default=OnError.FAIL)
    max_retries = serializers.IntegerField(min_value=0, max_value=100, default=3)


class WorkflowDocumentSerializer(serializers.Serializer):
    """Exactly the export/import format (`format: twilioflow/workflow@1`); connections and
    sub-workflows are named, so a document moves between workspaces."""

    format = serializers.ChoiceField(choices=[FORMAT])
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    enabled = serializers.BooleanField(required=False, default=True)
    default_variables = JSONObjectField(required=False, default=dict)
    steps = StepDocumentSerializer(many=True)
    voice_agents = serializers.ListField(
        child=JSONObjectField(),
        required=False,
        help_text="The voice agents the steps name (exported with the workflow; an LLM agent names "
        "its LLM connection, never its key). On import: kept when equal, created when missing.",
    )


class WorkflowWriteSerializer(WorkflowDocumentSerializer):
    workspace = BoundedIntegerField(required=False, help_text="Only for staff users of several workspaces.")
    overwrite_shared = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="Replace a different voice agent of the same name instead of refusing the import.",
    )


class WorkflowSerializer(WorkflowDocumentSerializer):
    id = serializers.IntegerField(read_only=True)
    workspace = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class RunWebhookSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="Where each ended run's summary is POSTed.")
    enabled = serializers.BooleanField(default=True)
    rotate_secret = serializers.BooleanField(default=False, write_only=True)
    secret = serializers.CharField(
        read_only=True,
        help_text="The Standard Webhooks signing secret (whsec_…): in full only when created or "
        "rotated, masked afterwards.",
    )
    deliveries = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_deliveries(self, obj: Any) -> dict[str, int]:
        from django.db.models import Count

        rows = obj.deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        return dict(rows)


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not Serializer.errors
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Every problem, by path (steps.2.inputs.To).",
    )


class EnabledSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    enabled = serializers.BooleanField()


# --- runs -------------------------------------------------------------------------------------
class RunStartSerializer(serializers.Serializer):
    payload = JSONObjectField(
        required=False, default=dict, help_text="The trigger payload: {{ trigger.<name> }} in templates."
    )
    variables = JSONObjectField(required=False, default=dict, help_text="Run variables: {{ vars.<name> }}.")


class StepRunSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    attempt = serializers.IntegerField()
    step_name = serializers.CharField()
    kind = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    inputs = serializers.JSONField(help_text="Rendered inputs, secrets redacted.")
    output = serializers.JSONField(allow_null=True)
    twilio_sid = serializers.CharField()
    delivery_status = serializers.CharField()
    delivery_error_code = serializers.IntegerField(allow_null=True)
    error_code = serializers.CharField()
    twilio_error_code = serializers.IntegerField(allow_null=True)
    error_message = serializers.CharField()
    reconciled = serializers.BooleanField()
    exchanges = serializers.ListField(child=serializers.DictField(), help_text="Twilio requests, redacted.")
    children = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)


def step_run_data(entry: dict[str, Any]) -> dict[str, Any]:
    row = entry["step_run"]
    return {
        "sequence": row.sequence,
        "attempt": row.attempt,
        "step_name": row.step_name,
        "kind": row.kind,
        "action": row.action,
        "status": row.status,
        "inputs": entry["inputs"],
        "output": entry["output"],
        "twilio_sid": row.twilio_sid,
        "delivery_status": row.delivery_status,
        "delivery_error_code": row.delivery_error_code,
        "error_code": row.error_code,
        "twilio_error_code": row.twilio_error_code,
        "error_message": entry["error_message"],
        "reconciled": row.reconciled,
        "exchanges": entry["exchanges"],
        "children": entry["children"],
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration_ms": row.duration_ms,
    }


class RunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    workflow_name = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField()
    variables = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "url",
            "workspace",
            "workflow",
            "workflow_name",
            "status",
            "source",
            "payload",
            "variables",
            "result",
            "error_code",
            "error_message",
            "current_step",
            "waiting_for",
            "parent",
            "replay_of",
            "trigger",
            "trigger_event",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, obj: Run) -> str:
        return reverse("api:run-detail", kwargs={"pk": obj.pk}, request=self.context.get("request"))

    def get_workflow_name(self, obj: Run) -> str:
        return obj.label

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, obj: Run) -> Any:
        return redact_data(obj.trigger_payload)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_variables(self, obj: Run) -> Any:
        return redact_data((obj.context or {}).get("vars") or {})

    @extend_schema_field(OpenApiTypes.ANY)
    def get_result(self, obj: Run) -> Any:
        return redact_data(obj.result)

    def to_representation(self, instance: Run) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["error_message"] = redact_text(data["error_message"])
        return data


class RunDetailSerializer(RunSerializer):
    steps = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "steps"]
        read_only_fields = fields

    @extend_schema_field(StepRunSerializer(many=True))
    def get_steps(self, obj: Run) -> list[dict[str, Any]]:
        from workflows.selectors import run_timeline

        return [step_run_data(entry) for entry in run_timeline(obj)]


class RunFilterSerializer(serializers.Serializer):
    workflow = BoundedIntegerField(required=False, help_text="Runs of this workflow.")
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    source = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.source
        required=False, max_length=20, help_text="api, trigger, manual, replay…"
    )
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    phone_number = serializers.CharField(required=False, max_length=64, help_text="A From/To of the run.")
    twilio_sid = serializers.CharField(required=False, max_length=34, help_text="A message or call SID.")
    top_level = serializers.BooleanField(required=False, help_text="Only runs without a parent.")


# --- triggers, events, numbers --------------------------------------------------------------
class TriggerSerializer(serializers.ModelSerializer):
    workflow = ScopedIdField(perm=EDIT, queryset=Workflow.objects.all())
    connection = ScopedIdField(perm=EDIT, queryset=Connection.objects.all())
    webhook_url = serializers.SerializerMethodField()
    numbers = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=100
    )
    voice_answer = JSONObjectField(required=False)

    class Meta:
        model = Trigger
        fields = [
            "id",
            "workspace",
            "workflow",
            "connection",
            "name",
            "kind",
            "enabled",
            "webhook_url",
            "numbers",
            "from_pattern",
            "keywords",
            "reply_message",
            "voice_answer",
            "fire_while_waiting",
            "poll_interval_minutes",
            "poll_from",
            "poll_to",
            "last_polled_at",
            "last_poll_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["workspace", "last_polled_at", "last_poll_error", "created_at", "updated_at"]
        extra_kwargs = {"poll_interval_minutes": {"min_value": 1, "max_value": 1440}}

    def get_webhook_url(self, obj: Trigger) -> str | None:
        from api.selectors import trigger_url

        return trigger_url(obj, self.context.get("request"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        workflow = attrs.get("workflow") or getattr(self.instance, "workflow", None)
        connection = attrs.get("connection") or getattr(self.instance, "connection", None)
        if (
            workflow is not None
            and connection is not None
            and workflow.workspace_id != connection.workspace_id
        ):
            raise serializers.ValidationError({"connection": ["Not in the workflow's workspace."]})
        return attrs


class TriggerEventSerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField()
    runs = serializers.SerializerMethodField()
    match_status = serializers.ChoiceField(choices=MatchStatus.choices, read_only=True)

    class Meta:
        model = TriggerEvent
        fields = [
            "id",
            "connection",
            "trigger",
            "purpose",
            "kind",
            "sid",
            "from_number",
            "to_number",
            "received_at",
            "match_status",
            "runs_started",
            "runs",
            "invalid_code",
            "invalid_reason",
            "reply_status",
            "match_reasons",
            "duplicates",
            "payload",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, obj: TriggerEvent) -> Any:
        return redact_data(obj.payload)

    def get_runs(self, obj: TriggerEvent) -> list[int]:
        return sorted(run.pk for run in obj.runs.all())  # prefetched by the view


class PhoneNumberSerializer(serializers.ModelSerializer):
    routed = serializers.SerializerMethodField()

    class Meta:
        model = PhoneNumber
        fields = [
            "id",
            "connection",
            "sid",
            "phone_number",
            "friendly_name",
            "sms_url",
            "voice_url",
            "status_callback",
            "capabilities",
            "routed",
            "routed_at",
            "synced_at",
        ]
        read_only_fields = fields

    def get_routed(self, obj: PhoneNumber) -> bool:
        return obj.routed_at is not None and obj.previous_webhooks is not None


class SyncRequestSerializer(serializers.Serializer):
    connection = ScopedIdField(perm=MANAGE, queryset=Connection.objects.all())


class SyncResultSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()
    conflicts = serializers.IntegerField()


# --- actions ----------------------------------------------------------------------------------
class ActionSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    group = serializers.CharField()
    idempotent = serializers.BooleanField()
    sends = serializers.CharField(required=False)
    aliases = serializers.DictField(child=serializers.CharField(), required=False)
    output = serializers.ListField(child=serializers.CharField())
    input_schema = serializers.DictField(help_text="JSON Schema of the inputs, from the field declarations.")


class ActionRunSerializer(serializers.Serializer):
    connection = ScopedIdField(perm=RUN, queryset=Connection.objects.all())
    inputs = JSONObjectField(help_text="Field values, as in the action's input_schema.")


# --- consent ----------------------------------------------------------------------------------
class ConsentEventSerializer(serializers.ModelSerializer):
    workspace = BoundedIntegerField(source="workspace_id", required=False)
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.SMS)

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "workspace",
            "contact",
            "channel",
            "sender",
            "kind",
            "source",
            "keyword",
            "note",
            "at",
        ]
        read_only_fields = ["source", "keyword", "at"]


# --- campaigns --------------------------------------------------------------------------------
class CampaignSerializer(serializers.ModelSerializer):
    """A campaign: a message (or a workflow) for each recipient, paced at the sender's speed.
    Only a draft can be changed or deleted."""

    workspace = BoundedIntegerField(
        source="workspace_id", required=False, help_text="Defaults to the key's workspace."
    )
    connection = ScopedIdField(perm=EDIT, queryset=Connection.objects.all())
    workflow = ScopedIdField(perm=EDIT, queryset=Workflow.objects.all(), required=False, allow_null=True)
    channel = serializers.ChoiceField(choices=CampaignChannel.choices, default=CampaignChannel.SMS)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    content_variables = JSONObjectField(required=False, default=dict)
    mps = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal(1000),
        required=False, allow_null=True, help_text="Messages per second (overrides the sender's).",
    )  # fmt: skip
    workers = serializers.IntegerField(min_value=1, max_value=8, default=1)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "url",
            "workspace",
            *EDITABLE_FIELDS,
            "status",
            "rate",
            "rate_source",
            "started_at",
            "finished_at",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "rate",
            "rate_source",
            "started_at",
            "finished_at",
            "note",
            "created_at",
            "updated_at",
        ]

    def get_url(self, obj: Campaign) -> str:
        return reverse("api:campaign-detail", kwargs={"pk": obj.pk}, request=self.context.get("request"))


class RecipientsAddSerializer(serializers.Serializer):
    recipients = serializers.ListField(
        child=serializers.JSONField(),
        max_length=100_000,
        help_text='Numbers, or {"phone": …, "variables": {…}} objects (or other keys as variables).',
    )


class RowProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Index in the list, from 1.")
    phone = serializers.CharField()
    code = serializers.CharField(help_text="INVALID_NUMBER, DUPLICATE, INVALID_ROW.")
    message = serializers.CharField()


class RecipientsAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    opted_out = serializers.IntegerField(help_text="Added, but opted out: they will be skipped.")
    already = serializers.IntegerField(help_text="Already on the campaign.")
    rejected = serializers.IntegerField()
    summary = serializers.CharField()
    problems = RowProblemSerializer(many=True, help_text="One line per item not taken, and why.")


class CampaignRecipientSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=RecipientState.choices, read_only=True)

    class Meta:
        model = CampaignRecipient
        fields = [
            "id",
            "phone",
            "variables",
            "source_row",
            "state",
            "reason_code",
            "reason",
            "not_before",
            "run",
            "message_sid",
            "updated_at",
        ]
        read_only_fields = fields


class RecipientFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=RecipientState.choices, required=False)


class CampaignProgressSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    percent = serializers.FloatField()
    pending = serializers.IntegerField()
    deferred = serializers.IntegerField(help_text="Pending, held back by quiet hours.")
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    opted_out = serializers.IntegerField()
    skipped = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="Messages per second in force.")
    eta_seconds = serializers.FloatField(allow_null=True)


# --- voice --------------------------------------------------------------------------------------
class LlmConnectionSerializer(serializers.ModelSerializer):
    workspace = BoundedIntegerField(
        source="workspace_id", required=False, help_text="Defaults to the key's workspace."
    )
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Write-only; blank or missing keeps the stored key.",
    )
    api_key_masked = serializers.SerializerMethodField()
    request_timeout = serializers.FloatField(min_value=1, max_value=120, default=20.0)

    class Meta:
        model = LlmConnection
        fields = [
            "id",
            "workspace",
            "name",
            "base_url",
            "model",
            "api_key",
            "api_key_masked",
            "request_timeout",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators: list[Any] = []  # (workspace, name) is unique: a clash is a 409 CONFLICT

    def get_api_key_masked(self, obj: LlmConnection) -> str:
        return mask_secret(obj.api_key) if obj.api_key else ""


class VoiceAgentSerializer(serializers.ModelSerializer):
    workspace = BoundedIntegerField(
        source="workspace_id", required=False, help_text="Defaults to the key's workspace."
    )
    agent_type = serializers.ChoiceField(choices=AgentType.choices, default=AgentType.QUESTIONS)
    llm = ScopedIdField(perm=EDIT, queryset=LlmConnection.objects.all(), required=False, allow_null=True)
    questions = serializers.JSONField(
        required=False, help_text="Indite's JSON questions; every mistake is reported by its JSON path."
    )
    extract_fields = serializers.JSONField(required=False)
    min_confidence = serializers.FloatField(min_value=0, max_value=1, default=0.4)
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.7)
    answer_wait = serializers.FloatField(min_value=0.5, max_value=10, default=4.0)
    max_tokens = serializers.IntegerField(min_value=1, max_value=4096, default=150)
    max_turns = serializers.IntegerField(min_value=1, max_value=200, default=20)
    conversation_timeout = serializers.IntegerField(min_value=10, max_value=3600, default=600)

    class Meta:
        model = VoiceAgent
        fields = [
            "id",
            "workspace",
            "name",
            "agent_type",
            "questions",
            "greeting",
            "goodbye",
            "voice",
            "language",
            "min_confidence",
            "llm",
            "system_prompt",
            "temperature",
            "max_tokens",
            "max_turns",
            "conversation_timeout",
            "extract_fields",
            "answer_wait",
            "filler",
            "fallback_message",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators: list[Any] = []  # (workspace, name) is unique: a clash is a 409 CONFLICT


class CallTurnSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallTurn
        fields = [
            "index",
            "said",
            "heard",
            "digits",
            "confidence",
            "duration_ms",
            "model_ms",
            "tokens",
            "error",
            "created_at",
        ]
        read_only_fields = fields


class CallSessionSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=SessionState.choices, read_only=True)

    class Meta:
        model = CallSession
        fields = [
            "id",
            "workspace",
            "connection",
            "run",
            "call_sid",
            "direction",
            "caller",
            "called",
            "state",
            "turns",
            "started_at",
            "last_turn_at",
            "ended_at",
            "end_reason",
        ]
        read_only_fields = fields


class CallSessionDetailSerializer(CallSessionSerializer):
    transcript = serializers.SerializerMethodField()
    agent_state = serializers.SerializerMethodField()

    class Meta(CallSessionSerializer.Meta):
        fields = [*CallSessionSerializer.Meta.fields, "agent_state", "transcript"]
        read_only_fields = fields

    @extend_schema_field(CallTurnSerializer(many=True))
    def get_transcript(self, obj: CallSession) -> list[dict[str, Any]]:
        turns = CallTurnSerializer(obj.call_turns.order_by("index"), many=True).data
        return [{**turn, "error": redact_text(turn["error"])} for turn in turns]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_agent_state(self, obj: CallSession) -> Any:
        return redact_data(obj.agent_state)
