"""Seeing what happened: honest children (for_each / run_workflow), retrying failed children,
the runs list (top-level by default, recipient and error columns, live refresh), and the
replay confirmation (issue 11)."""

from __future__ import annotations

import pytest
import responses
from django.urls import reverse

from tests.conftest import ACCOUNT_SID
from workflows.models import Run, RunStatus, StepRun, StepStatus
from workflows.services import run_children_retry, run_create, run_execute_inline
from workspaces.models import Role

RUNS = reverse("admin:workflows_run_changelist")
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
FROM = "+15017122661"
TO = "+14155552671"


def run_url(run):
    return reverse("admin:workflows_run_change", args=[run.pk])


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture
def operator_client(client, make_staff, workspace):
    client.force_login(make_staff("otto", workspace, Role.OPERATOR))
    return client


def message(sid, to):
    return {
        "sid": sid,
        "status": "queued",
        "to": to,
        "from": FROM,
        "body": "Hi",
        "direction": "outbound-api",
        "price": None,
        "error_code": None,
    }


@pytest.fixture
def bulk(make_workflow):
    """A for_each over five recipients whose child sends an SMS to {{ item.phone }}."""

    def make(on_error="fail", after=True):
        make_workflow(
            name="per_item",
            steps=[
                dict(
                    name="notify",
                    action="twilio/send-sms",
                    inputs={"From": FROM, "To": "{{ item.phone }}", "Body": "Hi {{ item.name }}"},
                    max_retries=0,
                )
            ],
        )
        steps = [
            dict(
                name="each",
                kind="for_each",
                on_error=on_error,
                inputs={"items": "{{ trigger.people }}", "workflow": "per_item"},
            )
        ]
        if after:
            steps.append(dict(name="after", kind="set_variables", inputs={"variables": {"done": "yes"}}))
        return make_workflow(name="bulk", steps=steps)

    return make


PEOPLE = [{"name": f"p{i}", "phone": f"+1415555000{i}"} for i in range(5)]


def run_bulk(workflow, twilio, *, failing=(3, 4)):
    """Run the parent and its five children; children `failing` get a 400 from Twilio."""
    for i, person in enumerate(PEOPLE):
        if i in failing:
            twilio.add(
                responses.POST,
                MESSAGES,
                status=400,
                json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400},
            )
        else:
            twilio.add(
                responses.POST, MESSAGES, status=201, json=message("SM" + f"{i}" * 32, person["phone"])
            )
    parent = run_create(workflow=workflow, payload={"people": PEOPLE}, enqueue=False)
    parent = run_execute_inline(parent.pk)
    assert parent.status == RunStatus.WAITING
    for child in Run.objects.filter(parent=parent).order_by("id"):
        run_execute_inline(child.pk)
    return run_execute_inline(parent.pk)


