"""Fixtures shared by the webhook tests."""

import pytest

from triggers.models import Trigger


@pytest.fixture
def make_trigger(workspace, connection, make_workflow):
    def make(kind="twilio/incoming-sms", workflow=None, **values):
        workflow = workflow or make_workflow(
            name=f"wf-{Trigger.objects.count()}",
            steps=[
                dict(
                    name="note",
                    kind="set_variables",
                    inputs={"variables": {"body": "{{ trigger.Body|default:'' }}"}},
                )
            ],
        )
        trigger = Trigger(
            workspace=workspace,
            workflow=workflow,
            connection=connection,
            name=f"t-{Trigger.objects.count()}",
            kind=kind,
            **values,
        )
        trigger.full_clean()
        trigger.save()
        return trigger

    return make
