"""Voice in the admin: LLM connections (the key write-only), agents (invalid questions never
save, each mistake named by its JSON path; a text simulator to try one without a phone),
and live calls (read-only, with their transcript turn by turn)."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from twilioflow.core.admin_display import run_link
from voice.forms import LlmConnectionForm, SimulatorForm
from voice.models import (
    AGENT_LLM_FIELDS,
    AGENT_QUESTIONS_FIELDS,
    AGENT_VOICE_FIELDS,
    CallSession,
    CallTurn,
    LlmConnection,
    VoiceAgent,
)
from voice.simulator import simulation_say, simulation_start
from workflows.admin.runs import run_inline_register
from workspaces.admin_mixins import (
    ReadOnlyRecordAdminMixin,
    WorkspaceScopedAdminMixin,
    WorkspaceScopedInlineMixin,
)


@admin.register(LlmConnection)
class LlmConnectionAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    form = LlmConnectionForm
    list_display = ("name", "workspace", "model", "base_url")
    search_fields = ("name", "model")


@admin.register(VoiceAgent)
class VoiceAgentAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "workspace", "agent_type", "language", "updated_at", "try_link")
    list_filter = ("agent_type",)
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("workspace", "name", *AGENT_VOICE_FIELDS)}),
        ("JSON questions", {"fields": AGENT_QUESTIONS_FIELDS}),
        ("LLM conversation", {"fields": ("llm", *AGENT_LLM_FIELDS)}),
    )

    @admin.display(description="Try it")
    def try_link(self, obj: VoiceAgent):
        return format_html(
            '<a href="{}">Simulator</a>', reverse("admin:voice_voiceagent_simulate", args=[obj.pk])
        )

    def get_urls(self):
        own = [
            path(
                "<int:agent_id>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="voice_voiceagent_simulate",
            )
        ]
        return own + super().get_urls()

    def simulate_view(self, request, agent_id: int):
        """Type what the caller says; see what the agent answers and its state. The same
        code path as a live call (`voice.simulator`), minus Twilio."""
        agent = get_object_or_404(self.get_queryset(request), pk=agent_id)
        if not self.has_change_permission(request, agent):
            raise Http404
        form = SimulatorForm(request.POST or None)
        heard = None
        if request.method == "POST" and form.is_valid():
            given = form.cleaned_data.get("session")
            session = (
                CallSession.objects.filter(
                    public_id=given, workspace_id=agent.workspace_id, direction="simulated"
                ).first()
                if given is not None
                else None
            )
            if session is None or not form.cleaned_data["say"]:
                heard = simulation_start(agent)
            else:
                heard = simulation_say(session, form.cleaned_data["say"])
            form = SimulatorForm(initial={"session": heard.session.public_id})
        turns = CallTurn.objects.filter(session=heard.session).order_by("index") if heard else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Simulate {agent.name}",
            "agent": agent,
            "form": form,
            "heard": heard,
            "turns": turns,
        }
        return TemplateResponse(request, "admin/voice/voiceagent/simulate.html", context)


class CallTurnInline(admin.TabularInline):
    model = CallTurn
    fields = ("index", "said", "heard", "digits", "confidence", "duration_ms", "model_ms", "tokens", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Transcript"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


TRANSCRIPT_HEAD = mark_safe(
    "<tr><th>#</th><th>We said</th><th>Caller</th><th>Confidence</th>"
    "<th>Answer</th><th>Model</th><th></th></tr>"
)


def transcript_html(session: CallSession):
    """The conversation turn by turn: what we said, what the caller said or keyed, the
    confidence, our time and the model's, and any recording the call left."""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                turn.index,
                turn.said,
                turn.heard or turn.digits,
                "" if turn.confidence is None else f"{turn.confidence:.2f}",
                "" if turn.duration_ms is None else f"{turn.duration_ms} ms",
                "" if turn.model_ms is None else f"{turn.model_ms} ms · {turn.tokens or 0} tokens",
                format_html('<a href="{}">recording</a>', turn.params["RecordingUrl"])
                if str(turn.params.get("RecordingUrl", "")).startswith("https://")
                else turn.error,
            )
            for turn in session.call_turns.order_by("index")
        ),
    )
    return format_html("<table>{}{}</table>", TRANSCRIPT_HEAD, rows)


class CallTranscriptInline(WorkspaceScopedInlineMixin, admin.StackedInline):
    """On the run page: the call this run drove, as a transcript (seen by whoever may see
    the run)."""

    model = CallSession
    fk_name = "run"
    fields = ("call_sid", "state", "end_reason", "transcript")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "Call"
    verbose_name_plural = "Call transcript"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Transcript")
    def transcript(self, obj: CallSession):
        return transcript_html(obj)


run_inline_register(CallTranscriptInline)


@admin.register(CallSession)
class CallSessionAdmin(ReadOnlyRecordAdminMixin, admin.ModelAdmin):
    list_display = ("call_sid", "workspace", "caller", "called", "state", "turns", "started_at", "run_column")
    list_filter = ("state", "direction")
    search_fields = ("call_sid", "caller", "called")
    readonly_fields = (
        "call_sid",
        "workspace",
        "direction",
        "caller",
        "called",
        "state",
        "turns",
        "run_column",
        "agent_state",
        "started_at",
        "ended_at",
        "end_reason",
    )
    fields = readonly_fields
    inlines = (CallTurnInline,)

    @admin.display(description="Run")
    def run_column(self, obj: CallSession):
        return run_link(obj.run_id)