class TestForEachIsHonest:
    def test_failed_children_fail_the_step_and_the_run(self, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio)
        assert parent.status == RunStatus.FAILED
        assert parent.error_code == "CHILD_FAILED"
        assert "3 of 5 child runs succeeded, 2 failed" in parent.error_message
        step = StepRun.objects.get(run=parent, step_name="each")
        assert step.status == StepStatus.FAILED
        assert step.output["succeeded"] == 3 and step.output["failed"] == 2
        assert "done" not in parent.context["vars"]

    def test_continue_goes_on_with_the_counts(self, bulk, twilio):
        parent = run_bulk(bulk("continue"), twilio)
        assert parent.status == RunStatus.SUCCEEDED
        assert parent.context["vars"]["done"] == "yes"
        counts = parent.context["steps"]["each"]
        assert (counts["succeeded"], counts["failed"], counts["status"]) == (3, 2, "failed")
        assert counts["error"]["code"] == "CHILD_FAILED"
        assert StepRun.objects.get(run=parent, step_name="each").status == StepStatus.FAILED

    def test_all_children_succeeding_is_still_green(self, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio, failing=())
        assert parent.status == RunStatus.SUCCEEDED
        assert StepRun.objects.get(run=parent, step_name="each").status == StepStatus.SUCCEEDED

    def test_a_pass_dying_after_the_decision_does_not_start_children_again(self, bulk, twilio):
        from workflows.engine import run_execute

        parent = run_bulk(bulk("continue"), twilio)
        # Rewind the cursor as if the pass died right after recording the failed step.
        Run.objects.filter(pk=parent.pk).update(status=RunStatus.PENDING, current_step="each", sequence=0)
        run_execute(parent.pk)
        parent.refresh_from_db()
        assert parent.children.count() == 5
        assert parent.status == RunStatus.SUCCEEDED

    def test_a_failed_sub_workflow_follows_on_error(self, make_workflow):
        make_workflow(
            name="child", steps=[dict(name="bad", kind="end", inputs={"status": "failed", "error": "nope"})]
        )
        parent = make_workflow(
            name="parent",
            steps=[
                dict(name="call", kind="run_workflow", on_error="continue", inputs={"workflow": "child"}),
                dict(name="after", kind="set_variables", inputs={"variables": {"went_on": "yes"}}),
            ],
        )
        run = run_execute_inline(run_create(workflow=parent, payload={}, enqueue=False).pk)
        run_execute_inline(run.children.get().pk)
        run = run_execute_inline(run.pk)
        assert run.status == RunStatus.SUCCEEDED and run.context["vars"]["went_on"] == "yes"
        assert run.context["steps"]["call"]["status"] == "failed"


class TestRetryFailedChildren:
    def test_retry_replays_each_failed_child_with_its_own_item(self, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio)
        done = run_children_retry(run=parent)
        assert len(done.runs) == 2 and not done.unknown
        failed = list(parent.children.filter(status=RunStatus.FAILED).order_by("id"))
        assert [r.replay_of_id for r in done.runs] == [c.pk for c in failed]
        assert [r.context["item"] for r in done.runs] == [PEOPLE[3], PEOPLE[4]]
        assert all(r.source == "retry" for r in done.runs)
        # A second retry does not retry them again.
        again = run_children_retry(run=parent)
        assert not again.runs and again.already == 2

    def test_a_child_whose_send_outcome_is_unknown_is_not_resent(self, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio)
        unsure = parent.children.filter(status=RunStatus.FAILED).order_by("id").first()
        StepRun.objects.filter(run=unsure).update(status=StepStatus.UNKNOWN)
        done = run_children_retry(run=parent)
        assert [r.pk for r in done.unknown] == [unsure.pk]
        assert len(done.runs) == 1
        assert not Run.objects.filter(replay_of=unsure).exists()

    def test_admin_action_asks_then_retries(self, operator_client, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio)
        page = operator_client.get(run_url(parent))
        html = text(page)
        assert "Retry failed children (2)" in html
        assert "3 sent, 2 failed" in html and "tf-failed" in html
        data = {
            "action": "retry_failed_children",
            "_selected_action": [parent.pk],
            "index": "0",
            "_return_to_run": "1",
        }
        ask = operator_client.post(RUNS, data)
        assert ask.status_code == 200 and "Retry 2 failed child runs" in text(ask)
        assert not Run.objects.filter(source="retry").exists()
        done = operator_client.post(RUNS, {**data, "confirm": "yes"})
        assert done.status_code == 302 and done.url == run_url(parent)
        assert Run.objects.filter(source="retry").count() == 2
        assert "Failed children retried as" in text(operator_client.get(run_url(parent)))


class TestChildRunPage:
    def test_a_child_shows_its_own_item_and_recipient(self, superuser_client, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio)
        child = parent.children.order_by("id").first()
        page = text(superuser_client.get(run_url(child)))
        assert "Item #1 of the parent&#x27;s list" in page or "Item #1 of the parent's list" in page
        assert PEOPLE[0]["phone"] in page
        assert "The parent run&#x27;s trigger payload" in page or "The parent run's trigger payload" in page


