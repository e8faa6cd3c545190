"""API keys in the admin: created here (the secret is shown once), scoped to the workspaces
of the staff user like everything else; owners and admins only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from rest_framework_api_key.models import APIKey

from api.models import RunWebhook, RunWebhookDelivery, WorkspaceApiKey
from workspaces.admin_mixins import ReadOnlyRecordAdminMixin, WorkspaceScopedAdminMixin
from workspaces.models import MANAGE_ROLES

# The library's own (workspace-less) key model is not used: keys belong to a workspace.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(WorkspaceApiKey)
class WorkspaceApiKeyAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    edit_roles = MANAGE_ROLES
    list_display = (
        "prefix",
        "name",
        "workspace",
        "scope",
        "created",
        "last_used_at",
        "expiry_date",
        "revoked",
    )
    list_filter = ("workspace", "scope", "revoked")
    search_fields = ("name", "prefix")
    fields = ("workspace", "name", "scope", "expiry_date", "revoked", "prefix", "last_used_at", "created")

    def get_readonly_fields(self, request: Any, obj: Any = None) -> tuple[str, ...]:
        fields: tuple[str, ...] = ("prefix", "last_used_at", "created")
        if obj is not None:
            fields += ("workspace", "scope")  # a key's reach never changes: make a new one
            if obj.revoked:
                fields += ("name", "revoked", "expiry_date")
        return fields

    def save_model(self, request: Any, obj: Any, form: Any = None, change: bool = False) -> None:
        if change:
            obj.save()
            return
        key = WorkspaceApiKey.objects.assign_key(obj)
        obj.save()
        messages.warning(
            request,
            f"The API key {obj.name!r} is: {key} — copy it now: it is stored only as a hash "
            "and will not be shown again.",
        )


@admin.register(RunWebhook)
class RunWebhookAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    """Set through the API (the secret is shown there once); here to see and switch off."""

    edit_roles = MANAGE_ROLES
    workspace_path = "workflow__workspace"
    list_display = ("workflow", "url", "enabled", "created_at")
    fields = ("workflow", "url", "enabled", "created_at")
    readonly_fields = ("workflow", "created_at")

    def has_add_permission(self, request: Any, *args: Any) -> bool:
        return False


@admin.register(RunWebhookDelivery)
class RunWebhookDeliveryAdmin(ReadOnlyRecordAdminMixin, admin.ModelAdmin):
    workspace_path = "run__workspace"
    list_display = (
        "message_id",
        "webhook",
        "run",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
    )
    list_filter = ("status",)
