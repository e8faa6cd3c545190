"""The admin index's panels (templates/admin/index.html): reads through triggers.onboarding."""

from django import template

from triggers.onboarding import getting_started, recent_activity
from twilioflow.core.admin_display import status_badge

register = template.Library()


@register.inclusion_tag("admin/twilioflow_index_panels.html", takes_context=True)
def twilioflow_index_panels(context):
    user = context["request"].user
    milestones = getting_started(user)
    activity = recent_activity(user)
    activity["runs"] = [(run, status_badge(run.status, run.get_status_display())) for run in activity["runs"]]
    return {
        "milestones": milestones,
        "all_done": all(m.done for m in milestones),
        "done_count": sum(m.done for m in milestones),
        **activity,
    }
