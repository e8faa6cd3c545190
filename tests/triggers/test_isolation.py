"""Workspace isolation of webhook-driven lookups: a request signed with connection A's Auth
Token may only touch what connection A did (delivery tracking, gather continuation, reply
matching), never what connection B did, whether B is in another workspace or the same one."""

import pytest
import responses

from connections.services import connection_create
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.triggers.test_webhooks import fixture, signed_post
from triggers.models import MatchStatus, PhoneNumber, Trigger, TriggerEvent
from workflows.models import ReplyWait, Run, RunStatus, Step, StepRun, WaitingFor, Workflow
from workflows.services import run_create, run_execute_inline

TOKEN_B = "b" * 32
TOKEN_C = "c" * 32
OTHER_ACCOUNT = "AC" + "fedcba9876543210" * 2
SM = "SM" + "5" * 32


@pytest.fixture
def foreign(other_workspace):
    """Connection B, in another workspace, with its own account and token."""
    return connection_create(
        workspace=other_workspace, name="bistro-main", account_sid=OTHER_ACCOUNT, auth_token=TOKEN_B
    )


@pytest.fixture
def sibling(workspace):
    """Connection C, a second account of the same workspace as `connection`."""
    return connection_create(workspace=workspace, name="second", account_sid=ACCOUNT_SID, auth_token=TOKEN_C)


def _workflow(workspace, name, steps=()):
    workflow = Workflow.objects.create(workspace=workspace, name=name)
    for position, spec in enumerate(steps):
        step = Step(workflow=workflow, position=position, **spec)
        step.full_clean()
        step.save()
    return workflow


def _trigger(workspace, workflow, connection, kind, **values):
    trigger = Trigger(
        workspace=workspace,
        workflow=workflow,
        connection=connection,
        name=f"{kind}-{connection.pk}-{Trigger.objects.count()}",
        kind=kind,
        **values,
    )
    trigger.full_clean()
    trigger.save()
    return trigger


def _sent_step_run(workspace, connection, sid=SM):
    workflow = _workflow(workspace, f"sender-{connection.pk}")
    run = run_create(workflow=workflow, payload={}, enqueue=False)
    return StepRun.objects.create(
        run=run,
        sequence=1,
        step_name="send",
        kind="action",
        action="twilio/send-sms",
        status="succeeded",
        twilio_sid=sid,
        connection=connection,
    )


def _status(sid, status="delivered"):
    return {**fixture("message-status", "delivered"), "MessageSid": sid, "MessageStatus": status}


