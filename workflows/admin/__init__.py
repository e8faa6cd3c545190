"""Workflows, their steps and their runs in the admin, all scoped to the user's workspaces.
Display only: writes go through `workflows.services`, reads through `workflows.selectors`,
shared HTML pieces come from `twilioflow.core.admin_display`.

- `workflow.py` — WorkflowAdmin: the workflow with its steps inline (cross-step checks in the
  formset), and the actions Run now (payload page), Duplicate, Enable, Disable.
- `steps.py` — StepAdmin: not in the index; its change page is "Edit inputs", a form
  generated from the action's field declaration (pickers as datalists) with a JSON box.
- `runs.py` — RunAdmin: strictly read-only, the audit log. Its page shows the run and the step
  timeline (refreshing itself while the run is live); Replay and Cancel are actions for
  members with an editing role.
"""

from workflows.admin.runs import UNKNOWN_BANNER as UNKNOWN_BANNER
from workflows.admin.runs import RunAdmin as RunAdmin
from workflows.admin.steps import StepAdmin as StepAdmin
from workflows.admin.workflow import WorkflowAdmin as WorkflowAdmin
