"""The per-process routing cache (`triggers.routing`): a webhook reads its connection and
triggers once per change, and every change made through the product is seen by the very
next request, in any process, without a shared cache to invalidate."""

from itertools import count

import pytest

from compliance.models import ConsentEvent, SendPolicy
from compliance.selectors import policy_get
from tests.triggers.test_webhooks import fixture, signed_post
from triggers.models import Trigger, TriggerEvent
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
    # the routing check, then one transaction (a savepoint inside the test's own): the event
    # with its answer (INSERT … ON CONFLICT DO NOTHING), the contact's last message (upsert),
    # the run, the task (ORM broker); + the test's own read of the event
    with django_assert_max_num_queries(8) as queries:
        event = deliver(client, connection)
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements.count("SAVEPOINT") == 1 and "UPDATE" not in statements
    assert len(runs_of(event)) == 1
    assert event.response_body and event.match_status == "matched" and event.runs_started == 1


def help_answer(client, connection, body="HELP", **changes):
    response = signed_post(
        client,
        connection,
        "messages",
        {**fixture("incoming-sms", "plain"), "MessageSid": f"SM{next(_sids):032x}", "Body": body, **changes},
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
class TestTheSendPolicyComesWithTheRouting:
    """The inbound path reads the workspace's send policy (consent keywords, help text) from
    the routing cache; every change to it counts on the next request, in its workspace only."""

    def test_a_policy_edit_or_deletion_counts_on_the_next_request(self, client, connection, workspace):
        assert "<Message>" not in help_answer(client, connection)  # no policy yet: defaults, unsaved
        assert not SendPolicy.objects.exists()
        policy = policy_get(workspace)
        policy.help_text, policy.opt_out_keywords = "Acme: call 555-0100.", "ARRET"
        policy.save()
        assert "Acme: call 555-0100." in help_answer(client, connection)
        help_answer(client, connection, body="arret")
        assert ConsentEvent.objects.filter(keyword="ARRET", kind="opt_out").count() == 1
        policy.help_text = "Acme, new hours: 555-0199."
        policy.save()
        assert "new hours" in help_answer(client, connection)
        policy.delete()
        assert "<Message>" not in help_answer(client, connection)
        help_answer(client, connection, body="arret")  # the extra keyword went with the policy
        assert ConsentEvent.objects.filter(keyword="ARRET").count() == 1

    def test_each_workspace_answers_with_its_own_policy(
        self, client, connection, workspace, other_workspace, make_connection
    ):
        other = make_connection(workspace=other_workspace, name="bistro")
        for ws, text in ((workspace, "Acme help"), (other_workspace, "Bistro help")):
            policy = policy_get(ws)
            policy.help_text = text
            policy.save()
        for _ in range(2):  # cold, then from the cache
            assert "Acme help" in help_answer(client, connection) and "Bistro" not in help_answer(
                client, connection
            )
            assert "Bistro help" in help_answer(client, other) and "Acme" not in help_answer(client, other)
        assert routing_for(connection.public_id).connection.workspace.send_policy.help_text == "Acme help"
        assert routing_for(other.public_id).connection.workspace.send_policy.help_text == "Bistro help"

    def test_a_redelivered_stop_is_recorded_once(self, client, connection, workspace):
        params = {**fixture("incoming-sms", "plain"), "MessageSid": f"SM{next(_sids):032x}", "Body": "STOP"}
        first = signed_post(client, connection, "messages", params)
        again = signed_post(client, connection, "messages", params)
        assert first.content == again.content
        assert ConsentEvent.objects.filter(kind="opt_out").count() == 1
        assert TriggerEvent.objects.get(dedupe_key__endswith=params["MessageSid"]).duplicates == 1


@pytest.mark.django_db(transaction=True)
def test_a_deleted_workflow_or_trigger_never_starts_a_run(client, connection, make_trigger):
    joiner = make_trigger(keywords="JOIN")  # a workflow with runs cannot be deleted: this one has none
    assert runs_of(deliver(client, connection, Body="hello")) == []  # cached, with `joiner`
    joiner.workflow.delete()  # its trigger goes with it
    event = deliver(client, connection, Body="join")
    assert runs_of(event) == [] and event.match_status == "no_match"
    make_trigger()
    assert len(runs_of(deliver(client, connection))) == 1
    Trigger.objects.all().delete()
    assert runs_of(deliver(client, connection)) == []


@pytest.mark.django_db(transaction=True)
def test_a_trigger_moved_to_another_workspaces_connection_stops_listening_here(
    client, connection, other_workspace, make_connection, make_trigger
):
    trigger = make_trigger()
    other = make_connection(workspace=other_workspace, name="bistro")
    assert len(runs_of(deliver(client, connection))) == 1
    assert runs_of(deliver(client, other)) == []
    Trigger.objects.filter(pk=trigger.pk).update(connection=other)  # no updated_at moved
    # The count of the connection's triggers changed on both sides: both see it at once.
    assert runs_of(deliver(client, connection)) == []
