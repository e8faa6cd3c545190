"""Times in the admin are shown in the workspace's time zone (issue 11).

For a signed-in staff user on an admin page, the zone is, in order:
1. the zone all of the user's workspaces share (the usual case: one client, one zone);
2. otherwise (several workspaces in different zones, or none) the user's own zone, as their
   browser reports it (`tf_time_zone` cookie, set by the admin's script), when valid;
3. otherwise the server's `TIME_ZONE`.
One small query per admin page; other paths (webhooks, the API) are left alone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from workspaces.models import Membership, Workspace

COOKIE = "tf_time_zone"


def valid_zone(name: str | None) -> str | None:
    """`name` when it is a time zone this machine knows, else None."""
    if not name or len(name) > 64:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


def admin_time_zone(user, browser_zone: str | None = None) -> str | None:
    """The zone to show this user's admin pages in, or None for the server's."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if user.is_superuser:
        zones = set(Workspace.objects.values_list("time_zone", flat=True).distinct()[:2])
    else:
        zones = set(
            Membership.objects.filter(user=user).values_list("workspace__time_zone", flat=True).distinct()[:2]
        )
    if len(zones) == 1:
        return valid_zone(zones.pop())
    return valid_zone(browser_zone)


class AdminTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        zone = None
        if request.path.startswith("/admin/") and hasattr(request, "user"):
            zone = admin_time_zone(request.user, request.COOKIES.get(COOKIE))
        if zone is None:
            return self.get_response(request)
        timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
