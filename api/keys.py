"""Creating and revoking workspace API keys (the admin and `manage.py apikey_create`)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from api.models import Scope, WorkspaceApiKey
from twilioflow.core.errors import validation_error
from workspaces.models import Workspace


def api_key_create(
    *, workspace: Workspace, name: str, scope: str, expires_at: datetime | None = None
) -> tuple[WorkspaceApiKey, str]:
    """A new key and its secret, which is shown once and stored only as a hash."""
    name = (name or "").strip()
    problems = {}
    if not name or len(name) > 50:
        problems["name"] = "A name of 1 to 50 characters."
    if scope not in Scope.values:
        problems["scope"] = f"One of: {', '.join(Scope.values)}."
    if problems:
        raise validation_error(problems)
    key, secret = WorkspaceApiKey.objects.create_key(
        workspace=workspace, name=name, scope=scope, expiry_date=expires_at
    )
    return cast(WorkspaceApiKey, key), secret


def api_key_revoke(*, key: WorkspaceApiKey) -> None:
    WorkspaceApiKey.objects.filter(pk=key.pk).update(revoked=True)
