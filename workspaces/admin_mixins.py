"""Workspace scoping for every workspace-owned model in the admin: one mixin, used everywhere.

A superuser sees everything. Any other staff user sees only objects of workspaces they are a
member of; viewers may look, other roles may also add and change (`edit_roles`). Django's
per-model permissions are not consulted: in an agency, what you may touch follows from
which client you work for, not from a table of checkboxes.

Everything the admin offers from the database is scoped the same way, not only the rows:
list filters (their choices), foreign-key and many-to-many choices in forms and inlines,
autocompletes and search, so no page shows a name from another workspace. Admins of models
that belong to no workspace (users, groups, django-q's tasks) are for superusers only
(`restrict_unscoped_admins`, called when the app is ready).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet

from workspaces.models import EDIT_ROLES
from workspaces.selectors import (
    scope_to_workspaces,
    users_sharing_workspaces,
    workspace_ids_for_user,
)


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
    _ModelAdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object
    _ModelAdminBase = object


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
        return self._scope_rows(request, super().get_queryset(request))

    def _scope_rows(self, request, queryset: QuerySet) -> QuerySet:
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

    # --- choices offered in forms, filters and autocompletes ---
    def scoped_choices(self, request, queryset: QuerySet, *, roles=None) -> QuerySet:
        """`queryset` narrowed to what this user may pick: objects of their workspaces (with
        one of `roles` when given); users who share one of their workspaces."""
        if self._is_super(request):
            return queryset
        if queryset.model is get_user_model():
            return queryset.filter(pk__in=users_sharing_workspaces(request.user).values("pk"))
        return scope_to_workspaces(queryset, _ids(request, roles))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Offer only workspaces (and workspace-owned objects) the user may edit in."""
        if not self._is_super(request):
            base = kwargs.get("queryset", db_field.related_model._default_manager.all())
            kwargs["queryset"] = self.scoped_choices(request, base, roles=self.edit_roles)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not self._is_super(request):
            base = kwargs.get("queryset", db_field.related_model._default_manager.all())
            kwargs["queryset"] = self.scoped_choices(request, base, roles=self.edit_roles)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        """Every filter over a relation lists only related objects of the user's workspaces
        that occur in the (scoped) change list; values reached through a relation likewise."""
        # ModelAdmin's method (inlines, typed as BaseModelAdmin, never call it).
        specs = super().get_list_filter(request)  # type: ignore[misc]
        return [_scoped_filter(self.model, spec) for spec in specs]

    def get_search_results(self, request, queryset, search_term):
        # The autocomplete view searches the related model's admin; its get_queryset is
        # scoped already, this keeps it so when a subclass widens the queryset.
        queryset, may_have_duplicates = super().get_search_results(  # type: ignore[misc]  # ModelAdmin's
            request, queryset, search_term
        )
        return self._scope_rows(request, queryset), may_have_duplicates


class WorkspaceScopedRelatedFilter(admin.RelatedOnlyFieldListFilter):
    """Like RelatedOnlyFieldListFilter, and never lists an object of another workspace, even
    when a row of this list links to one."""

    def field_choices(self, field, request, model_admin):
        used = model_admin.get_queryset(request).distinct().values_list(f"{self.field_path}__pk", flat=True)
        limit = Q(pk__in=used)
        if not (request.user.is_active and request.user.is_superuser):
            related = field.related_model._default_manager.all()
            if related.model is get_user_model():
                allowed = users_sharing_workspaces(request.user)
            else:
                allowed = scope_to_workspaces(related, _ids(request, None))
            limit &= Q(pk__in=allowed.values("pk"))
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class WorkspaceScopedAllValuesFilter(admin.AllValuesFieldListFilter):
    """Distinct values of a field reached through a relation, taken from the scoped change
    list (Django's own filter reads them from the whole related table)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (
            model_admin.get_queryset(request)
            .distinct()
            .order_by(field_path)
            .values_list(field_path, flat=True)
        )


def _scoped_filter(model, spec):
    """The scoped equivalent of one `list_filter` entry (custom filter classes are kept)."""
    if isinstance(spec, str):
        path, filter_class = spec, None
    elif isinstance(spec, tuple | list) and len(spec) == 2 and isinstance(spec[0], str):
        path, filter_class = spec
    else:
        return spec  # a SimpleListFilter: it chooses its own lookups
    try:
        field = get_fields_from_path(model, path)[-1]
    except FieldDoesNotExist:
        return spec
    if field.is_relation and (filter_class is None or issubclass(filter_class, admin.RelatedFieldListFilter)):
        return (path, WorkspaceScopedRelatedFilter)
    plain = not getattr(field, "choices", None) and field.get_internal_type() not in (
        "BooleanField",
        "DateField",
        "DateTimeField",
    )
    if "__" in path and plain and filter_class in (None, admin.AllValuesFieldListFilter):
        return (path, WorkspaceScopedAllValuesFilter)
    return spec


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


class SuperuserOnlyAdminMixin(_ModelAdminBase):
    """For admins of models that belong to no workspace (users, groups, task queue rows):
    their lists would show every client's people and data, so only superusers get them,
    whatever model permissions a staff user was given."""

    def _is_super(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self._is_super(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_super(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return self._is_super(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_super(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_super(request) and super().has_delete_permission(request, obj)


def restrict_unscoped_admins(site=None) -> None:
    """Make every registered admin that is not workspace-scoped superuser-only (django's
    User and Group admins, django-q's). Called from the workspaces app's ready()."""
    site = site or admin.site
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, WorkspaceScopedAdminMixin | SuperuserOnlyAdminMixin):
            continue
        cls = type(model_admin)
        restricted = type(f"SuperuserOnly{cls.__name__}", (SuperuserOnlyAdminMixin, cls), {})
        site.unregister(model)
        site.register(model, restricted)


class ParentWorkspaceConnectionsMixin(_AdminBase):
    """For inlines on a workspace-owned page (a workflow's steps and triggers): the
    connection choices are tagged with their workspace (the page's script filters them as
    the workspace changes) and, once the parent is saved, limited to its workspace.
    `get_formset` remembers the parent on the request, where `formfield_for_foreignkey`
    (called while the formset class is built) finds it."""

    def get_formset(self, request: Any, obj: Any = None, **kwargs: Any) -> Any:
        request._twilioflow_inline_parent = obj
        return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]  # InlineModelAdmin's

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        from workspaces.widgets import WorkspaceTaggedSelect

        if db_field.name == "connection":
            kwargs["widget"] = WorkspaceTaggedSelect
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        parent = getattr(request, "_twilioflow_inline_parent", None)
        queryset = getattr(field, "queryset", None)
        if db_field.name == "connection" and queryset is not None and parent is not None and parent.pk:
            field.queryset = queryset.filter(workspace_id=parent.workspace_id)  # type: ignore[union-attr]
        return field
