from django.contrib import admin

from workspaces.admin_mixins import WorkspaceScopedAdminMixin, WorkspaceScopedInlineMixin
from workspaces.models import MANAGE_ROLES, Membership, Workspace


class MembershipInline(WorkspaceScopedInlineMixin, admin.TabularInline):
    model = Membership
    parent_workspace_path = None
    edit_roles = MANAGE_ROLES
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdminMixin, admin.ModelAdmin):
    workspace_path = None
    edit_roles = MANAGE_ROLES
    list_display = ["name", "slug", "time_zone", "default_country", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def has_add_permission(self, request, *args) -> bool:
        # New clients are an agency-level decision.
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser
