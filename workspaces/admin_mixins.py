"""Workspace scoping for every workspace-owned model in the admin: one mixin, used everywhere.

A superuser sees everything. Any other staff user sees only objects of workspaces they are a
member of; viewers may look, other roles may also add and change (`edit_roles`). Django's
per-model permissions are not consulted: in an agency, what you may touch follows from
which client you work for, not from a table of checkboxes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Model, QuerySet

from workspaces.models import EDIT_ROLES, Workspace
from workspaces.selectors import workspace_ids_for_user


def _ids(request, roles) -> set[int]:
    cache = request.__dict__.setdefault("_workspace_ids_cache", {})
    key = None if roles is None else frozenset(roles)
    if key not in cache:
        cache[key] = workspace_ids_for_user(request.user, roles=roles)
    return cache[key]


if TYPE_CHECKING:
    from django.contrib.admin.options import BaseModelAdmin

    # The mixins sit in front of ModelAdmin/InlineModelAdmin: type `super()` as that.
    _AdminBase = BaseModelAdmin[Any]
else:
    _AdminBase = object


def workspace_id_of(obj: Model, path: str | None) -> int | None:
    """Follow `path` ("workspace", "workflow__workspace", None = obj is the workspace)."""
    if path is None:
        return obj.pk
    *hops, last = path.split("__")
    node: Any = obj
    for hop in hops:
        node = getattr(node, hop, None)
        if node is None:
            return None
    return getattr(node, f"{last}_id", None)


class WorkspaceScopedAdminMixin(_AdminBase):
    workspace_path: str | None = "workspace"
    edit_roles = EDIT_ROLES

    def _is_super(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def _allowed(self, request, obj, roles) -> bool:
        if self._is_super(request):
            return True
        ids = _ids(request, roles)
        if obj is None:
            return bool(ids)
        return workspace_id_of(obj, self.workspace_path) in ids

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if self._is_super(request):
            return queryset
        field = "id" if self.workspace_path is None else self.workspace_path
        return queryset.filter(**{f"{field}__in": _ids(request, None)})

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and self._allowed(request, None, None)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_staff and self._allowed(request, obj, None)

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_staff and self._allowed(request, None, self.edit_roles)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_staff and self._allowed(request, obj, self.edit_roles)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_staff and self._allowed(request, obj, self.edit_roles)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Offer only workspaces (and workspace-owned objects) the user may edit in."""
        if not self._is_super(request):
            editable = _ids(request, self.edit_roles)
            related = db_field.related_model
            if related is Workspace:
                kwargs["queryset"] = Workspace.objects.filter(id__in=editable)
            elif any(f.name == "workspace" for f in related._meta.get_fields()):
                kwargs["queryset"] = related._default_manager.filter(workspace_id__in=editable)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class WorkspaceScopedInlineMixin(WorkspaceScopedAdminMixin):
    """For inlines: `obj` is the parent; the parent's workspace decides."""

    parent_workspace_path: str | None = "workspace"

    def get_queryset(self, request) -> QuerySet:
        return super(WorkspaceScopedAdminMixin, self).get_queryset(request)

    def _allowed(self, request, obj, roles) -> bool:
        if self._is_super(request):
            return True
        ids = _ids(request, roles)
        if obj is None:
            return bool(ids)
        return workspace_id_of(obj, self.parent_workspace_path) in ids


class ReadOnlyRecordAdminMixin(WorkspaceScopedAdminMixin):
    """Records the system writes (runs, trigger events, synced numbers): nobody adds, edits
    or deletes them here, superusers included. Operations on them (replay, cancel, route…)
    are for members with an editing role."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_operate_permission(self, request) -> bool:
        return request.user.is_staff and self._allowed(request, None, self.edit_roles)

    def _can_operate(self, request, obj) -> bool:
        return request.user.is_staff and self._allowed(request, obj, self.edit_roles)
