"""Who is calling and what they may do, per workspace.

Two ways in: a workspace API key (`Authorization: Api-Key <key>`, or `Bearer <key>`), or a
logged-in staff user's session (the admin's roles). Both become a `Caller`: a permission
set per workspace id. Every query of the API is scoped to `caller.ids("read")`, so another
workspace's object is a 404 and never part of a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.models import Scope, WorkspaceApiKey
from twilioflow.core import clock
from workspaces.models import Membership, Role, Workspace

# What each permission allows: read (GET), run (start runs and actions, replay, cancel),
# edit (workflows and triggers), manage (connections, numbers, consent: credentials and sends).
READ, RUN, EDIT, MANAGE = "read", "run", "edit", "manage"
SCOPE_PERMS = {
    Scope.READ: frozenset({READ}),
    Scope.RUN: frozenset({READ, RUN}),
    Scope.MANAGE: frozenset({READ, RUN, EDIT, MANAGE}),
}
# The admin's roles: viewers look, operators run and edit workflows, owners/admins manage.
ROLE_PERMS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({READ}),
    Role.OPERATOR: frozenset({READ, RUN, EDIT}),
    Role.ADMIN: frozenset({READ, RUN, EDIT, MANAGE}),
    Role.OWNER: frozenset({READ, RUN, EDIT, MANAGE}),
}
KEYWORDS = ("api-key", "bearer")
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per key and minute


@dataclass
class KeyPrincipal:
    """`request.user` for a request made with an API key (not a Django user)."""

    api_key: WorkspaceApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def get_username(self) -> str:
        return f"api-key:{self.api_key.prefix}"


@dataclass
class Caller:
    grants: dict[int, frozenset[str]] = field(default_factory=dict)
    user: Any = None  # the staff user, or None for an API key
    api_key: WorkspaceApiKey | None = None

    def ids(self, perm: str = READ) -> set[int]:
        return {ws for ws, perms in self.grants.items() if perm in perms}

    def may(self, perm: str, workspace_id: int | None) -> bool:
        return workspace_id is not None and perm in self.grants.get(workspace_id, frozenset())

    @property
    def source(self) -> str:
        return "api"


def caller_of(request: Request) -> Caller:
    cached = getattr(request, "_tf_caller", None)
    if cached is not None:
        return cached
    caller = _build_caller(request)
    request._tf_caller = caller  # type: ignore[attr-defined]
    return caller


def _build_caller(request: Request) -> Caller:
    if isinstance(request.auth, WorkspaceApiKey):
        key = request.auth
        return Caller(grants={key.workspace_id: SCOPE_PERMS[Scope(key.scope)]}, api_key=key)
    user = request.user
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return Caller()
    if user.is_superuser:
        everything = SCOPE_PERMS[Scope.MANAGE]
        return Caller({ws: everything for ws in Workspace.objects.values_list("id", flat=True)}, user=user)
    roles = Membership.objects.filter(user=user).values_list("workspace_id", "role")
    return Caller({ws: ROLE_PERMS.get(role, frozenset()) for ws, role in roles}, user=user)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>` (or `Bearer`). A revoked, expired or
    unknown key is a 401; no header leaves the request to the session."""

    def authenticate(self, request: Request) -> tuple[KeyPrincipal, WorkspaceApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, value = header.strip().partition(" ")
        if keyword.lower() not in KEYWORDS:
            return None
        value = value.strip()
        if not value or len(value) > 200 or "." not in value:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        try:
            key = cast(WorkspaceApiKey, WorkspaceApiKey.objects.get_from_key(value))
        except (WorkspaceApiKey.DoesNotExist, ValueError):
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        now = clock.now()
        if key.last_used_at is None or key.last_used_at < now - LAST_USED_EVERY:
            WorkspaceApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return KeyPrincipal(api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Api-Key realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for staff only (CSRF-checked like any session write)."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


class WorkspacePermission(permissions.BasePermission):
    """The view names the permission of each action (`perms`); reads need `read`. A list or
    create needs the permission in some workspace; an object in its own workspace."""

    message = "Your API key or role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        caller = caller_of(request)
        if not caller.grants:
            return False
        return bool(caller.ids(required_perm(request, view)))

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return caller_of(request).may(required_perm(request, view), workspace_id_of(obj))


def required_perm(request: Request, view: Any) -> str:
    method = request.method or "GET"
    action = getattr(view, "action", None) or method.lower()
    perms: dict[str, str] = getattr(view, "perms", {})
    if action in perms:
        return perms[action]
    return READ if method in permissions.SAFE_METHODS else MANAGE


def workspace_id_of(obj: Any) -> int | None:
    if isinstance(obj, Workspace):
        return obj.pk
    if hasattr(obj, "workspace_id"):
        return obj.workspace_id
    connection = getattr(obj, "connection", None)
    return getattr(connection, "workspace_id", None)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per API key (per user for a session), on the cache: REST_FRAMEWORK's "api" rate."""

    scope = "api"

    def get_rate(self) -> str | None:
        rates: dict[str, str | None] = getattr(settings, "REST_FRAMEWORK", {}).get(
            "DEFAULT_THROTTLE_RATES", {}
        )
        return rates.get(self.scope)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, WorkspaceApiKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
