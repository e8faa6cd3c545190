from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Workflow


def workflow_get(*, ref: str, workspace_slug: str | None = None) -> Workflow:
    """A workflow by id or name (with the workspace slug when names collide)."""
    queryset = Workflow.objects.select_related("workspace")
    if workspace_slug:
        queryset = queryset.filter(workspace__slug=workspace_slug)
    matches = list(queryset.filter(pk=int(ref)) if ref.isdigit() else queryset.filter(name=ref))
    if not matches:
        where = f" in workspace {workspace_slug!r}" if workspace_slug else ""
        raise TwilioFlowError(errors.NOT_FOUND, f"No workflow {ref!r}{where}.")
    if len(matches) > 1:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            f"Several workflows are called {ref!r}; pass --workspace or use the id.",
            fields={"workflow": ["Ambiguous."]},
        )
    return matches[0]
