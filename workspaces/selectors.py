"""Which workspaces a user may see or change. Every scoped query goes through here."""

from collections.abc import Iterable

from django.db.models import QuerySet

from workspaces.models import MANAGE_ROLES, Membership, Workspace


def workspace_ids_for_user(user, *, roles: Iterable[str] | None = None) -> set[int]:
    """Workspace ids the user belongs to (optionally with one of `roles`); superusers: all."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return set(Workspace.objects.values_list("id", flat=True))
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return set(memberships.values_list("workspace_id", flat=True))


def workspace_list_for_user(user, *, roles: Iterable[str] | None = None) -> QuerySet[Workspace]:
    return Workspace.objects.filter(id__in=workspace_ids_for_user(user, roles=roles))


def user_role_in(user, workspace_id: int) -> str | None:
    if user.is_superuser:
        return "owner"
    return (
        Membership.objects.filter(user=user, workspace_id=workspace_id).values_list("role", flat=True).first()
    )


def user_may_manage(user, workspace_id: int | None) -> bool:
    """Owner or admin of the workspace, or an active superuser: who may handle credentials.
    Read at the moment of use, so a demoted or deactivated user loses it at once."""
    if user is None or workspace_id is None or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(
        user=user, workspace_id=workspace_id, role__in=list(MANAGE_ROLES)
    ).exists()


# --- scoping any model to workspaces (the admin's filters, choices and autocompletes) -------
def workspace_lookup(model, _depth: int = 0) -> str | None:
    """The ORM path from `model` to its workspace id ("id", "workspace", "run__workspace",
    "memberships__workspace" for users…), or None when the model belongs to no workspace.

    Found once per model by following foreign keys, so a new workspace-owned model is scoped
    everywhere without being listed here."""
    from django.contrib.auth import get_user_model

    if model is Workspace:
        return "id"
    if model is get_user_model():
        # A user belongs to the workspaces they are a member of.
        return "memberships__workspace"
    fields = [
        f
        for f in model._meta.get_fields()
        if (f.many_to_one or f.one_to_one) and f.concrete and f.related_model
    ]
    for field in fields:
        if field.related_model is Workspace:
            return field.name
    if _depth >= 3:
        return None
    # Prefer required links (a nullable one may be empty, which would hide the row).
    for field in sorted(fields, key=lambda f: f.null):
        if field.related_model is model:
            continue
        rest = workspace_lookup(field.related_model, _depth + 1)
        if rest is not None and rest != "memberships__workspace":
            return f"{field.name}__{rest}" if rest != "id" else field.name
    return None


def scope_to_workspaces(queryset: QuerySet, workspace_ids: Iterable[int]) -> QuerySet:
    """Only rows of `queryset` that belong to one of `workspace_ids`; none for a model that
    belongs to no workspace (such data is for superusers, who are not scoped)."""
    lookup = workspace_lookup(queryset.model)
    if lookup is None:
        return queryset.none()
    scoped = queryset.filter(**{f"{lookup}__in": list(workspace_ids)})
    # A user in two of the workspaces would otherwise come back twice.
    return scoped.distinct() if lookup == "memberships__workspace" else scoped


def users_sharing_workspaces(user) -> QuerySet:
    """Users who share at least one workspace with `user` (all users for a superuser): the
    only people a workspace owner or admin can pick from a list."""
    from django.contrib.auth import get_user_model

    users = get_user_model()._default_manager.filter(is_active=True)
    if user.is_active and user.is_superuser:
        return users
    return scope_to_workspaces(users, workspace_ids_for_user(user)).order_by("username")


def user_by_exact_ref(ref: str):
    """The one active user whose username is exactly `ref`, or whose e-mail is `ref`
    (case-insensitive); None when there is none or the e-mail is ambiguous. How someone from
    outside one's workspaces is added: by a name one already knows, never from a list."""
    from django.contrib.auth import get_user_model

    ref = (ref or "").strip()
    if not ref:
        return None
    users = get_user_model()._default_manager.filter(is_active=True)
    found = users.filter(username=ref).first()
    if found is not None:
        return found
    by_email = list(users.filter(email__iexact=ref)[:2]) if "@" in ref else []
    return by_email[0] if len(by_email) == 1 else None


def workspace_for_user(user, workspace_id: object) -> Workspace | None:
    """The workspace `workspace_id` when the user belongs to it (superusers: any), else None."""
    try:
        pk = int(str(workspace_id))
    except (TypeError, ValueError):
        return None
    if pk not in workspace_ids_for_user(user):
        return None
    return Workspace.objects.filter(pk=pk).first()


def sole_workspace_id(user) -> int | None:
    """The user's workspace when they have exactly one (forms preselect it), else None."""
    ids = workspace_ids_for_user(user)
    return next(iter(ids)) if len(ids) == 1 else None