# --- delivery tracking ----------------------------------------------------------------------------
class TestDeliveryTracking:
    @pytest.mark.parametrize("owner", ["foreign", "sibling"])
    def test_a_callback_signed_by_a_carrying_bs_sid_leaves_b_alone(self, client, connection, owner, request):
        other = request.getfixturevalue(owner)
        token = TOKEN_B if owner == "foreign" else TOKEN_C
        theirs = _sent_step_run(other.workspace, other)
        response = signed_post(client, connection, "status", _status(SM, "undelivered"))
        assert response.status_code == 200
        theirs.refresh_from_db()
        assert (theirs.delivery_status, theirs.delivery_history) == ("", [])
        assert TriggerEvent.objects.get(connection=connection).match_status != MatchStatus.TRACKED
        # The owner's own callback is still believed.
        signed_post(client, other, "status", _status(SM, "delivered"), token=token)
        theirs.refresh_from_db()
        assert theirs.delivery_status == "delivered"

    def test_the_same_sid_on_two_connections_updates_only_the_receivers(self, client, connection, sibling):
        ours = _sent_step_run(connection.workspace, connection)
        theirs = _sent_step_run(sibling.workspace, sibling)
        signed_post(client, connection, "status", _status(SM, "failed"))
        ours.refresh_from_db()
        theirs.refresh_from_db()
        assert (ours.delivery_status, theirs.delivery_status) == ("failed", "")

    def test_a_row_without_a_recorded_connection_uses_its_steps_connection(self, client, connection, sibling):
        workflow = _workflow(
            connection.workspace,
            "legacy",
            [
                dict(
                    name="send",
                    action="twilio/send-sms",
                    connection=sibling,
                    inputs={"From": "+15017122661", "To": "+14155552671", "Body": "hi"},
                )
            ],
        )
        run = run_create(workflow=workflow, payload={}, enqueue=False)
        legacy = StepRun.objects.create(
            run=run, sequence=1, step_name="send", kind="action", status="succeeded", twilio_sid=SM
        )
        signed_post(client, connection, "status", _status(SM, "failed"))
        legacy.refresh_from_db()
        assert legacy.delivery_status == ""
        signed_post(client, sibling, "status", _status(SM, "delivered"), token=TOKEN_C)
        legacy.refresh_from_db()
        assert legacy.delivery_status == "delivered"

    def test_the_engine_records_the_connection_that_sent(self, connection, sibling, twilio):
        workflow = _workflow(
            connection.workspace,
            "send",
            [
                dict(
                    name="notify",
                    action="twilio/send-sms",
                    connection=sibling,
                    inputs={"From": "+15017122661", "To": "+14155552671", "Body": "hi"},
                )
            ],
        )
        twilio.add(
            responses.POST,
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            json={
                "sid": SM,
                "status": "queued",
                "to": "+14155552671",
                "from": "+15017122661",
                "body": "hi",
                "direction": "outbound-api",
                "price": None,
                "error_code": None,
            },
            status=201,
        )
        run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
        assert run.status == RunStatus.SUCCEEDED
        step_run = StepRun.objects.get(run=run, twilio_sid=SM)
        assert step_run.connection_id == sibling.pk


# --- gather -------------------------------------------------------------------------------------
class TestGather:
    def _gathering_run(self, client, conn, token):
        workflow = _workflow(
            conn.workspace,
            f"ivr-{conn.pk}",
            [
                dict(
                    name="pick",
                    kind="set_variables",
                    inputs={"variables": {"choice": "{{ trigger.gather.Digits }}"}},
                )
            ],
        )
        _trigger(
            conn.workspace,
            workflow,
            conn,
            "twilio/incoming-call",
            voice_answer={
                "action": "gather",
                "message": "Press 1",
                "num_digits": 1,
                "after_message": "Secret menu of Bistro",
            },
        )
        signed_post(client, conn, "voice", fixture("incoming-call", "inbound"), token=token)
        run = Run.objects.get(workflow=workflow)
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.REPLY)
        return run

    @pytest.mark.parametrize("owner", ["foreign", "sibling"])
    def test_a_foreign_run_id_gets_an_empty_response_and_changes_nothing(
        self, client, connection, owner, request
    ):
        other = request.getfixturevalue(owner)
        theirs = self._gathering_run(client, other, TOKEN_B if owner == "foreign" else TOKEN_C)
        path = f"/hooks/twilio/{connection.public_id}/voice/gather/{theirs.pk}"
        response = signed_post(client, connection, None, {"Digits": "1"}, path=path)
        assert response.status_code == 200
        body = response.content.decode()
        assert "Secret menu" not in body
        assert "<Say" not in body
        theirs.refresh_from_db()
        assert (theirs.status, theirs.waiting_for) == (RunStatus.WAITING, WaitingFor.REPLY)
        assert "gather" not in theirs.trigger_payload

    def test_an_unknown_run_id_gets_an_empty_response(self, client, connection):
        path = f"/hooks/twilio/{connection.public_id}/voice/gather/987654"
        response = signed_post(client, connection, None, {"Digits": "1"}, path=path)
        assert response.status_code == 200
        assert "<Say" not in response.content.decode()

    def test_a_manual_run_of_the_same_connection_is_not_continued(self, client, connection):
        workflow = _workflow(connection.workspace, "manual")
        run = run_create(workflow=workflow, payload={}, enqueue=False)
        Run.objects.filter(pk=run.pk).update(status=RunStatus.WAITING, waiting_for=WaitingFor.REPLY)
        path = f"/hooks/twilio/{connection.public_id}/voice/gather/{run.pk}"
        signed_post(client, connection, None, {"Digits": "1"}, path=path)
        run.refresh_from_db()
        assert run.status == RunStatus.WAITING

    def test_the_own_run_is_continued(self, client, connection):
        ours = self._gathering_run(client, connection, AUTH_TOKEN)
        path = f"/hooks/twilio/{connection.public_id}/voice/gather/{ours.pk}"
        response = signed_post(client, connection, None, {"Digits": "1"}, path=path)
        assert "Secret menu of Bistro" in response.content.decode()
        ours.refresh_from_db()
        assert ours.status == RunStatus.PENDING and ours.trigger_payload["gather"]["Digits"] == "1"


