"""Who may configure a step whose request reads or changes credentials.

A raw request to the Account resource, the subaccount list, API keys, signing keys,
credentials and the like returns or mints secrets (or closes accounts). Only a workspace
owner or admin, or a superuser, may configure one. The admin forms refuse it to others, and
because a step can be written without the forms (imports, the shell, a form bug), the engine
checks again before every request: the step's `updated_by` must still be allowed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from actions.registry import action_get
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError
from workflows.models import Step, StepKind
from workflows.step_validation import has_template
from workspaces.selectors import user_may_manage

ROLE_RULE = "only workspace owners and admins (and superusers) may configure such a request"


def step_authorize(*, step: Step, action, inputs: dict[str, Any]) -> None:
    """Raise FORBIDDEN_ENDPOINT (never retried) unless whoever last edited the step may make
    this call. `inputs` are the rendered, cleaned inputs: templates cannot hide the path."""
    reason = action.credential_reason(inputs)
    if reason is None:
        return
    # Read now, not from the step (a cached plan's step may hold an older copy of the user).
    user = get_user_model().objects.filter(pk=step.updated_by_id).first() if step.updated_by_id else None
    if user_may_manage(user, step.workflow.workspace_id):
        return
    who = f"{user.get_username()!r}" if user is not None else "no recorded user"
    raise TwilioFlowError(
        errors.FORBIDDEN_ENDPOINT,
        f"Step {step.name!r} calls {inputs.get('path')!r}, which reads or changes credentials "
        f"({reason}); {ROLE_RULE}. It was last edited by {who}. An owner or admin must save "
        "the step to allow it.",
        retryable=False,
        fields={"path": [f"Reads or changes credentials; {ROLE_RULE}."]},
    )


def step_privilege_problems(*, step: Step, user, workspace_id: int | None) -> dict[str, list[str]]:
    """For the admin forms: the literal inputs this user may not save. Templated values are
    left to the engine, which sees them rendered."""
    if step.kind != StepKind.ACTION or not step.action or not isinstance(step.inputs, dict):
        return {}
    try:
        action = action_get(step.action)
    except TwilioFlowError:
        return {}
    literal = {k: v for k, v in step.inputs.items() if not has_template(v)}
    reason = action.credential_reason(literal)
    if reason is None:
        return {}
    if user_may_manage(user, workspace_id):
        return {}
    return {"path": [f"This path reads or changes credentials ({reason}); {ROLE_RULE}."]}
