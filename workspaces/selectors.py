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
