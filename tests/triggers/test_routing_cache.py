"""The per-process routing cache (`triggers.routing`): a webhook reads its connection and
triggers once per change, and every change made through the product is seen by the very
next request, in any process, without a shared cache to invalidate."""

from itertools import count

import pytest

from tests.triggers.test_webhooks import fixture, signed_post
from triggers.models import TriggerEvent
from triggers.routing import routing_for
from workflows.models import ReplyWait, Run, Step
from workflows.services import run_create, run_execute_inline

_sids = count(1)


def deliver(client, connection, **changes):
    params = {**fixture("incoming-sms", "plain"), "MessageSid": f"SM{next(_sids):032x}", **changes}
    response = signed_post(client, connection, "messages", params)
    assert response.status_code == 200
    return TriggerEvent.objects.order_by("-id").first()


def runs_of(event):
    return list(Run.objects.filter(trigger_event=event))


@pytest.mark.django_db(transaction=True)
class TestEveryChangeIsSeenAtOnce:
    def test_a_trigger_added_disabled_or_edited_counts_on_the_next_request(
        self, client, connection, make_trigger
    ):
        assert runs_of(deliver(client, connection)) == []
        trigger = make_trigger()
        assert len(runs_of(deliver(client, connection))) == 1
        trigger.enabled = False
        trigger.save()
        assert runs_of(deliver(client, connection)) == []
        trigger.enabled = True
        trigger.keywords = "JOIN"
        trigger.save()
        assert runs_of(deliver(client, connection, Body="hello")) == []
        assert len(runs_of(deliver(client, connection, Body="join us"))) == 1
        trigger.delete()
        assert runs_of(deliver(client, connection, Body="join us")) == []

    def test_a_workflow_disabled_or_its_first_step_changed_counts_at_once(
        self, client, connection, make_trigger
    ):
        trigger = make_trigger()
        workflow = trigger.workflow
        workflow.enabled = False
        workflow.save()
        assert runs_of(deliver(client, connection)) == []
        workflow.enabled = True
        workflow.save()
        step = Step.objects.get(workflow=workflow)
        step.name = "renamed"
        step.save()
        [run] = runs_of(deliver(client, connection))
        assert run.current_step == "renamed"

    def test_a_new_auth_token_is_used_on_the_next_request(self, client, connection, make_trigger):
        make_trigger()
        deliver(client, connection)
        connection.auth_token = "f" * 32
        connection.save()
        params = {**fixture("incoming-sms", "plain"), "MessageSid": f"SM{next(_sids):032x}"}
        assert signed_post(client, connection, "messages", params).status_code == 403  # old token
        assert signed_post(client, connection, "messages", params, token="f" * 32).status_code == 200


@pytest.mark.django_db
def test_open_reply_waits_are_known_from_the_check(connection, make_workflow):
    assert routing_for(connection.public_id).open_waits is False
    workflow = make_workflow(
        name="survey",
        steps=[
            dict(
                name="ask",
                kind="wait_for_reply",
                inputs={"contact": "+14155550123", "number": "+15017122661"},
            ),
        ],
    )
    run = run_create(workflow=workflow, payload={}, enqueue=False)
    run_execute_inline(run.pk)
    assert ReplyWait.objects.filter(run=run).exists()
    assert routing_for(connection.public_id).open_waits is True


@pytest.mark.django_db
def test_a_webhook_costs_few_statements(client, connection, make_trigger, django_assert_max_num_queries):
    make_trigger()
    deliver(client, connection)  # warm the process cache
    # check, event insert, run insert, the contact's last message and the workspace's send
    # policy (compliance), event update, task insert (+ savepoints)
    with django_assert_max_num_queries(11):
        event = deliver(client, connection)
    assert len(runs_of(event)) == 1
