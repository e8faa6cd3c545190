"""What a step's templates see, and where a step's output goes."""

from __future__ import annotations

from typing import Any

from twilioflow.core.redaction import redact_data
from workflows.models import Run, Step
from workflows.templating import build_context, render_value


def template_context(run: Run) -> dict[str, Any]:
    workspace = run.workspace
    return build_context(
        trigger=run.trigger_payload,
        steps=run.context.get("steps", {}),
        vars=run.context.get("vars", {}),
        item=run.context.get("item"),
        run={
            "id": run.pk,
            "workflow": run.workflow.name if run.workflow is not None else run.label,
            "source": run.source,
            "started_at": run.started_at,
            "parent_id": run.parent_id,
        },
        workspace={
            "name": workspace.name,
            "slug": workspace.slug,
            "time_zone": workspace.time_zone,
            "default_country": workspace.default_country,
        },
        reply=run.context.get("reply"),
    )


def render(run: Run, step: Step, value: Any, field_name: str = "") -> Any:
    """A step input with its {{ templates }} rendered (an ad-hoc step's literal inputs as given)."""
    if getattr(step, "literal_inputs", False):
        return value
    return render_value(value, template_context(run), field=field_name, step=step.name)


def record_output(run: Run, step: Step, output: Any) -> Any:
    """Put a step's output into the context, redacted, and return what was put there: later
    steps template from the context, so they never see a secret an earlier step was sent
    (an Account's Auth Token)."""
    output = redact_data(output)
    run.context.setdefault("steps", {})[step.name] = output
    return output


def default_result(run: Run) -> dict[str, Any]:
    return {"vars": run.context.get("vars", {})}