# --- wait for reply -------------------------------------------------------------------------------
SURVEY = [
    dict(
        name="ask",
        kind="wait_for_reply",
        inputs={"contact": "{{ trigger.From }}", "number": "{{ trigger.To }}", "timeout_seconds": 3600},
    ),
    dict(name="done", kind="end", inputs={"output": {"answer": "{{ steps.ask.Body }}"}}),
]


class TestWaitForReply:
    def _waiting_run(self, client, conn, token):
        workflow = _workflow(conn.workspace, f"survey-{conn.pk}", SURVEY)
        _trigger(conn.workspace, workflow, conn, "twilio/incoming-sms", keywords="SURVEY")
        signed_post(
            client,
            conn,
            "messages",
            {**fixture("incoming-sms", "plain"), "Body": "survey", "MessageSid": "SM" + "1" * 32},
            token=token,
        )
        run = run_execute_inline(Run.objects.get(workflow=workflow).pk)
        assert (run.status, run.waiting_for) == (RunStatus.WAITING, WaitingFor.REPLY)
        assert ReplyWait.objects.get(run=run).connection_id == conn.pk
        return run

    @pytest.mark.parametrize("owner", ["foreign", "sibling"])
    def test_a_message_signed_by_a_does_not_answer_bs_wait(self, client, connection, owner, request):
        other = request.getfixturevalue(owner)
        token = TOKEN_B if owner == "foreign" else TOKEN_C
        theirs = self._waiting_run(client, other, token)
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        theirs.refresh_from_db()
        assert theirs.status == RunStatus.WAITING
        assert ReplyWait.objects.get(run=theirs).status == "open"
        assert TriggerEvent.objects.get(connection=connection).match_status != MatchStatus.RESUMED
        # B's own connection still delivers the reply.
        signed_post(client, other, "messages", fixture("incoming-sms", "plain"), token=token)
        assert ReplyWait.objects.get(run=theirs).status == "replied"

    def test_a_run_not_started_by_a_trigger_waits_on_the_connection_owning_the_number(
        self, client, connection, sibling
    ):
        PhoneNumber.objects.create(connection=sibling, sid="PN" + "1" * 32, phone_number="+15017122661")
        workflow = _workflow(connection.workspace, "manual-survey", SURVEY)
        run = run_execute_inline(
            run_create(
                workflow=workflow, payload={"From": "+14155550123", "To": "+15017122661"}, enqueue=False
            ).pk
        )
        assert ReplyWait.objects.get(run=run).connection_id == sibling.pk
        signed_post(client, connection, "messages", fixture("incoming-sms", "plain"))
        assert ReplyWait.objects.get(run=run).status == "open"
        signed_post(client, sibling, "messages", fixture("incoming-sms", "plain"), token=TOKEN_C)
        assert ReplyWait.objects.get(run=run).status == "replied"

    def test_when_no_connection_can_be_told_the_step_fails_instead_of_waiting_forever(
        self, connection, sibling
    ):
        workflow = _workflow(connection.workspace, "ambiguous", SURVEY)
        run = run_execute_inline(
            run_create(
                workflow=workflow, payload={"From": "+14155550123", "To": "+15017122661"}, enqueue=False
            ).pk
        )
        assert run.status == RunStatus.FAILED
        assert "cannot tell which connection" in run.error_message
        assert not ReplyWait.objects.exists()
