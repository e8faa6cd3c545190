"""Prepare a TwilioFlow database for a benchmark (run with the benchmark's environment):
migrate, then one workspace, one connection (the fake's account), one workflow with a single
templated send-sms step, an incoming-SMS trigger on it, and (with --polling) a
new-messages trigger. Prints a JSON line with what the benchmark needs."""

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twilioflow.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from connections.services import connection_create  # noqa: E402
from triggers.models import Trigger  # noqa: E402
from twilioflow.core import clock  # noqa: E402
from workflows.models import Step, Workflow  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def setup(polling: bool = False) -> dict:
    call_command("migrate", verbosity=0)
    workspace = Workspace.objects.create(name="Bench", slug="bench")
    connection = connection_create(
        workspace=workspace, name="main", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    workflow = Workflow.objects.create(workspace=workspace, name="reply")
    Step.objects.create(
        workflow=workflow,
        name="reply",
        kind="action",
        action="twilio/send-sms",
        connection=connection,
        inputs={"From": "{{ trigger.To }}", "To": "{{ trigger.From }}", "Body": "{{ trigger.Body }}"},
    )
    trigger = Trigger.objects.create(
        workspace=workspace,
        workflow=workflow,
        connection=connection,
        name="inbound",
        kind="twilio/incoming-sms",
    )
    out = {
        "public_id": str(connection.public_id),
        "connection_id": connection.pk,
        "workflow_id": workflow.pk,
        "trigger_id": trigger.pk,
    }
    if polling:
        poll_wf = Workflow.objects.create(workspace=workspace, name="polled")
        Step.objects.create(
            workflow=poll_wf, name="note", kind="set_variables", inputs={"variables": {"n": "1"}}
        )
        poller = Trigger.objects.create(
            workspace=workspace,
            workflow=poll_wf,
            connection=connection,
            name="poll",
            kind="twilio/new-messages",
            poll_interval_minutes=60,
        )
        Trigger.objects.filter(pk=poller.pk).update(created_at=clock.now() - timedelta(days=1))
        out["poll_trigger_id"] = poller.pk
    return out


if __name__ == "__main__":
    print("SETUP " + json.dumps(setup(polling="--polling" in sys.argv)))
