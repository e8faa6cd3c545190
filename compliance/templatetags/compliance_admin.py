"""`{% sandbox_banner %}`: on every admin page, a banner naming the user's workspaces that are
in sandbox mode (nothing they run is sent). Only the user's own workspaces are named."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from compliance.selectors import sandbox_workspace_names
from workspaces.selectors import workspace_ids_for_user

register = template.Library()


@register.simple_tag(takes_context=True)
def sandbox_banner(context: Any) -> str:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return ""
    names = sandbox_workspace_names(workspace_ids_for_user(user))
    if not names:
        return ""
    return format_html(
        '<div class="tf-banner tf-sandbox-banner" role="status">Sandbox mode: {} — every check runs, '
        "nothing is sent to Twilio (Compliance → Send policies).</div>",
        ", ".join(names),
    )
