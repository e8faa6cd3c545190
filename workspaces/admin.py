from django import forms
from django.contrib import admin

from workspaces.admin_mixins import WorkspaceScopedAdminMixin, WorkspaceScopedInlineMixin
from workspaces.models import MANAGE_ROLES, Membership, Workspace
from workspaces.selectors import user_by_exact_ref


class MembershipInlineForm(forms.ModelForm):
    """Pick a user from the list (for non-superusers: only people who already share one of
    your workspaces), or type someone's exact username or e-mail to add them. Nobody else's
    name is ever listed, and a failed lookup does not say why."""

    user_ref = forms.CharField(
        required=False,
        max_length=254,
        label="…or exact username / e-mail",
        help_text="To add someone who is not in the list.",
    )

    class Meta:
        model = Membership
        fields = ["user", "user_ref", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "user" in self.fields:
            self.fields["user"].required = False

    def clean(self):
        cleaned = super().clean() or {}
        ref = (cleaned.get("user_ref") or "").strip()
        if ref:
            user = user_by_exact_ref(ref)
            if user is None:
                self.add_error("user_ref", "No active user has exactly this username or e-mail.")
            else:
                cleaned["user"] = user
        if "user" in self.fields and not cleaned.get("user") and not self.has_error("user_ref"):
            self.add_error("user", "Choose a user, or type their exact username or e-mail.")
        return cleaned


class MembershipInline(WorkspaceScopedInlineMixin, admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    parent_workspace_path = None
    edit_roles = MANAGE_ROLES
    extra = 0

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            return [f for f in fields if f != "user_ref"]  # read-only: nothing to look up
        return fields


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