class TestRunsList:
    def test_top_level_only_by_default_children_one_click_away(self, superuser_client, bulk, twilio):
        parent = run_bulk(bulk("fail"), twilio)
        page = superuser_client.get(RUNS)
        assert [r.pk for r in page.context["cl"].result_list] == [parent.pk]
        children = superuser_client.get(RUNS, {"level": "children"})
        assert len(children.context["cl"].result_list) == 5
        assert len(superuser_client.get(RUNS, {"level": "all"}).context["cl"].result_list) == 6
        # The parent's link to its children shows them whatever the level filter says.
        own = superuser_client.get(RUNS, {"parent__id__exact": parent.pk})
        assert len(own.context["cl"].result_list) == 5

    def test_recipient_and_error_columns(self, superuser_client, bulk, twilio):
        run_bulk(bulk("fail"), twilio)
        html = text(superuser_client.get(RUNS, {"level": "children"}))
        assert PEOPLE[0]["phone"] in html and PEOPLE[4]["phone"] in html
        assert "VALIDATION_ERROR" in html and 'class="tf-error"' in html

    def test_refreshes_only_while_a_listed_run_is_live(self, superuser_client, make_workflow):
        workflow = make_workflow("flow", [dict(name="bye", kind="end", inputs={})])
        live = run_create(workflow=workflow, payload={}, enqueue=False)
        page = superuser_client.get(RUNS)
        assert page.context["runs_live"] and 'name="tf-refresh"' in text(page)
        Run.objects.filter(pk=live.pk).update(status=RunStatus.SUCCEEDED)
        page = superuser_client.get(RUNS)
        assert not page.context["runs_live"] and 'name="tf-refresh"' not in text(page)


class TestReplayAsksFirst:
    def _sent(self, make_workflow, twilio):
        workflow = make_workflow(
            "flow",
            [
                dict(
                    name="notify",
                    action="twilio/send-sms",
                    inputs={"From": FROM, "To": "{{ trigger.To }}", "Body": "Hi"},
                )
            ],
        )
        twilio.add(responses.POST, MESSAGES, status=201, json=message("SM" + "a" * 32, TO))
        return run_execute_inline(run_create(workflow=workflow, payload={"To": TO}, enqueue=False).pk)

    def test_a_run_that_sent_asks_before_replaying(self, operator_client, make_workflow, twilio):
        run = self._sent(make_workflow, twilio)
        data = {"action": "replay_runs", "_selected_action": [run.pk], "index": "0"}
        ask = operator_client.post(RUNS, data)
        assert ask.status_code == 200
        assert f"will send 1 SMS to {TO} again" in text(ask)
        assert not Run.objects.filter(replay_of=run).exists()
        done = operator_client.post(RUNS, {**data, "confirm": "yes"})
        replay = Run.objects.get(replay_of=run)
        assert done.status_code == 302 and done.url == run_url(replay)

    def test_bulk_replay_says_how_many_sends(self, operator_client, make_workflow, twilio):
        first = self._sent(make_workflow, twilio)
        twilio.add(responses.POST, MESSAGES, status=201, json=message("SM" + "b" * 32, TO))
        second = run_execute_inline(run_create(workflow=first.workflow, payload={"To": TO}, enqueue=False).pk)
        ask = operator_client.post(
            RUNS, {"action": "replay_runs", "_selected_action": [first.pk, second.pk], "index": "0"}
        )
        assert "these 2 runs will send 2 SMS" in text(ask) and "2 sends in all" in text(ask)

    def test_a_run_that_sent_nothing_replays_at_once(self, operator_client, make_workflow):
        workflow = make_workflow("flow", [dict(name="bye", kind="end", inputs={})])
        run = run_execute_inline(run_create(workflow=workflow, payload={}, enqueue=False).pk)
        done = operator_client.post(
            RUNS, {"action": "replay_runs", "_selected_action": [run.pk], "index": "0"}
        )
        assert done.status_code == 302 and Run.objects.filter(replay_of=run).exists()
