"""Voice in the admin: agents (edited here; invalid questions never save, each mistake named
by its JSON path) and live calls (read-only, with their transcript turn by turn)."""

from __future__ import annotations

from django.contrib import admin

from twilioflow.core.admin_display import run_link
from voice.models import CallSession, CallTurn, VoiceAgent
from workspaces.admin_mixins import ReadOnlyRecordAdminMixin, WorkspaceScopedAdminMixin


@admin.register(VoiceAgent)
class VoiceAgentAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "workspace", "agent_type", "language", "updated_at")
    list_filter = ("agent_type",)
    search_fields = ("name",)
    fields = (
        "workspace",
        "name",
        "agent_type",
        "greeting",
        "questions",
        "goodbye",
        "voice",
        "language",
        "min_confidence",
    )


class CallTurnInline(admin.TabularInline):
    model = CallTurn
    fields = ("index", "said", "heard", "digits", "confidence", "duration_ms", "error", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Transcript"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


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
