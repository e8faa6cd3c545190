"""Who is looking, at which workspace, with which role: every staff view starts here.

The current workspace is kept in the session (the switcher changes it) and re-checked on
every request against the user's memberships (`workspaces.selectors`), so a removed member
loses it at once. Roles are the admin's: owners, admins and operators act (reply, replay,
cancel); viewers read. Another workspace's object is a 404, never a 403 that would confirm
it exists."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from workspaces.middleware import valid_zone
from workspaces.models import EDIT_ROLES, Workspace
from workspaces.selectors import user_role_in, workspace_list_for_user

SESSION_KEY = "staff_workspace_id"
ZONE_COOKIE = "tf_time_zone"


@dataclass
class Seat:
    """The request's workspace, the user's role in it, and the other workspaces they may pick."""

    workspace: Workspace
    role: str
    workspaces: list[Workspace]
    zone: str

    @property
    def can_act(self) -> bool:
        return self.role in EDIT_ROLES


def viewer_zone(request: HttpRequest, workspace: Workspace | None) -> str:
    """The viewer's own zone (their browser's, from the cookie our script sets), else the
    workspace's, else the server's."""
    return (
        valid_zone(request.COOKIES.get(ZONE_COOKIE))
        or valid_zone(workspace.time_zone if workspace else None)
        or timezone.get_default_timezone_name()
    )


def seat_for(request: HttpRequest) -> Seat | None:
    """The user's seat: the session's workspace if they still belong to it, else their first
    workspace (remembered). None when they belong to none."""
    workspaces = list(workspace_list_for_user(request.user).order_by("name"))
    if not workspaces:
        return None
    by_id = {w.pk: w for w in workspaces}
    wanted = request.session.get(SESSION_KEY)
    workspace = by_id.get(wanted) if isinstance(wanted, int) else None
    if workspace is None:
        workspace = workspaces[0]
        request.session[SESSION_KEY] = workspace.pk
    role = user_role_in(request.user, workspace.pk) or ""
    return Seat(workspace, role, workspaces, viewer_zone(request, workspace))


def seat_switch(request: HttpRequest, workspace_id: Any) -> bool:
    """Make `workspace_id` the current workspace when the user belongs to it."""
    try:
        pk = int(str(workspace_id))
    except (TypeError, ValueError):
        return False
    if not workspace_list_for_user(request.user).filter(pk=pk).exists():
        return False
    request.session[SESSION_KEY] = pk
    return True


def staff_view(*, act: bool = False) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Login required; `request.seat` set; times in the viewer's zone. `act=True`: only
    roles that may act (a viewer gets 403 and nothing happens)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not (user.is_authenticated and user.is_active):
                return redirect_to_login(request.get_full_path(), "staff:login")
            seat = seat_for(request)
            if seat is None:
                return render(request, "staff/no_workspace.html", status=403)
            if act and not seat.can_act:
                raise PermissionDenied("Viewers read only.")
            request.seat = seat  # type: ignore[attr-defined]
            timezone.activate(zoneinfo.ZoneInfo(seat.zone))
            try:
                return view(request, *args, **kwargs)
            finally:
                timezone.deactivate()

        return wrapper

    return decorate


def object_or_404(queryset: Any, **lookup: Any) -> Any:
    found = queryset.filter(**lookup).first()
    if found is None:
        raise Http404("Not found in this workspace.")
    return found
