"""Form widgets shared by the admin of workspace-owned objects."""

from __future__ import annotations

from typing import Any

from django import forms


class WorkspaceTaggedSelect(forms.Select):
    """A select of workspace-owned objects whose options carry `data-workspace`, so the page
    can offer only those of the workspace chosen on it (the server checks it again)."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        instance = getattr(value, "instance", None)
        workspace_id = getattr(instance, "workspace_id", None)
        if workspace_id is not None:
            option["attrs"]["data-workspace"] = str(workspace_id)
        return option
